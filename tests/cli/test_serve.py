"""`yikatong serve`: the shared socket keeps TCP_NODELAY on every connection, and SIGHUP replaces
the workers without refusing or dropping a request."""

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

from cli.serve import listening_socket

ROOT = Path(__file__).resolve().parents[2]


def test_every_accepted_connection_has_tcp_nodelay() -> None:
    server = listening_socket("127.0.0.1", 0)
    try:
        assert server.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only for these
        with socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                client.sendall(b"x")  # the socket listened before anyone called listen() again
                assert accepted.recv(1) == b"x"
    finally:
        server.close()


def _workers(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.add(int(child))
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_sighup_replaces_the_workers_without_dropping_a_request(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "YIKATONG_DEMO": "1", "YIKATONG_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "PUBLIC_DATABASE_URL", "BATCH_DATABASE_URL", "MEILI_URL", "REDIS_URL"):
        env.pop(name, None)
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", "1"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not come up"
                    time.sleep(0.2)
            before = _workers(server.pid)
            assert len(before) == 1
            server.send_signal(signal.SIGHUP)
            answered = retried = 0
            deadline = time.monotonic() + 90
            while not (_workers(server.pid) - before and not _workers(server.pid) & before):
                assert time.monotonic() < deadline, "the workers were not replaced"
                # a new connection each time (as a reverse proxy opens them): a refused connection
                # raises. An old worker that accepted a connection just as it was told to stop may
                # close it unanswered (uvicorn's shutdown); a proxy retries such an idempotent GET
                # on another connection (nginx proxy_next_upstream), and so does this client, once.
                try:
                    response = client.get("/policies.json", headers={"Connection": "close"})
                except httpx.RemoteProtocolError:
                    retried += 1
                    response = client.get("/policies.json", headers={"Connection": "close"})
                assert response.status_code in (200, 503)
                answered += 1
            assert answered > 0 and retried <= 2, (answered, retried)
            assert client.get("/healthz").status_code in (200, 503)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
