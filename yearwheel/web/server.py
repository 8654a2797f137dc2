"""Serving the intake with limits against slow and greedy clients.

Plain ``uvicorn.run`` has no deadline for the request head or body: a client that opens a
connection and sends one header byte a second keeps it (and a file descriptor) for as long
as it likes, and a thousand of them exhaust the descriptors, after which nothing else —
``/healthz`` included — is accepted. ``serve`` runs the same uvicorn server with:

- a **total** deadline for the request head (``header_timeout``), counted from the moment
  the connection is accepted, or on a keep-alive connection from the end of the previous
  response. It is not reset by incoming bytes, so trickling one byte a second does not
  keep a connection alive;
- a total deadline for the request body (``body_timeout``), counted from the end of the head;
- uvicorn's keep-alive timeout and a bound on the size of the request head;
- a cap on open connections per client address and overall: a connection beyond a cap is
  closed as soon as it is accepted, before anything is read from it;
- the process's soft ``RLIMIT_NOFILE`` raised to the hard limit at start, and the caps sized
  below whatever it ends up being.

Each connection dropped for a timeout or a cap is logged (logger ``yearwheel.web``, with the
client's address and the reason, never anything the client sent); bursts are summarised to at
most one line per reason a second.

The HTTP implementation is pinned to h11 (``LimitedH11Protocol``, a subclass of uvicorn's
``H11Protocol``), so the behaviour does not depend on whether httptools is installed;
WebSocket upgrades are off (the intake has no WebSocket routes).

    serve(app, host="127.0.0.1", port=8350)                 # blocking, for the CLI
    server = start_in_thread(app, ServerLimits(header_timeout=2))   # tests: port 0
    httpx.get(f"{server.url}/healthz"); server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("yearwheel.web")

# Descriptors kept free for everything that is not a client connection: the database, the
# attachment files being written, logs, the SMTP client, Prefect's client.
FD_RESERVE = 256

REASON_HEAD = "head_timeout"
REASON_BODY = "body_timeout"
REASON_PER_CLIENT = "per_client_cap"
REASON_TOTAL = "connection_cap"
REASON_HEAD_SIZE = "head_too_large"

# Set in a request's scope when the server cut its connection (a body timeout): whatever the
# application then raises (Starlette's ClientDisconnect, typically) is expected, not an error.
DROPPED_KEY = "yearwheel.dropped"

_RESPONSE_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nRequest Timeout\n"
)
# After a timeout the transport is closed gracefully (the 408 is flushed); a client that does
# not read it either loses it this much later.
_CLOSE_GRACE = 2.0


@dataclass(frozen=True)
class ServerLimits:
    """What one server process allows a client. Times are in seconds.

    header_timeout
        total time for the complete request head (request line and headers) to arrive,
        counted from the connection being accepted, or on a keep-alive connection from the
        end of the previous response. Bytes arriving do not extend it. When it passes the
        connection is closed (after a ``408`` if part of a head had arrived).
    body_timeout
        total time for the request body to arrive, counted from the end of the head. When it
        passes the connection is closed, after a ``408`` if no response was started. The
        default allows the intake's largest request (12 MiB) at about 0.8 Mbit/s.
    keep_alive_timeout
        how long an idle keep-alive connection is kept after a response (uvicorn's
        ``timeout_keep_alive``).
    max_connections_per_client
        open connections from one client address (the TCP peer: behind a reverse proxy on
        the same host, that is the proxy — raise this or set ``None``, and cap per client in
        the proxy). A connection beyond it is closed as soon as it is accepted. ``None``: no cap.
    max_connections
        open connections overall; beyond it a new connection is closed as soon as it is
        accepted. Lowered at start to fit under the process's descriptor limit.
    max_head_size
        bytes of an incomplete request head (h11's ``max_incomplete_event_size``); a longer
        head is answered ``400`` and the connection closed.
    backlog
        the listening socket's accept queue (the kernel also caps it at ``net.core.somaxconn``).
    """

    header_timeout: float = 10.0
    body_timeout: float = 120.0
    keep_alive_timeout: float = 5.0
    max_connections_per_client: int | None = 64
    max_connections: int = 2000
    max_head_size: int = 16 * 1024
    backlog: int = 2048

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerLimits.{name} must be > 0")
        for name in ("max_connections", "max_head_size", "backlog"):
            if getattr(self, name) < 1:
                raise ValueError(f"ServerLimits.{name} must be >= 1")
        if self.max_connections_per_client is not None and self.max_connections_per_client < 1:
            raise ValueError("ServerLimits.max_connections_per_client must be >= 1 or None")


# --------------------------------------------------------------------------- descriptors


def open_fd_count() -> int:
    """Descriptors this process has open (Linux: /proc/self/fd; elsewhere /dev/fd)."""
    for d in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(d)) - 1  # the listing's own descriptor
        except OSError:
            continue
    return 0


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover — not on Windows
        return 1 << 16
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if target == resource.RLIM_INFINITY:
        try:  # Linux refuses "unlimited"; its ceiling is fs.nr_open
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return target if soft == resource.RLIM_INFINITY else soft


def fit_to_fd_limit(limits: ServerLimits, fd_limit: int, fds_open: int) -> ServerLimits:
    """The limits with the connection caps lowered, if need be, so that every connection
    allowed (plus FD_RESERVE for the rest of the process) fits under ``fd_limit``; an
    accepted connection is one descriptor until it is closed, refused ones included."""
    room = max(1, fd_limit - fds_open - FD_RESERVE)
    total = min(limits.max_connections, room)
    per_client = limits.max_connections_per_client
    if per_client is not None:
        per_client = min(per_client, total)
    fitted = replace(limits, max_connections=total, max_connections_per_client=per_client)
    if fitted.max_connections < limits.max_connections:
        log.warning(
            "open-file limit %d (%d in use): at most %d connections instead of %d",
            fd_limit,
            fds_open,
            fitted.max_connections,
            limits.max_connections,
        )
    return fitted


# --------------------------------------------------------------------------- the guard


class _Guard:
    """State shared by all connections of one server (touched only on its event loop)."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.open = 0
        self.per_client: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}
        self._apps: dict[int, _GuardedApp] = {}
        self._unlogged: Counter[str] = Counter()

    def admit(self, addr: str | None) -> str | None:
        """Count a new connection in, or return why it is refused."""
        if self.open >= self.limits.max_connections:
            return REASON_TOTAL
        cap = self.limits.max_connections_per_client
        if addr is not None and cap is not None and self.per_client[addr] >= cap:
            return REASON_PER_CLIENT
        self.open += 1
        if addr is not None:
            self.per_client[addr] += 1
        return None

    def app(self, app: Any) -> _GuardedApp:
        guarded = self._apps.get(id(app))
        if guarded is None:
            guarded = self._apps[id(app)] = _GuardedApp(app, self)
        return guarded

    def release(self, addr: str | None) -> None:
        self.open -= 1
        if addr is not None:
            self.per_client[addr] -= 1
            if self.per_client[addr] <= 0:
                del self.per_client[addr]

    def dropped_one(self, reason: str, peer: tuple[str, int] | None) -> None:
        """Count and log a dropped connection: one line per reason a second at most."""
        self.dropped[reason] += 1
        now = time.monotonic()
        if now - self._last_log.get(reason, -1e9) < 1.0:
            self._unlogged[reason] += 1
            return
        self._last_log[reason] = now
        more = self._unlogged.pop(reason, 0)
        lim = self.limits
        why = {
            REASON_HEAD: f"request head not complete within {lim.header_timeout:g}s",
            REASON_BODY: f"request body not complete within {lim.body_timeout:g}s",
            REASON_PER_CLIENT: f"over {lim.max_connections_per_client} connections from this address",
            REASON_TOTAL: f"over {lim.max_connections} connections open",
            REASON_HEAD_SIZE: f"request head over {lim.max_head_size} bytes (431)",
        }[reason]
        who = "%s:%d" % peer if peer else "unknown peer"
        log.warning(
            "dropped connection from %s: %s%s (%d dropped for this so far)",
            who,
            why,
            f"; {more} more since the last such message" if more else "",
            self.dropped[reason],
        )


