"""`yikatong serve --with-admin` (what `make run` starts): the admin app runs in a process of its
own, so the portal keeps answering citizens while the admin is busy (here: frozen outright)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRETS

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the child")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, deadline: float) -> httpx.Response:
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_with_admin_serves_the_admin_from_its_own_process(tmp_path, batch_db_url, public_db_url):
    port, admin_port = _free_port(), _free_port()
    env = {**os.environ, **TEST_SECRETS, "YIKATONG_DATA_DIR": str(tmp_path / "data"),
           "BATCH_DATABASE_URL": batch_db_url, "PUBLIC_DATABASE_URL": public_db_url,
           "SEARCH_INDEX_PREFIX": "serve_", "YIKATONG_DEMO": "0"}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), "--with-admin",
                               "--admin-port", str(admin_port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    admin_pid = None
    try:
        deadline = time.monotonic() + 90
        assert _wait_for(f"http://127.0.0.1:{port}/healthz", deadline).status_code in (200, 503)
        assert _wait_for(f"http://127.0.0.1:{admin_port}/login", deadline).status_code == 200

        admins = [pid for pid in _children(server.pid)
                  if b"admin\0serve" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(admins) == 1, "the admin app runs in one child process"
        admin_pid = admins[0]

        os.kill(admin_pid, signal.SIGSTOP)  # the admin process stalls completely
        try:
            with pytest.raises(httpx.TimeoutException):
                httpx.get(f"http://127.0.0.1:{admin_port}/login", timeout=1)
            started = time.monotonic()
            portal = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert portal.status_code in (200, 503) and "status" in portal.json()
            assert time.monotonic() - started < 10
        finally:
            os.kill(admin_pid, signal.SIGCONT)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    if admin_pid is not None:  # stopped with the portal
        deadline = time.monotonic() + 20
        while Path(f"/proc/{admin_pid}").exists() and b"Z" not in _state(admin_pid):
            assert time.monotonic() < deadline, "the admin process outlived `yikatong serve`"
            time.sleep(0.2)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return b"Z"
