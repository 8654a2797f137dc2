"""The contacts file: who is reached how. Addresses are data; secrets are references.

```yaml
version: 1
email: {host: smtp.example.gov.cn, port: 465, sender: "… <noreply@…>", security: ssl,
        username: noreply, password: {env: YEARWHEEL_SMTP_PASSWORD}}
sms: {url: "https://sms-gateway.example.gov.cn/send", token: {env: YEARWHEEL_SMS_TOKEN}}
quiet_hours: {start: "20:00", end: "08:30"}
participants:
  changchun:
    name: 长春市市场监督管理局
    email: [office@changchun.example.gov.cn]
    phone: ["+8613800000001"]
    dingtalk: {token: {env: DINGTALK_CHANGCHUN}, secret: {env: DINGTALK_CHANGCHUN_SECRET}}
    wecom: {key: {env: WECOM_CHANGCHUN}}
    feishu: {token: {env: FEISHU_CHANGCHUN}}
    webhook: {url: "https://chat-bridge.example.gov.cn/hook"}
    head: {email: [director@changchun.example.gov.cn], phone: ["+8613800000002"]}
```

A secret is ``{env: NAME}`` or ``{prefect_secret: BLOCK}``, resolved when a message is
sent; a plain string where a secret belongs is refused, so that no secret is committed.
"""

from __future__ import annotations

from collections.abc import Mapping

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.timeline.loader import CalendarInvalid, parse_model, read

CHANNELS = ("email", "sms", "dingtalk", "wecom", "feishu", "webhook")
HELD_CHANNELS = frozenset({"sms", "dingtalk", "wecom", "feishu", "webhook"})
CHAT_CHANNELS = ("dingtalk", "wecom", "feishu", "webhook")

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ContactsInvalid(CalendarInvalid):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class EnvSecret(_Strict):
    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class PrefectSecret(_Strict):
    prefect_secret: Annotated[str, Field(min_length=1)]


class SecretMissing(LookupError):
    pass


def _secret_ref(v: object) -> object:
    if isinstance(v, str):
        raise ValueError("secrets must not be written in the contacts file: use {env: VARIABLE} or {prefect_secret: BLOCK}")
    return v


Secret = Annotated[Union[EnvSecret, PrefectSecret], Field(description="{env: NAME} or {prefect_secret: BLOCK}")]


def resolve(secret: EnvSecret | PrefectSecret, environ: Mapping[str, str]) -> str:
    """The secret's value; SecretMissing names the variable or block (never a value).
    ``environ``: the environment the composition root hands over (yearwheel.settings)."""
    if isinstance(secret, EnvSecret):
        value = environ.get(secret.env)
        if not value:
            raise SecretMissing(f"environment variable {secret.env} is not set")
        return value
    try:
        from prefect.blocks.system import Secret as PrefectSecretBlock

        block: Any = PrefectSecretBlock.load(secret.prefect_secret)  # loaded synchronously outside an event loop
        return str(block.get())
    except Exception as exc:  # noqa: BLE001 — any failure to load is "missing" to the sender
        raise SecretMissing(f"Prefect Secret block {secret.prefect_secret!r} cannot be loaded ({type(exc).__name__})") from None


def _check_emails(v: list[str]) -> list[str]:
    for e in v:
        if not _EMAIL.match(e):
            raise ValueError(f"not an email address: {e!r}")
    return v


def _check_phones(v: list[str]) -> list[str]:
    for p in v:
        if not _PHONE.match(p):
            raise ValueError(f"not a phone number (digits, optional leading +): {p!r}")
    return v


class EmailServer(_Strict):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    sender: str
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    _secret = field_validator("password", mode="before")(_secret_ref)


class SmsGateway(_Strict):
    url: Annotated[str, Field(pattern=r"^https?://")]
    token: Secret | None = None
    _secret = field_validator("token", mode="before")(_secret_ref)


class QuietHours(_Strict):
    start: str = "20:00"
    end: str = "08:30"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, v: object) -> object:
        if not isinstance(v, str) or not _HHMM.match(v):
            raise ValueError(f"expected a time 'HH:MM' in quotes, got {v!r}")
        return v

    @property
    def start_time(self) -> dt.time:
        return dt.time.fromisoformat(self.start)

    @property
    def end_time(self) -> dt.time:
        return dt.time.fromisoformat(self.end)


