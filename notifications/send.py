"""Delivery through apprise: build one target per address, send one message per call.

A fresh ``Apprise`` object per call: one shared object throttles ~5.5 s between sends.
``body_format=TEXT`` keeps line breaks. apprise returns a result object — its
truthiness is the outcome (never compare it with ``False``); the reason for a failure
is taken from apprise's log.

Email needs more than apprise's email plugin exposes, so the plugin is given an
``smtplib`` whose SMTP classes (subclasses of the real ones) add, for the thread that is
sending:

* a **hard deadline** for the whole conversation: a watchdog shuts the socket down when
  it passes, however slowly the server trickles (socket timeouts are per read), and the
  final reply is waited for until then rather than apprise's 15 s — a slow server that
  answers after 20 s is not sent the message twice;
* the server's **reply code and text** (451 is transient, 550 permanent);
* whether the message had been handed over when the connection failed (**ambiguous**:
  the server may have taken it, RFC 1047);
* the **Message-ID** (from the outbox key: stable across retries, so a receiving system
  can recognise a second copy) and the **Date** (+08:00, the instant it was sent — the
  simulated one in a simulation) in place of the ones apprise makes up.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from email.utils import format_datetime
from urllib.parse import quote, urlencode, urlsplit

import apprise
from apprise.plugins.email import base as _email_plugin

from models.outbox import DeliveryError
from models.timeline import TZ

from .contacts import CHAT_CHANNELS, Contacts, SecretMissing, _ref, address_id, resolve

log = logging.getLogger("yearwheel.send")


class TransportError(DeliveryError):
    """A delivery failed (``models.outbox.DeliveryError``: permanent, code, ambiguous)."""


@dataclass(frozen=True)
class Target:
    channel: str
    url: str  # the apprise URL; may hold a secret — never store or log it
    display: str  # masked, safe for the database and an ops screen
    address: str = ""  # contacts.address_id of the address it reaches

    def __repr__(self) -> str:
        return f"Target({self.channel}, {self.display})"


def _mask(value: str) -> str:
    return value[:2] + "…" + value[-2:] if len(value) > 6 else "…"


def _secret(ref, what: str, environ: Mapping[str, str]) -> str:
    try:
        return resolve(ref, environ)
    except SecretMissing as exc:
        raise TransportError(f"{what}: {exc}", permanent=True) from None


def targets(contacts: Contacts, participant: str, audience: str, channel: str, environ: Mapping[str, str]) -> list[Target]:
    """Every address of ``participant`` on ``channel``, as apprise URLs (secrets resolved from
    ``environ`` — the ``{env: NAME}`` references of the contacts file — or Prefect blocks)."""
    entry = contacts.entry(participant, audience)
    who = participant if audience == "self" else f"{participant} ({audience})"
    if entry is None:
        raise TransportError(f"no contact for {who} in the contacts file", permanent=True)
    if channel == "email":
        server = contacts.email
        if server is None or not entry.email:
            raise TransportError(f"no email for {who}", permanent=True)
        schema = "mailto" if server.security == "none" else "mailtos"
        mode = {"none": "insecure", "starttls": "starttls", "ssl": "ssl"}[server.security]
        auth = ""
        if server.username:
            password = _secret(server.password, "email password", environ) if server.password else ""
            auth = quote(server.username, safe="") + (":" + quote(password, safe="") if password else "") + "@"
        out = []
        for address in entry.email:
            query = urlencode(
                {"from": server.sender, "to": address, "mode": mode, "smtp": server.host, "format": "text"}, quote_via=quote
            )
            out.append(
                Target(
                    "email",
                    f"{schema}://{auth}{server.host}:{server.port}/?{query}",
                    f"email {address}",
                    address_id("email", address),
                )
            )
        return out
    if channel == "sms":
        gw = contacts.sms
        if gw is None or not entry.phone:
            raise TransportError(f"no phone number for {who}", permanent=True)
        parts = urlsplit(gw.url)
        schema = "jsons" if parts.scheme == "https" else "json"
        extra = {}
        if gw.token is not None:
            extra["+X-Token"] = _secret(gw.token, "SMS gateway token", environ)
        out = []
        for phone in entry.phone:
            query = urlencode({":phone": phone, "format": "text", **extra}, quote_via=quote)
            url = f"{schema}://{parts.netloc}{parts.path or '/'}?{query}"
            out.append(Target("sms", url, f"sms {phone[:3]}…{phone[-4:]} via {parts.netloc}", address_id("sms", phone)))
        return out
    chat: Any = getattr(entry, channel, None) if channel in CHAT_CHANNELS else None  # heads have email only
    if chat is not None and channel == "dingtalk":
        token = _secret(chat.token, "DingTalk token", environ)
        secret = _secret(chat.secret, "DingTalk secret", environ) if chat.secret else None
        url = f"dingtalk://{quote(secret, safe='')}@{token}/" if secret else f"dingtalk://{token}/"
        return [Target("dingtalk", url, f"dingtalk {_mask(token)}", address_id("dingtalk", _ref(chat.token)))]
    if chat is not None and channel == "wecom":
        key = _secret(chat.key, "WeCom bot key", environ)
        return [Target("wecom", f"wecombot://{key}", f"wecom {_mask(key)}", address_id("wecom", _ref(chat.key)))]
    if chat is not None and channel == "feishu":
        token = _secret(chat.token, "Feishu token", environ)
        return [Target("feishu", f"feishu://{token}", f"feishu {_mask(token)}", address_id("feishu", _ref(chat.token)))]
    if chat is not None and channel == "webhook":
        parts = urlsplit(chat.url)
        schema = "jsons" if parts.scheme == "https" else "json"
        return [
            Target(
                "webhook",
                f"{schema}://{parts.netloc}{parts.path or '/'}",
                f"webhook {parts.netloc}{parts.path}",
                address_id("webhook", chat.url),
            )
        ]
    raise TransportError(f"no {channel} contact for {who}", permanent=True)


class _LazyContext:
    """An ``ssl.SSLContext`` built on first use. Apprise's email plugin makes a default
    context for every message, TLS or not; loading the system's CA certificates costs
    ~20 ms of CPU each time, under the GIL — it capped email at ~45 messages/s. Plain SMTP
    never touches the context, so it is never built; TLS sends build their own, with the
    plugin's settings (check_hostname, verify_mode) applied in order, never shared."""

    def __init__(self, args: tuple, kwargs: dict) -> None:
        object.__setattr__(self, "_make", lambda: ssl.create_default_context(*args, **kwargs))
        object.__setattr__(self, "_ctx", None)
        object.__setattr__(self, "_pending", [])

    def _real(self) -> ssl.SSLContext:
        if self._ctx is None:
            ctx = self._make()
            for name, value in self._pending:
                setattr(ctx, name, value)
            object.__setattr__(self, "_ctx", ctx)
        return self._ctx

    def __setattr__(self, name: str, value: object) -> None:
        if self._ctx is None:
            self._pending.append((name, value))
        else:
            setattr(self._ctx, name, value)

    def __getattr__(self, name: str):
        return getattr(self._real(), name)


