"""Delivery through apprise: build one target per address, send one message per call.

A fresh ``Apprise`` object per call: one shared object throttles ~5.5 s between sends.
``body_format=TEXT`` keeps line breaks. apprise returns a result object — its
truthiness is the outcome (never compare it with ``False``); the reason for a failure
is taken from apprise's log.
"""

from __future__ import annotations

import logging
import ssl
import threading
import types
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import apprise
from apprise.plugins.email import base as _email_plugin

from .contacts import Contacts, SecretMissing, _ref, address_id, resolve


class TransportError(Exception):
    """A delivery failed. ``permanent``: retrying cannot help (no contact, no secret)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


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


def _secret(ref, what: str) -> str:  # noqa: ANN001
    try:
        return resolve(ref)
    except SecretMissing as exc:
        raise TransportError(f"{what}: {exc}", permanent=True) from None


def targets(contacts: Contacts, participant: str, audience: str, channel: str) -> list[Target]:
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
            password = _secret(server.password, "email password") if server.password else ""
            auth = quote(server.username, safe="") + (":" + quote(password, safe="") if password else "") + "@"
        out = []
        for address in entry.email:
            query = urlencode({"from": server.sender, "to": address, "mode": mode, "smtp": server.host, "format": "text"}, quote_via=quote)
            out.append(Target("email", f"{schema}://{auth}{server.host}:{server.port}/?{query}", f"email {address}",
                              address_id("email", address)))
        return out
    if channel == "sms":
        gw = contacts.sms
        if gw is None or not entry.phone:
            raise TransportError(f"no phone number for {who}", permanent=True)
        parts = urlsplit(gw.url)
        schema = "jsons" if parts.scheme == "https" else "json"
        extra = {}
        if gw.token is not None:
            extra["+X-Token"] = _secret(gw.token, "SMS gateway token")
        out = []
        for phone in entry.phone:
            query = urlencode({":phone": phone, "format": "text", **extra}, quote_via=quote)
            url = f"{schema}://{parts.netloc}{parts.path or '/'}?{query}"
            out.append(Target("sms", url, f"sms {phone[:3]}…{phone[-4:]} via {parts.netloc}", address_id("sms", phone)))
        return out
    if channel == "dingtalk" and getattr(entry, "dingtalk", None):
        token = _secret(entry.dingtalk.token, "DingTalk token")
        secret = _secret(entry.dingtalk.secret, "DingTalk secret") if entry.dingtalk.secret else None
        url = f"dingtalk://{quote(secret, safe='')}@{token}/" if secret else f"dingtalk://{token}/"
        return [Target("dingtalk", url, f"dingtalk {_mask(token)}", address_id("dingtalk", _ref(entry.dingtalk.token)))]
    if channel == "wecom" and getattr(entry, "wecom", None):
        key = _secret(entry.wecom.key, "WeCom bot key")
        return [Target("wecom", f"wecombot://{key}", f"wecom {_mask(key)}", address_id("wecom", _ref(entry.wecom.key)))]
    if channel == "feishu" and getattr(entry, "feishu", None):
        token = _secret(entry.feishu.token, "Feishu token")
        return [Target("feishu", f"feishu://{token}", f"feishu {_mask(token)}", address_id("feishu", _ref(entry.feishu.token)))]
    if channel == "webhook" and getattr(entry, "webhook", None):
        parts = urlsplit(entry.webhook.url)
        schema = "jsons" if parts.scheme == "https" else "json"
        return [Target("webhook", f"{schema}://{parts.netloc}{parts.path or '/'}", f"webhook {parts.netloc}{parts.path}",
                       address_id("webhook", entry.webhook.url))]
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

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._real(), name)


class _SslForApprise(types.ModuleType):
    """``ssl`` as apprise's email plugin sees it: the same module, lazy default contexts."""

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(ssl, name)

    @staticmethod
    def create_default_context(*args, **kwargs) -> _LazyContext:  # noqa: ANN002, ANN003
        return _LazyContext(args, kwargs)


_email_plugin.ssl = _SslForApprise("ssl")


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


def deliver(target: Target, subject: str, body: str) -> None:
    """Send one message to one target; TransportError (not permanent) when it fails."""
    app = apprise.Apprise()
    if not app.add(target.url):
        raise TransportError(f"{target.display}: apprise does not accept this address", permanent=True)
    _capture.local.lines = []
    try:
        ok = app.notify(title=subject, body=body, body_format=apprise.NotifyFormat.TEXT)
    finally:
        reasons, _capture.local.lines = _capture.local.lines, None
    if not ok:
        reason = "; ".join(dict.fromkeys(r for r in reasons if r))[:500] or "the server did not accept the message"
        raise TransportError(f"{target.display}: {reason}")
