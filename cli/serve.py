"""`yikatong serve`: the public app (portal, JSON API, kiosk, /wechat), optionally with admin;
`yikatong admin serve`: the admin app alone.

Lives in cli/ (not portal/) because the apps are assembled in :mod:`cli.apps` and
`--with-admin` starts the internal app too; the public packages may not import admin/.

`--with-admin` (what `make run` uses) runs the admin app in its own process (`yikatong admin
serve`, a child of this one, stopped with it): the portal and the admin never share an event loop
or a GIL, so a heavy roster import cannot stall citizens' pages.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from types import FrameType

import uvicorn

from admin.batches.imports import cleanup_staged
from cli.apps import admin_app
from core import migrate
from core.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the public portal (default http://127.0.0.1:8000)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (public app only)")
    serve.add_argument("--with-admin", action="store_true",
                       help="also serve the admin app on --admin-port, in its own process (demo convenience)")
    serve.add_argument("--admin-port", type=int, default=8001)
    serve.set_defaults(handler=_serve)


def register_admin_serve(admin_actions: argparse._SubParsersAction) -> None:
    """`yikatong admin serve`, beside the other `yikatong admin` actions (admin/cli.py)."""
    serve = admin_actions.add_parser("serve", help="启动内部管理端（默认 http://127.0.0.1:8001）")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.set_defaults(handler=_admin_serve)


def _serve(args: argparse.Namespace) -> int:
    config = load_config()  # fails early, with a clear message, on missing secrets
    migrate.upgrade(config.public_database_url, "public")
    if not args.with_admin:
        uvicorn.run("cli.apps:public_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, proxy_headers=True, log_level="info")
        return 0

    # The admin app in a process of its own (same environment, so the same config).
    admin = subprocess.Popen([sys.executable, "-m", "cli", "admin", "serve",
                              "--host", args.host, "--port", str(args.admin_port)])
    print(f"公开门户 http://{args.host}:{args.port}/   内部管理 http://{args.host}:{args.admin_port}/")
    # uvicorn re-raises SIGTERM after its graceful shutdown: make that an exit that runs `finally`.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run("cli.apps:public_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, proxy_headers=True, log_level="info")
    finally:
        admin.terminate()
        try:
            admin.wait(timeout=15)
        except subprocess.TimeoutExpired:
            admin.kill()
            admin.wait()
    return 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _admin_serve(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    removed = cleanup_staged(config)
    if removed:
        print(f"已清理放弃超过7天的暂存导入 {removed} 个")
    print(f"内部管理端 http://{args.host}:{args.port}/（仅限内网访问）")
    uvicorn.run(admin_app(config), host=args.host, port=args.port, log_level="info")
    return 0
