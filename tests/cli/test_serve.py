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

from cli import serve
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(tmp_path: Path, port: int, *, workers: int) -> subprocess.Popen:
    env = {**os.environ, "YIKATONG_DEMO": "1", "YIKATONG_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "PUBLIC_DATABASE_URL", "BATCH_DATABASE_URL", "MEILI_URL", "REDIS_URL"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_up(port: int) -> None:
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        while True:
            try:
                client.get("/healthz")
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_sighup_replaces_the_workers_without_dropping_a_request(tmp_path) -> None:
    port = free_port()
    server = start_server(tmp_path, port, workers=1)
    try:
        wait_up(port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
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
        stop_server(server)


def test_a_port_in_use_is_refused_not_shared() -> None:
    """The worker sockets share their port (SO_REUSEPORT) only among themselves: a second server
    on a port someone listens on fails as before."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve.free_port("127.0.0.1", taken.getsockname()[1])


def _connections(pid: int) -> int:
    """Established TCP connections a process holds (its socket fds minus its listening ones)."""
    inodes = {link.split("[")[1].rstrip("]") for fd in Path(f"/proc/{pid}/fd").iterdir()
              if (link := os.readlink(fd)).startswith("socket:[")}
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "01":  # ESTABLISHED
                established.add(fields[9])
    return len(inodes & established)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_two_workers_share_a_burst_of_keep_alive_connections(tmp_path) -> None:
    """50 connections opened at once (as a load balancer or a payment-day burst does) are spread
    over both workers; with one shared socket the first worker to wake took nearly all of them."""
    port = free_port()
    server = start_server(tmp_path, port, workers=2)
    clients: list[socket.socket] = []
    try:
        wait_up(port)
        deadline = time.monotonic() + 90
        while len(_workers(server.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        # all 50 connect before any is served: the kernel completes them into the backlog at once
        clients = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(50)]
        for conn in clients:  # then one keep-alive request on each
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for conn in clients:
            assert conn.recv(65536).startswith(b"HTTP/1.1 ")
        held = sorted(_connections(pid) for pid in _workers(server.pid))
        assert sum(held) == 50
        assert held[0] >= 10, f"one worker holds {held[1]} of 50 connections, the other {held[0]}"
    finally:
        for client in clients:
            client.close()
        stop_server(server)
