"""`yikatong serve`: the public app (portal, JSON API, kiosk, /wechat), optionally with admin;
`yikatong admin serve`: the admin app alone.

With `--with-admin` (what `make run` starts) the outbox sync and the arrival SMS sender run
beside the two servers, in a background thread of the same process (:mod:`cli.background`).

Lives in cli/ (not portal/) because the apps are assembled in :mod:`cli.apps` and
`--with-admin` starts the internal app too; the public packages may not import admin/.

The public app is served as production runs it (docs/deploy.md): a supervisor process holds one
listening socket and ``--workers N`` worker processes accept from it (uvicorn's
``Multiprocess``). The socket is made here, not by uvicorn: uvicorn's own shared socket is
created with protocol 0, so asyncio never sets ``TCP_NODELAY`` on its connections and Nagle's
algorithm meets the client's delayed ACK — about 40 ms added to every response sent in two
writes. Ours is created as a TCP socket with ``TCP_NODELAY`` set (Linux hands it on to every
accepted connection).

Graceful restart: ``kill -HUP <supervisor pid>`` starts a new worker, waits until it serves,
then stops one old worker (which finishes its requests in flight), one worker at a time; the
listening socket stays open throughout, so no connection is refused. ``TTIN``/``TTOU`` add or
remove a worker; ``TERM``/``INT`` stop, letting requests in flight finish (up to
:data:`GRACEFUL_SECONDS`).

`--with-admin` (what `make run` uses) runs the admin app in its own process (`yikatong admin
serve`, a child of this one, stopped with it): the portal and the admin never share an event loop
or a GIL, so a heavy roster import cannot stall citizens' pages.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from admin.batches.imports import cleanup_staged
from cli import background
from cli.apps import admin_app
from core import migrate
from core.config import load_config

GRACEFUL_SECONDS = 30
HEALTHCHECK_SECONDS = 30
BACKLOG = 2048


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the public portal (default http://127.0.0.1:8000)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (public app only; one or two per core, see docs/deploy.md)")
    serve.add_argument("--access-log", action="store_true",
                       help="log every request (off by default: the reverse proxy logs access)")
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
        serve_public(args.host, args.port, workers=args.workers, access_log=args.access_log)
        return 0

    # The admin app in a process of its own (same environment, so the same config), and beside
    # the servers the outbox sync, complaints in and arrival SMS out (cli/background.py).
    admin = subprocess.Popen([sys.executable, "-m", "cli", "admin", "serve",
                              "--host", args.host, "--port", str(args.admin_port)])
    print(f"内部管理 http://{args.host}:{args.admin_port}/")
    print("后台同步已启动：内部管理端的变更（如公开发放结果）几秒内出现在公开门户，到账短信进入沙箱")
    loop = background.start(config)
    try:
        # the supervisor returns after a graceful stop (TERM/INT), then the admin is stopped too
        serve_public(args.host, args.port, workers=args.workers, access_log=args.access_log)
    finally:
        loop.stop()
        admin.terminate()
        try:
            admin.wait(timeout=15)
        except subprocess.TimeoutExpired:
            admin.kill()
            admin.wait()
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """The shared listening socket: TCP, ``TCP_NODELAY`` (inherited by accepted connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    # listening from now on: connections made while the workers start wait in the backlog
    # instead of being refused
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def serve_public(host: str, port: int, *, workers: int = 1, access_log: bool = False,
                 app: str = "cli.apps:public_app") -> None:
    """Serve the public app (an import string of a factory) with ``workers`` processes until
    stopped; see the module docstring for the socket and the signals."""
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=max(1, workers),
                            proxy_headers=True, log_level="info", access_log=access_log,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS,
                            # a worker saturated by a burst (or starved by a busy machine) answers
                            # the supervisor's ping late; 5 s (uvicorn's default) killed busy workers
                            timeout_worker_healthcheck=HEALTHCHECK_SECONDS)
    sock = listening_socket(host, port)
    print(f"公开门户 http://{host}:{sock.getsockname()[1]}/  （{config.workers} 个工作进程，"
          f"平滑重启：kill -HUP {os.getpid()}）")
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _admin_serve(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    removed = cleanup_staged(config)
    if removed:
        print(f"已清理放弃超过7天的暂存导入 {removed} 个")
    print(f"内部管理端 http://{args.host}:{args.port}/（仅限内网访问）")
    uvicorn.run(admin_app(config), host=args.host, port=args.port, log_level="info")
    return 0