class DingTalk(_Strict):
    token: Secret
    secret: Secret | None = None
    _secret = field_validator("token", "secret", mode="before")(_secret_ref)


class WeCom(_Strict):
    key: Secret
    _secret = field_validator("key", mode="before")(_secret_ref)


class Feishu(_Strict):
    token: Secret
    _secret = field_validator("token", mode="before")(_secret_ref)


class Webhook(_Strict):
    url: Annotated[str, Field(pattern=r"^https?://")]


class Head(_Strict):
    email: list[str] = Field(default_factory=list)
    phone: list[str] = Field(default_factory=list)
    _e = field_validator("email")(classmethod(lambda cls, v: _check_emails(v)))
    _p = field_validator("phone")(classmethod(lambda cls, v: _check_phones(v)))


class ParticipantContacts(_Strict):
    name: str | None = None
    email: list[str] = Field(default_factory=list)
    phone: list[str] = Field(default_factory=list)
    dingtalk: DingTalk | None = None
    wecom: WeCom | None = None
    feishu: Feishu | None = None
    webhook: Webhook | None = None
    head: Head | None = None
    _e = field_validator("email")(classmethod(lambda cls, v: _check_emails(v)))
    _p = field_validator("phone")(classmethod(lambda cls, v: _check_phones(v)))


class Contacts(_Strict):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, title="Yearwheel contacts")

    version: Literal[1]
    email: EmailServer | None = None
    sms: SmsGateway | None = None
    quiet_hours: QuietHours = QuietHours()
    participants: dict[str, ParticipantContacts] = Field(default_factory=dict)

    @classmethod
    def empty(cls) -> Contacts:
        return cls(version=1)

    def entry(self, participant: str, audience: str = "self") -> ParticipantContacts | Head | None:
        p = self.participants.get(participant)
        if p is None:
            return None
        return p.head if audience == "head" else p

    def channels(self, participant: str, audience: str = "self") -> tuple[str, ...]:
        """Channels this participant (or its head) can be reached on, in a fixed order.
        A channel counts only when its server is configured too (email, SMS)."""
        e = self.entry(participant, audience)
        if e is None:
            return ()
        have = {
            "email": bool(e.email) and self.email is not None,
            "sms": bool(e.phone) and self.sms is not None,
            "dingtalk": getattr(e, "dingtalk", None) is not None,
            "wecom": getattr(e, "wecom", None) is not None,
            "feishu": getattr(e, "feishu", None) is not None,
            "webhook": getattr(e, "webhook", None) is not None,
        }
        return tuple(c for c in CHANNELS if have[c])


def address_id(channel: str, address: str) -> str:
    """A short stable id for one address on one channel — part of the outbox key, so that
    each address gets its own row (a failure at one never re-sends to another) without
    putting phone numbers or addresses into keys."""
    return hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()[:12]


def _ref(secret: EnvSecret | PrefectSecret) -> str:
    return f"env:{secret.env}" if isinstance(secret, EnvSecret) else f"prefect:{secret.prefect_secret}"


def addresses(contacts: Contacts, participant: str, audience: str, channel: str) -> list[str]:
    """The addresses of one channel, as written in the file (secrets by their reference)."""
    e = contacts.entry(participant, audience)
    if e is None:
        return []
    if channel == "email":
        return list(e.email)
    if channel == "sms":
        return list(e.phone)
    chat: Any = getattr(e, channel, None) if channel in CHAT_CHANNELS else None  # heads have email only
    if chat is None:
        return []
    if channel == "webhook":
        return [chat.url]
    return [_ref(chat.key if channel == "wecom" else chat.token)]


def routes(contacts: Contacts, participant: str, audience: str = "self") -> tuple[tuple[str, str], ...]:
    """(channel, address id) for every address this participant (or its head) has."""
    return tuple(
        (ch, address_id(ch, a))
        for ch in contacts.channels(participant, audience)
        for a in addresses(contacts, participant, audience, ch)
    )


def load_contacts(path: Path | str) -> Contacts:
    """Read and check a contacts file; ContactsInvalid lists FILE:LINE:COLUMN problems."""
    try:
        return parse_model(read(path), Contacts)
    except CalendarInvalid as exc:
        raise ContactsInvalid(exc.problems) from None
