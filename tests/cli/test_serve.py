"""`yikatong serve`: the shared socket keeps TCP_NODELAY on every connection, and SIGHUP replaces
the workers without refusing or dropping a request."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from cli import serve
from cli.serve import DrainingServer, listening_socket

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
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that just ended
            continue
        for child in children:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:  # a worker that exited (replaced) between the two reads
                continue
            if b"spawn_main" in cmdline:
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
            answered = 0
            deadline = time.monotonic() + 90
            while not (_workers(server.pid) - before and not _workers(server.pid) & before):
                assert time.monotonic() < deadline, "the workers were not replaced"
                # a new connection each time (as a reverse proxy opens them): a refused
                # connection, or one closed or reset unanswered by the worker being stopped, raises
                response = client.get("/policies.json", headers={"Connection": "close"})
                assert response.status_code in (200, 503)
                answered += 1
            assert answered > 0
            assert client.get("/healthz").status_code in (200, 503)
    finally:
        stop_server(server)


async def _hello(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_stopping_worker_answers_the_connection_it_had_just_accepted() -> None:
    """The race behind a dropped request on a graceful restart, made slow: the worker has accepted
    a connection, is told to stop, and the request arrives a moment later. uvicorn's own server
    closes such an idle connection at once; a client (or nginx) then sees it closed or reset
    unanswered."""
    sock = listening_socket("127.0.0.1", 0)
    server = DrainingServer(uvicorn.Config(_hello, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    with socket.create_connection(sock.getsockname(), timeout=30) as client:
        while not server.server_state.connections:
            assert time.monotonic() < deadline, "the connection was not accepted"
            time.sleep(0.01)
        server.should_exit = True  # what SIGTERM from the supervisor does
        while server.servers[0].is_serving():
            assert time.monotonic() < deadline, "the server did not begin to stop"
            time.sleep(0.01)
        client.sendall(b"GET / HTTP/1.1\r\nHost: worker\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    thread.join(timeout=30)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
    assert not thread.is_alive()  # and then it stopped


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
