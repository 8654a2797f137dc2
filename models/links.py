"""Signed links for bureau intake: one per task, one purpose, an expiry.

A token is ``base64url(claims) "." base64url(HMAC-SHA256(secret, "yearwheel-link/v1." + claims))``
with claims ``{"t": task id, "p": participant, "u": purpose, "e": expiry (unix seconds)}``.
Anyone holding the link may submit for that one task until it expires; nothing in it can
be changed without the secret (the signature covers every claim), and a link for one
purpose (``submit``) is refused for another. Verification is constant-time and says only
"invalid" — why a link failed is logged by the caller, never shown to its holder.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

DOMAIN = b"yearwheel-link/v1."
SUBMIT = "submit"
MIN_SECRET_BYTES = 32


class LinkInvalid(Exception):
    """The link is malformed, tampered with, expired or for another purpose."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why  # for the server's log only


@dataclass(frozen=True)
class Claims:
    task_id: int
    participant: str
    purpose: str
    expires: dt.datetime


def check_secret(secret: bytes) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the link secret must be at least {MIN_SECRET_BYTES} bytes (got {len(secret)}); "
            "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64 = re.compile(r"[A-Za-z0-9_-]+")


def _unb64(text: str) -> bytes:
    """Strict: only the canonical unpadded base64url text of some bytes is accepted. The
    lenient decoder also takes padding, stray characters and non-zero trailing bits, so a
    link could be varied at will and still verify (and dodge a rate limit keyed on it)."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not canonical base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # non-zero padding bits: another spelling of the same bytes
        raise ValueError("not canonical base64url")
    return data


def sign(secret: bytes, task_id: int, participant: str, expires: dt.datetime, purpose: str = SUBMIT) -> str:
    if expires.tzinfo is None:
        raise ValueError("a link expiry must be timezone-aware")
    claims = _b64(
        json.dumps(
            {"t": task_id, "p": participant, "u": purpose, "e": int(expires.timestamp())}, separators=(",", ":"), sort_keys=True
        ).encode()
    )
    mac = hmac.new(check_secret(secret), DOMAIN + claims.encode("ascii"), hashlib.sha256).digest()
    return f"{claims}.{_b64(mac)}"


def verify(secret: bytes, token: str, *, now: dt.datetime, purpose: str = SUBMIT) -> Claims:
    if not isinstance(token, str) or len(token) > 512 or token.count(".") != 1:
        raise LinkInvalid("malformed")
    claims_part, mac_part = token.split(".")
    try:
        given = _unb64(mac_part)
        expected = hmac.new(check_secret(secret), DOMAIN + claims_part.encode("ascii"), hashlib.sha256).digest()
    except (ValueError, UnicodeEncodeError):
        raise LinkInvalid("malformed") from None
    if not hmac.compare_digest(given, expected):
        raise LinkInvalid("bad signature")
    try:
        c = json.loads(_unb64(claims_part))
        claims = Claims(int(c["t"]), str(c["p"]), str(c["u"]), dt.datetime.fromtimestamp(int(c["e"]), dt.timezone.utc))
    except (ValueError, KeyError, TypeError):
        raise LinkInvalid("malformed claims") from None
    if claims.purpose != purpose:
        raise LinkInvalid(f"purpose {claims.purpose!r}, not {purpose!r}")
    if now >= claims.expires:
        raise LinkInvalid("expired")
    return claims


def token_id(token: str) -> str:
    """A short stable id of a token, for logs (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


def claims_key(claims: Claims) -> str:
    """What a per-link rate limit counts: the verified claims, not the token's spelling."""
    return f"link:{claims.purpose}:{claims.task_id}:{claims.participant}"
