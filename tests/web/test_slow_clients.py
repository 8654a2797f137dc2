"""Slow and greedy clients against yearwheel.web.server: the head and body deadlines, the
connection caps, and that ordinary clients (keep-alive included) are unaffected.

A real uvicorn server on a background thread (port 0), raw sockets for the misbehaving
clients — bound to other loopback addresses (127.0.0.2 …) so that they count as other
clients — and httpx for the well-behaved ones. Waits are polling loops with generous
guards, never assertions on elapsed time."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import h11
import httpx
import pytest
from fastapi import FastAPI, Request

from yearwheel.web.server import (
    FD_RESERVE,
    RunningServer,
    ServerLimits,
    fit_to_fd_limit,
    open_fd_count,
    start_in_thread,
)

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

GUARD = 20.0  # seconds: a hang guard for any single request, not a performance budget
SECRET_HEADER = b"X-Trickle-Secret: "  # what the slow clients send; must never reach the log


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        body = await request.body()
        return {"n": len(body)}

    return app


@pytest.fixture
def start() -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []

    def run(**limits: object) -> RunningServer:
        server = start_in_thread(make_app(), ServerLimits(**limits))  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.stop()


@pytest.fixture
def weblog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="yearwheel.web")
    return caplog


def wait_for(condition: Callable[[], bool], what: str, timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def sockets() -> Iterator[list[socket.socket]]:
    """A list to put client sockets in; every one is closed at the end."""
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for s in opened:
            s.close()


def connect(server: RunningServer, source: str, into: list[socket.socket]) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    into.append(s)
    s.bind((source, 0))
    s.settimeout(GUARD)
    s.connect((server.host, server.port))
    return s


class Peer:
    """A client socket and what the server did to it: still open, or closed (EOF or reset)
    after sending ``received``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.received = b""
        self.closed = False

    def poll(self) -> bool:
        """Read whatever is there without blocking; True once the server has closed."""
        while not self.closed:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            except (ConnectionResetError, BrokenPipeError):
                self.closed = True
                break
            if not chunk:
                self.closed = True
            self.received += chunk
        return self.closed

    def send(self, data: bytes) -> bool:
        try:
            self.sock.send(data)
            return True
        except (ConnectionResetError, BrokenPipeError, BlockingIOError):
            return False


def closed_by_timeout(peer: Peer) -> bool:
    """The server closed, having said nothing or 408."""
    return peer.closed and (peer.received == b"" or peer.received.startswith(b"HTTP/1.1 408 "))


def healthz(server: RunningServer, source: str | None = None) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(transport=transport, timeout=GUARD) as client:
        return client.get(f"{server.url}/healthz")


class Trickler(threading.Thread):
    """Sends one more header byte to each peer every second until stopped."""

    def __init__(self, peers: list[Peer]) -> None:
        super().__init__(daemon=True)
        self.peers = peers
        self.halt = threading.Event()
        self.rounds = 0

    def run(self) -> None:
        while not self.halt.wait(1.0):
            self.rounds += 1
            for peer in self.peers:
                if not peer.closed:
                    peer.send(b"a")

    def stop(self) -> None:
        self.halt.set()
        self.join(GUARD)


def exchange(
    sock: socket.socket, conn: h11.Connection, method: str, target: str, body: bytes = b""
) -> tuple[h11.Response, bytes]:
    """One request/response on a persistent connection, parsed with h11."""
    headers = [("Host", "x")]
    if body or method == "POST":
        headers.append(("Content-Length", str(len(body))))
    out = conn.send(h11.Request(method=method, target=target, headers=headers))
    if body:
        out += conn.send(h11.Data(data=body))
    out += conn.send(h11.EndOfMessage())
    sock.sendall(out)
    response, data = None, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            chunk = sock.recv(65536)
            conn.receive_data(chunk)
            if not chunk:
                raise AssertionError("server closed the keep-alive connection")
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            data += event.data
        elif isinstance(event, h11.EndOfMessage):
            conn.start_next_cycle()
            assert response is not None
            return response, data


def web_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "yearwheel.web"]


# --------------------------------------------------------------------------- tests