class _SslForApprise(types.ModuleType):
    """``ssl`` as apprise's email plugin sees it: the same module, lazy default contexts."""

    def __getattr__(self, name: str):
        return getattr(ssl, name)

    @staticmethod
    def create_default_context(*args, **kwargs) -> _LazyContext:
        return _LazyContext(args, kwargs)


_email_plugin.ssl = _SslForApprise("ssl")


class _Attempt:
    """What the SMTP conversation of one send did. The sending thread finds its own through
    ``_current()``; the watchdog, in another thread, holds it directly."""

    def __init__(self, *, deadline: float | None = None, message_id: str | None = None, date: str | None = None) -> None:
        self.deadline = deadline  # time.monotonic() by which it must end
        self.message_id, self.date = message_id, date
        self.failure: tuple[int, str] | None = None  # the first 4xx/5xx reply
        self.last: tuple[int, str] | None = None  # the last reply
        self.handed_over = False  # the message's final "." was sent
        self.answered: tuple[int, str] | None = None  # … and the server's reply to it
        self.aborted = False  # the watchdog ended it
        self.sock: socket.socket | None = None

    def abort(self) -> None:
        self.aborted = True
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read in the sending thread
            except OSError:
                pass


_local = threading.local()
_IDLE = _Attempt()


def _current() -> _Attempt:
    return getattr(_local, "attempt", None) or _IDLE


_HEADER = {name: re.compile(rf"^{name}:.*(?:\n[ \t].*)*$", re.M | re.I) for name in ("Message-ID", "Date")}


