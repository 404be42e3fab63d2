"""`yikatong serve`: the public app (portal, JSON API, kiosk, /wechat), optionally with admin;
`yikatong admin serve`: the admin app alone.

With `--with-admin` (what `make run` starts) the outbox sync and the arrival SMS sender run
beside the two servers, in a background thread of the same process (:mod:`cli.background`).

Lives in cli/ (not portal/) because the apps are assembled in :mod:`cli.apps` and
`--with-admin` starts the internal app too; the public packages may not import admin/.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from admin.batches.imports import cleanup_staged
from cli import background
from cli.apps import admin_app, public_app
from core import migrate
from core.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the public portal (default http://127.0.0.1:8000)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (public app only)")
    serve.add_argument("--with-admin", action="store_true",
                       help="also serve the admin app on --admin-port (demo convenience)")
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

    migrate.upgrade(config.batch_database_url, "batch")
    servers = [
        uvicorn.Server(uvicorn.Config(public_app(config), host=args.host, port=args.port, log_level="info")),
        uvicorn.Server(uvicorn.Config(admin_app(config), host=args.host, port=args.admin_port,
                                      log_level="info")),
    ]
    print(f"公开门户 http://{args.host}:{args.port}/   内部管理 http://{args.host}:{args.admin_port}/")
    print("后台同步已启动：内部管理端的变更（如公开发放结果）几秒内出现在公开门户，到账短信进入沙箱")

    async def run_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    loop = background.start(config)
    try:
        asyncio.run(run_all())
    finally:
        loop.stop()
    return 0


def _admin_serve(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    removed = cleanup_staged(config)
    if removed:
        print(f"已清理放弃超过7天的暂存导入 {removed} 个")
    print(f"内部管理端 http://{args.host}:{args.port}/（仅限内网访问）")
    uvicorn.run(admin_app(config), host=args.host, port=args.port, log_level="info")
    return 0
