"""A real SMTP server on loopback that keeps what it receives — for the simulator (which
writes every message to an outbox folder as .eml) and for the tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import socket
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.sink.reject:
            return "550 5.1.1 mailbox unavailable"
        if address in self.sink.defer:
            return "451 4.3.0 mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        if self.sink.data_reply:
            return self.sink.data_reply
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.keep(msg, envelope.content, list(envelope.rcpt_tos))
        if self.sink.drop_after_data:
            server.transport.close()  # took the message, never says so (RFC 1047's ambiguous case)
        return "250 Message accepted for delivery"


class SmtpSink:
    """``with SmtpSink(outbox_dir=…) as sink:`` — ``sink.host``, ``sink.port``, ``sink.messages``."""

    def __init__(
        self, outbox_dir: Path | None = None, host: str = "127.0.0.1", tls_context=None, port: int = 0, delay: float = 0.0
    ):
        """``tls_context``: an ``ssl.SSLContext`` with the server's certificate — the sink
        then offers STARTTLS and refuses mail before it. ``port``: 0 picks a free one (a
        fixed one lets a test bring the "same" server back). ``delay``: seconds to wait
        before accepting each message (a slow server, for tests that kill a sender)."""
        self.host = host
        self.tls_context = tls_context
        self.fixed_port = port
        self.delay = delay
        self.reject: set[str] = set()  # recipients answered with 550 (permanent: tests of failed deliveries)
        self.defer: set[str] = set()  # recipients answered with 451 (transient: tried again later)
        self.data_reply: str | None = None  # answer the message itself with this instead of taking it ("451 …", "554 …")
        self.drop_after_data = False  # keep the message, then close the connection without answering
        self.port = 0
        self.outbox_dir = Path(outbox_dir) if outbox_dir else None
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def keep(self, msg: EmailMessage, raw: bytes, rcpts: list[str]) -> None:
        with self._lock:
            self._messages.append(msg)
            seq = len(self._messages)
        if self.outbox_dir is not None:
            who = re.sub(r"[^A-Za-z0-9_.@-]", "_", ",".join(rcpts))[:80]
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.outbox_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            os.replace(tmp, self.outbox_dir / f"{seq:05d}-{who}.eml")

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.messages) >= n:
                return True
            time.sleep(0.02)
        return len(self.messages) >= n

    def __enter__(self) -> SmtpSink:
        self.port = self.fixed_port or _free_port()
        tls = {"tls_context": self.tls_context, "require_starttls": True} if self.tls_context else {}
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **tls)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