def _head_size(scope: dict[str, Any]) -> int:
    """The request head's size as parsed: request line, header lines, blank line."""
    target = len(scope.get("raw_path", b"")) + (len(scope["query_string"]) + 1 if scope.get("query_string") else 0)
    size = len(scope["method"]) + 1 + target + len(" HTTP/1.1\r\n") + 2
    return size + sum(len(k) + len(v) + 4 for k, v in scope["headers"])


class _GuardedApp:
    """The application as the protocol runs it: a head over ``max_head_size`` is answered
    431 without calling the application (h11 itself bounds only a head still incomplete,
    e.g. one trickled in), and what the application raises after the server cut its
    connection is not reported as an application error."""

    def __init__(self, app: Any, guard: _Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _head_size(scope) > self.guard.limits.max_head_size:
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": b"Request Header Fields Too Large\n"})
            self.guard.dropped_one(REASON_HEAD_SIZE, scope.get("client"))
            return
        try:
            await self.app(scope, receive, send)
        except Exception:
            if not scope.get(DROPPED_KEY):
                raise
            log.debug("application stopped after its connection was dropped (%s)", scope[DROPPED_KEY], exc_info=True)


def _guard_of(config: uvicorn.Config) -> _Guard:
    guard = getattr(config, "yearwheel_guard", None)
    if guard is None:  # LimitedH11Protocol used without build_config: default limits
        guard = config.yearwheel_guard = _Guard(ServerLimits())  # type: ignore[attr-defined]
    return guard


# --------------------------------------------------------------------------- the protocol


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline, a body deadline and connection caps.

    The deadlines follow h11's view of the client's side of the connection after every
    read and every response: IDLE (waiting for a head) runs the head timer, SEND_BODY runs
    the body timer, anything else (request complete, closing) runs neither. A timer is
    started when its state is entered and is never extended.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.guard = _guard_of(config)
        self.app = self.guard.app(self.app)
        self._addr: str | None = None
        self._peer: tuple[str, int] | None = None
        self._counted = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._head_bytes = False  # part of the current head has arrived

    # connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, (tuple, list)) and len(peer) >= 2:
            self._peer = (str(peer[0]), int(peer[1]))
            self._addr = self._peer[0]
        refusal = self.guard.admit(self._addr)
        if refusal is not None:
            self._refused = True
            self.transport = transport
            transport.close()  # nothing read, nothing written: the client sees EOF
            self.guard.dropped_one(refusal, self._peer)
            return
        self._counted = True
        super().connection_made(transport)
        self._update_deadlines()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head()
        self._cancel_body()
        if self._counted:
            self._counted = False
            self.guard.release(self._addr)
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and data:
            self._head_bytes = True
        super().data_received(data)
        self._update_deadlines()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update_deadlines()

    def shutdown(self) -> None:
        if self._refused:
            return
        super().shutdown()

    # deadlines

    def _update_deadlines(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._cancel_head()
            self._cancel_body()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._cancel_body()
            if self._head_timer is None:
                self._head_bytes = bool(self.conn.trailing_data[0])
                self._head_timer = self.loop.call_later(self.guard.limits.header_timeout, self._head_expired)
        elif state is h11.SEND_BODY:
            self._cancel_head()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.guard.limits.body_timeout, self._body_expired)
        else:
            self._cancel_head()
            self._cancel_body()

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        # Mid-head, say why; an idle connection (nothing of a new request yet) is just closed.
        self._drop(REASON_HEAD, answer=self._head_bytes and self.conn.our_state is h11.IDLE)

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        started = self.cycle is not None and self.cycle.response_started
        self._drop(REASON_BODY, answer=not started)

    def _drop(self, reason: str, *, answer: bool) -> None:
        self._unset_keepalive_if_required()
        if self.cycle is not None and not self.cycle.response_complete:
            # The application sees a disconnect from now on, and its own response is dropped.
            self.cycle.scope[DROPPED_KEY] = reason  # type: ignore[literal-required]
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if answer:
            self.transport.write(_RESPONSE_408)
        self.transport.close()
        transport = self.transport
        self.loop.call_later(_CLOSE_GRACE, lambda: transport.abort() if transport.is_closing() else None)
        self.guard.dropped_one(reason, self._peer)


# --------------------------------------------------------------------------- running


def build_config(
    app: Any, *, host: str, port: int, limits: ServerLimits | None = None, log_level: str = "warning", **uvicorn_options: Any
) -> uvicorn.Config:
    """A uvicorn Config serving ``app`` with ``limits`` (already fitted to the descriptor
    limit by the caller, or used as given)."""
    limits = limits or ServerLimits()
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        http=LimitedH11Protocol,
        ws="none",
        timeout_keep_alive=limits.keep_alive_timeout,
        h11_max_incomplete_event_size=limits.max_head_size,
        backlog=limits.backlog,
        # A backstop only: the guard refuses a connection beyond max_connections before
        # uvicorn counts it, and uvicorn answers 503 once it counts limit_concurrency.
        limit_concurrency=limits.max_connections + 1,
    )
    options.update(uvicorn_options)
    config = uvicorn.Config(app, **options)
    config.yearwheel_guard = _Guard(limits)  # type: ignore[attr-defined]
    return config