def test_trickling_heads_do_not_starve_healthz_and_are_closed(start, weblog) -> None:
    n = 1100
    server = start(header_timeout=6, max_connections_per_client=2000, max_connections=3000)
    baseline = open_fd_count()
    with sockets() as opened:
        peers = []
        for _ in range(n):
            s = connect(server, "127.0.0.2", opened)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + SECRET_HEADER)
            peers.append(Peer(s))
        trickler = Trickler(peers)
        trickler.start()
        try:
            # All accepted (or, on a very slow machine, some already timed out).
            wait_for(
                lambda: server.open_connections + server.dropped.get("head_timeout", 0) >= n,
                "the server to accept the trickling connections",
            )
            fds, trickling = open_fd_count(), server.connections_from("127.0.0.2")
            assert trickling > n // 2
            # Both ends of every trickling connection are open in this process.
            assert fds >= baseline + n + trickling

            r = healthz(server)  # from 127.0.0.1
            assert r.status_code == 200 and r.json() == {"ok": True}

            # The head deadline is total: one byte a second does not keep them alive.
            wait_for(lambda: all(p.poll() for p in peers), "the server to close every trickling connection")
            assert trickler.rounds >= 1
        finally:
            trickler.stop()
        assert all(closed_by_timeout(p) for p in peers), [p.received[:40] for p in peers if not closed_by_timeout(p)][:3]
        assert server.dropped.get("head_timeout") == n
        wait_for(
            lambda: server.open_connections == 0 and server.connections_from("127.0.0.2") == 0,
            "the server to count the connections out",
        )
        # The server's descriptors are released (only the n client ends remain) ...
        wait_for(lambda: open_fd_count() <= baseline + n + 10, "the server's descriptors to be released")
    # ... and with the client ends closed, back to where it was.
    wait_for(lambda: open_fd_count() <= baseline + 10, "the descriptor count to drop back")

    messages = web_messages(weblog)
    assert any("request head not complete within 6s" in m and "127.0.0.2" in m for m in messages)
    assert len(messages) < 50  # summarised, not one line per connection
    assert not any("Trickle" in m or "Secret" in m for m in messages)
    # Still serving.
    assert healthz(server).status_code == 200


def test_body_trickled_one_byte_a_second_is_cut_off(start, weblog) -> None:
    server = start(header_timeout=2, body_timeout=2)
    uvicorn_log = logging.getLogger("uvicorn.error")  # may not propagate, after uvicorn's dictConfig
    uvicorn_log.addHandler(weblog.handler)
    try:
        body_cut_off(server, weblog)
    finally:
        uvicorn_log.removeHandler(weblog.handler)

    # A normal POST is unaffected.
    with httpx.Client(timeout=GUARD) as client:
        r = client.post(f"{server.url}/echo", content=b"x" * 200_000)
    assert r.status_code == 200 and r.json() == {"n": 200_000}


def body_cut_off(server: RunningServer, weblog: pytest.LogCaptureFixture) -> None:
    with sockets() as opened:
        s = connect(server, "127.0.0.1", opened)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n")
        peer, sent = Peer(s), 0
        deadline = time.monotonic() + GUARD
        while not peer.poll() and time.monotonic() < deadline and sent < 100:
            if peer.send(b"b"):
                sent += 1
            for _ in range(20):  # one byte a second, watching for the close meanwhile
                if peer.poll():
                    break
                time.sleep(0.05)
        assert peer.closed, "still open after the body timeout"
        assert sent < 100
        assert closed_by_timeout(peer)
    assert server.dropped.get("body_timeout") == 1
    assert any("request body not complete within 2s" in m for m in web_messages(weblog))
    # The application saw a disconnect; that is not reported as an error of its own.
    wait_for(lambda: not server.server.server_state.tasks, "the request's task to end")
    assert not [r.getMessage() for r in weblog.records if r.levelno >= logging.ERROR]


def test_keep_alive_client_is_unaffected(start) -> None:
    # Seven requests over one connection, 0.5 s apart: longer in all than the head timeout,
    # which restarts at the end of each response.
    server = start(header_timeout=2, body_timeout=2, keep_alive_timeout=5)
    with sockets() as opened:
        s = connect(server, "127.0.0.1", opened)
        conn = h11.Connection(h11.CLIENT)
        for i in range(7):
            if i % 2:
                response, data = exchange(s, conn, "POST", "/echo", b"y" * (1000 * i))
                assert (response.status_code, data) == (200, b'{"n":%d}' % (1000 * i))
            else:
                response, data = exchange(s, conn, "GET", "/healthz")
                assert (response.status_code, data) == (200, b'{"ok":true}')
            time.sleep(0.5)
        assert server.open_connections == 1
    assert server.dropped == {}

    # httpx's pooled keep-alive client, likewise.
    with httpx.Client(timeout=GUARD) as client:
        for _ in range(5):
            assert client.get(f"{server.url}/healthz").json() == {"ok": True}


