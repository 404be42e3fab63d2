"""`yikatong serve`: the public app (portal, JSON API, kiosk, WeChat bot)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the public portal (default http://127.0.0.1:8000)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cli import load_config

    from core import migrate

    config = load_config()  # fail early, with a clear message, on missing secrets
    migrate.upgrade(config.public_database_url, "public")
    uvicorn.run("portal.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, proxy_headers=True, log_level="info")
    return 0