def _prepare(limits: ServerLimits | None) -> ServerLimits:
    fd_limit = raise_fd_limit()
    return fit_to_fd_limit(limits or ServerLimits(), fd_limit, open_fd_count())


def serve(app: Any, *, host: str, port: int, limits: ServerLimits | None = None, log_level: str = "warning") -> None:
    """Serve ``app`` until SIGINT/SIGTERM, like ``uvicorn.run(app, host=…, port=…,
    log_level=…, proxy_headers=False)`` plus the limits. Exits 3 if it cannot start."""
    config = build_config(app, host=host, port=port, limits=_prepare(limits), log_level=log_level)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run


class RunningServer:
    """A server on a background thread (``start_in_thread``)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, guard: _Guard) -> None:
        self.server, self.thread, self._guard = server, thread, guard
        self.host: str = server.config.host
        self.port: int = server.servers[0].sockets[0].getsockname()[1]
        self.limits: ServerLimits = guard.limits

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return self._guard.open

    def connections_from(self, addr: str) -> int:
        return self._guard.per_client.get(addr, 0)

    @property
    def dropped(self) -> dict[str, int]:
        """Connections dropped so far, by reason (``head_timeout``, ``body_timeout``,
        ``per_client_cap``, ``connection_cap``, ``head_too_large``)."""
        return dict(self._guard.dropped)

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():  # pragma: no cover — stuck connections
            self.server.force_exit = True
            self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    app: Any, limits: ServerLimits | None = None, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 20.0
) -> RunningServer:
    """Start serving ``app`` on a daemon thread (port 0: the OS picks a free one) and return
    once it accepts connections. Signals stay with the main thread; logging is not
    reconfigured."""
    config = build_config(app, host=host, port=port, limits=_prepare(limits), log_config=None, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 — SystemExit from a failed startup too
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"yearwheel-web-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive():
            raise RuntimeError(f"server did not start: {failure[0] if failure else 'thread ended'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"server did not start within {startup_timeout:g}s")
        time.sleep(0.02)
    return RunningServer(server, thread, config.yearwheel_guard)  # type: ignore[attr-defined]