def test_next_head_on_a_keep_alive_connection_has_its_own_deadline(start, weblog) -> None:
    server = start(header_timeout=2, keep_alive_timeout=30)
    with sockets() as opened:
        s = connect(server, "127.0.0.1", opened)
        conn = h11.Connection(h11.CLIENT)
        response, _ = exchange(s, conn, "GET", "/healthz")
        assert response.status_code == 200
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # then the rest, a byte a second
        peer = Peer(s)
        deadline = time.monotonic() + GUARD
        while not peer.poll() and time.monotonic() < deadline:
            peer.send(b"X")
            for _ in range(20):
                if peer.poll():
                    break
                time.sleep(0.05)
        assert closed_by_timeout(peer)
    assert server.dropped.get("head_timeout") == 1


def test_connections_over_the_per_client_cap_are_closed(start, weblog) -> None:
    server = start(header_timeout=30, max_connections_per_client=5, max_connections=100)
    with sockets() as opened:
        greedy = [Peer(connect(server, "127.0.0.3", opened)) for _ in range(8)]
        wait_for(lambda: server.dropped.get("per_client_cap", 0) == 3, "three refusals")
        wait_for(lambda: sum(p.poll() for p in greedy) == 3, "three connections closed")
        assert all(p.received == b"" for p in greedy)  # closed before anything was read or written
        assert server.connections_from("127.0.0.3") == 5
        # Everyone else is still served.
        assert healthz(server).status_code == 200
        assert healthz(server, source="127.0.0.4").status_code == 200
        # The five it kept are served too.
        kept = next(p for p in greedy if not p.closed)
        kept.sock.settimeout(GUARD)
        response, data = exchange(kept.sock, h11.Connection(h11.CLIENT), "GET", "/healthz")
        assert (response.status_code, data) == (200, b'{"ok":true}')
    # Closing them frees the address's share.
    wait_for(lambda: server.connections_from("127.0.0.3") == 0, "the greedy connections to be counted out")
    assert healthz(server, source="127.0.0.3").status_code == 200
    assert any("over 5 connections from this address" in m and "127.0.0.3" in m for m in web_messages(weblog))


def test_connections_over_the_overall_cap_are_closed(start, weblog) -> None:
    server = start(header_timeout=30, max_connections_per_client=None, max_connections=6)
    with sockets() as opened:
        held = [Peer(connect(server, "127.0.0.5", opened)) for _ in range(6)]
        wait_for(lambda: server.open_connections == 6, "six connections open")
        extra = Peer(connect(server, "127.0.0.6", opened))
        wait_for(extra.poll, "the seventh connection to be closed")
        assert server.dropped == {"connection_cap": 1}
        assert not any(p.poll() for p in held)
    wait_for(lambda: server.open_connections == 0, "the connections to be counted out")
    assert healthz(server, source="127.0.0.6").status_code == 200
    assert any("over 6 connections open" in m for m in web_messages(weblog))


def test_oversized_head_is_refused(start, weblog) -> None:
    server = start(max_head_size=8 * 1024)
    with sockets() as opened:
        # Complete at once: 431 from the server, the application not called.
        s = connect(server, "127.0.0.1", opened)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"z" * 20_000 + b"\r\n\r\n")
        peer = Peer(s)
        wait_for(peer.poll, "the connection to be closed")
        # (400 if the kernel handed it over in pieces: then h11 refused the incomplete head)
        assert peer.received.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 ")), peer.received[:40]
        # Incomplete and already too long: 400 from h11.
        s = connect(server, "127.0.0.1", opened)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"z" * 9_000)
        peer = Peer(s)
        wait_for(peer.poll, "the connection to be closed")
        assert peer.received.startswith(b"HTTP/1.1 400 "), peer.received[:40]
        # Under the limit: served.
        s = connect(server, "127.0.0.1", opened)
        response, data = exchange(s, h11.Connection(h11.CLIENT), "GET", "/healthz?" + "q" * 6000)
        assert (response.status_code, data) == (200, b'{"ok":true}')
    assert server.dropped.get("head_too_large", 0) <= 1
    assert not any("zzz" in m for m in web_messages(weblog))
    assert healthz(server).status_code == 200


def test_caps_fit_under_the_descriptor_limit() -> None:
    limits = ServerLimits(max_connections=2000, max_connections_per_client=64)
    assert fit_to_fd_limit(limits, 20000, 50) == limits
    small = fit_to_fd_limit(limits, 1024, 24)
    assert small.max_connections == 1024 - 24 - FD_RESERVE
    assert small.max_connections_per_client == 64
    tiny = fit_to_fd_limit(limits, FD_RESERVE + 40, 0)
    assert (tiny.max_connections, tiny.max_connections_per_client) == (40, 40)
    with pytest.raises(ValueError):
        ServerLimits(header_timeout=0)