class _Conversation:
    """Mixed into smtplib.SMTP and SMTP_SSL for apprise's email plugin (see the module doc)."""

    def _get_socket(self, host, port, timeout):
        att = _current()
        if att.deadline is not None:
            timeout = max(0.1, att.deadline - time.monotonic())
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        att.sock = sock
        if att.deadline is not None:
            sock.settimeout(max(0.1, att.deadline - time.monotonic()))  # the watchdog bounds the whole
        return sock

    def getreply(self):
        code, msg = super().getreply()  # type: ignore[misc]
        att = _current()
        att.last = (code, msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg))
        if att.handed_over and att.answered is None:
            att.answered = att.last
        if code >= 400 and att.failure is None:
            att.failure = att.last
        return code, msg

    def send(self, s):
        super().send(s)  # type: ignore[misc]
        if isinstance(s, (bytes, bytearray)) and s.endswith(b"\r\n.\r\n"):
            _current().handed_over = True

    def sendmail(self, from_addr, to_addrs, msg, *args, **kwargs):
        att = _current()
        if isinstance(msg, str) and (att.message_id or att.date):
            head, sep, body = msg.partition("\n\n")
            for name, value in (("Message-ID", att.message_id), ("Date", att.date)):
                if value:
                    line = f"{name}: {value}"
                    head, n = _HEADER[name].subn(_literal(line), head, count=1)
                    if not n:
                        head += "\n" + line
            msg = head + sep + body
        return super().sendmail(from_addr, to_addrs, msg, *args, **kwargs)  # type: ignore[misc]


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement taken as typed (a header value is never read for \\1 groups)."""

    def put(_match: re.Match[str]) -> str:
        return text

    return put


class _SMTP(_Conversation, smtplib.SMTP):
    pass


class _SMTP_SSL(_Conversation, smtplib.SMTP_SSL):  # noqa: N801
    pass


class _SmtplibForApprise(types.ModuleType):
    """``smtplib`` as apprise's email plugin sees it: the same module, our SMTP classes."""

    SMTP = _SMTP
    SMTP_SSL = _SMTP_SSL

    def __getattr__(self, name: str):
        return getattr(smtplib, name)


_email_plugin.smtplib = _SmtplibForApprise("smtplib")


class _Capture(logging.Handler):
    """Collects apprise's warnings for the thread that is sending."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(self.local, "lines", None)
        if lines is not None:
            lines.append(record.getMessage())


_capture = _Capture()
logging.getLogger("apprise").addHandler(_capture)


@dataclass(frozen=True)
class Delivered:
    code: int | None
    reply: str | None


def _http_code(reasons: list[str]) -> int | None:
    for r in reasons:
        m = re.search(r"error=(\d{3})", r)
        if m:
            return int(m.group(1))
    return None


def deliver(
    target: Target,
    subject: str,
    body: str,
    *,
    deadline: float = 60.0,
    message_id: str | None = None,
    sent_at: dt.datetime | None = None,
) -> Delivered:
    """Send one message to one target within ``deadline`` seconds; TransportError when it
    fails (``permanent`` for SMTP 5xx and HTTP 4xx other than 408/429; ``ambiguous`` when
    the server may have taken it)."""
    app = apprise.Apprise()
    if not app.add(target.url):
        raise TransportError(f"{target.display}: apprise does not accept this address", permanent=True)
    att = _local.attempt = _Attempt(
        deadline=time.monotonic() + deadline,
        message_id=message_id,
        date=format_datetime((sent_at or dt.datetime.now(TZ)).astimezone(TZ)),
    )
    watchdog = threading.Timer(deadline, att.abort)
    watchdog.daemon = True
    _capture.local.lines = []
    watchdog.start()
    try:
        ok = app.notify(title=subject, body=body, body_format=apprise.NotifyFormat.TEXT)
    finally:
        watchdog.cancel()
        reasons, _capture.local.lines = _capture.local.lines, None
        failure, handed_over, answered, aborted = att.failure, att.handed_over, att.answered, att.aborted
        _local.attempt = None
    if ok:
        return Delivered(*(answered if target.channel == "email" and answered else (None, None)))
    said = "; ".join(dict.fromkeys(r for r in reasons if r))[:500] or "the server did not accept the message"
    if aborted:
        raise TransportError(
            f"{target.display}: no answer within {deadline:g} s; the server may have taken the message",
            ambiguous=handed_over or target.channel != "email",
        )
    if failure is not None:
        code, text = failure
        raise TransportError(f"{target.display}: the server answered {code} {text}"[:500], permanent=code >= 500, code=code)
    if handed_over and answered is None:
        raise TransportError(
            f"{target.display}: the connection was lost after the message was handed over; the server may have taken it",
            ambiguous=True,
        )
    http = _http_code(reasons)
    if http is not None:
        raise TransportError(f"{target.display}: {said}", code=http, permanent=400 <= http < 500 and http not in (408, 429))
    raise TransportError(f"{target.display}: {said}")
