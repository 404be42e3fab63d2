"""`yikatong serve`: the public app (portal, JSON API, kiosk, /wechat), optionally with admin;
`yikatong admin serve`: the admin app alone.

With `--with-admin` (what `make run` starts) the outbox sync and the arrival SMS sender run
beside the two servers, in a background thread of the same process (:mod:`cli.background`).

Lives in cli/ (not portal/) because the apps are assembled in :mod:`cli.apps` and
`--with-admin` starts the internal app too; the public packages may not import admin/.

The public app is served as production runs it (docs/deploy.md): a supervisor process holds the
listening sockets and ``--workers N`` worker processes accept from them (uvicorn's
``Multiprocess``, with one socket per worker slot: :class:`WorkerSlots`). The sockets are made
here, not by uvicorn: uvicorn's own shared socket is created with protocol 0, so asyncio never
sets ``TCP_NODELAY`` on its connections and Nagle's algorithm meets the client's delayed ACK —
about 40 ms added to every response sent in two writes. Ours are TCP sockets with ``TCP_NODELAY``
set (Linux hands it on to every accepted connection).

One socket per worker slot (``SO_REUSEPORT``, all bound to the same port): with one shared
socket every worker wakes for a new connection and asyncio's accept loop takes all that are
waiting, so whichever worker wakes first takes a burst of keep-alive connections — measured at 1M
lines, one of two workers did 80% of the work and two workers served no more than one. With a
socket per slot the kernel spreads new connections evenly over the slots. The supervisor keeps
every slot's socket open, so a connection that arrives while a slot's worker is being replaced
waits in that socket's backlog for the new worker. Before the group is made, the port is bound
once without ``SO_REUSEPORT``, so a second server started on a port in use still fails ("address
already in use") instead of silently sharing it.

Graceful restart: ``kill -HUP <supervisor pid>`` starts a new worker, waits until it serves,
then stops one old worker (which finishes its requests in flight), one worker at a time; the
listening sockets stay open throughout, so no connection is refused. ``TTIN``/``TTOU`` add or
remove a worker; ``TERM``/``INT`` stop, letting requests in flight finish (up to
:data:`GRACEFUL_SECONDS`).

`--with-admin` (what `make run` uses) runs the admin app in its own process (`yikatong admin
serve`, a child of this one, stopped with it): the portal and the admin never share an event loop
or a GIL, so a heavy roster import cannot stall citizens' pages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process
from uvicorn.server import STARTUP_FAILURE

from admin.batches.imports import cleanup_staged
from cli import background
from cli.apps import admin_app
from core import migrate
from core.config import load_config

GRACEFUL_SECONDS = 30
ACCEPT_GRACE_SECONDS = 0.5
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


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket: TCP, ``TCP_NODELAY`` (inherited by accepted connections), and with
    ``reuse_port`` one of a ``SO_REUSEPORT`` group on that port (one per worker slot)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    # listening from now on: connections made while the workers start wait in the backlog
    # instead of being refused
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def free_port(host: str, port: int) -> int:
    """``port`` (or a free one for 0) after checking that nobody listens on it: bound once without
    ``SO_REUSEPORT``, so a port in use fails here as it would without a socket group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return int(probe.getsockname()[1])


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping in two steps: it stops accepting, gives the connections it has
    just accepted :data:`ACCEPT_GRACE_SECONDS` to send their request, and only then closes the
    idle ones (uvicorn's shutdown). uvicorn closes idle connections at once, and a connection
    accepted a moment before the stop whose request bytes had not been read yet was closed
    unanswered (a reset when the bytes had arrived) — measured: 6 of ≈ 14,600 fresh-connection
    requests across 15 graceful restarts on a loaded machine; with the grace, none of ≈ 84,000
    across 50 restarts with one and two workers. Requests in flight are finished
    as before (up to :data:`GRACEFUL_SECONDS`); new connections wait in the slot's backlog for
    the worker that replaces this one."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting (uvicorn's shutdown repeats it, harmlessly)
        await asyncio.sleep(ACCEPT_GRACE_SECONDS)
        await super().shutdown(sockets)


class WorkerProcess(Process):
    """A worker slot's process, serving with :class:`DrainingServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class WorkerSlots(Multiprocess):
    """uvicorn's supervisor with one ``SO_REUSEPORT`` listening socket per worker slot (see the
    module docstring): worker *i* — and its replacement on a restart or after a crash — accepts
    only from socket *i*, which the supervisor keeps open. The four methods that start a worker
    are uvicorn's own (0.54), each handing the slot's socket instead of the shared list."""

    def __init__(self, config: uvicorn.Config, host: str, port: int) -> None:
        self.host, self.port = host, free_port(host, port)
        self.slots = [listening_socket(host, self.port, reuse_port=True) for _ in range(config.workers)]
        super().__init__(config, sockets=self.slots)

    def _start(self, idx: int) -> WorkerProcess:
        process = WorkerProcess(self.config, [self.slots[idx]])
        process.start()
        return process

    def init_processes(self) -> None:
        for idx in range(self.processes_num):
            self.processes.append(self._start(idx))

    def restart_all(self) -> None:
        for idx, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._start(idx)
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                return  # keep the old worker; the restart is abandoned, as uvicorn does
            old_process.terminate()
            old_process.join()
            self.processes[idx] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # broken app or socket: would fail the same way again
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            self.processes[idx] = self._start(idx)

    def handle_ttin(self) -> None:
        self.slots.append(listening_socket(self.host, self.port, reuse_port=True))
        self.processes_num += 1
        self.processes.append(self._start(len(self.processes)))

    def handle_ttou(self) -> None:
        if self.processes_num <= 1:
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        self.slots.pop().close()

    def close(self) -> None:
        for sock in self.slots:
            sock.close()


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
    supervisor = WorkerSlots(config, host, port)
    print(f"公开门户 http://{host}:{supervisor.port}/  （{config.workers} 个工作进程，"
          f"平滑重启：kill -HUP {os.getpid()}）")
    try:
        supervisor.run()
    finally:
        supervisor.close()


def _admin_serve(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    removed = cleanup_staged(config)
    if removed:
        print(f"已清理放弃超过7天的暂存导入 {removed} 个")
    print(f"内部管理端 http://{args.host}:{args.port}/（仅限内网访问）")
    uvicorn.run(admin_app(config), host=args.host, port=args.port, log_level="info")
    return 0
