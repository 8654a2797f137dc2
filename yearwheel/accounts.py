"""Console accounts: users with a role, passwords hashed with argon2id, browser sessions
and per-user API tokens — the one place the console and the API learn who is acting.

Only hashes are stored: of passwords (argon2id), of session cookies and API tokens
(SHA-256 of 256 random bits: a stolen table opens nothing). Sign-in failures are counted
per account (ten in a row lock it for ``LOCK_FOR``) and per client address; the message
never says which of the username and the password was wrong, and an unknown username
costs the same hashing as a known one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import ratelimit
from models import vocabulary as V
from models.tables import ApiToken, User, WebSession

MAX_FAILURES = 10  # wrong passwords in a row before the account is locked …
LOCK_FOR = dt.timedelta(minutes=15)  # … for this long
CLIENT_LIMIT = 30  # sign-in attempts per client address …
CLIENT_WINDOW = dt.timedelta(minutes=10)  # … per this window
SESSION_FOR = dt.timedelta(hours=8)  # a working day; then sign in again
MIN_PASSWORD = 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
SIGN_IN_FAILED = "用户名或密码错误；连续输错多次后账号将暂时锁定，请稍后再试或联系管理员。"

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("an unknown user costs the same as a known one")
# argon2id takes 64 MiB per hash: at most this many at once, whatever the number of requests
_HASHING = threading.BoundedSemaphore(2)


class AccountError(ValueError):
    """A user-management request that cannot be done (said in the message)."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the console and the API know them."""

    id: int
    username: str
    display_name: str
    role: str
    programmes: tuple[str, ...]

    def sees(self, programme: str) -> bool:
        return self.role == V.ADMIN or "*" in self.programmes or programme in self.programmes

    def acts_on(self, programme: str) -> bool:
        return self.role == V.COORDINATOR and self.sees(programme)

    @classmethod
    def of(cls, u: User) -> Actor:
        return cls(u.id, u.username, u.display_name, u.role, tuple(u.programmes or ()))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > 512:
        raise AccountError("密码过长（最多 512 个字符）")


# --------------------------------------------------------------------------- management (CLI)


def add_user(
    sessions: sessionmaker,
    username: str,
    *,
    role: str,
    password: str,
    display_name: str | None = None,
    programmes: list[str] | None = None,
    now: dt.datetime,
) -> Actor:
    if not USERNAME.match(username):
        raise AccountError("username: 2–64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
    if role not in V.ROLES:
        raise AccountError(f"role must be one of {', '.join(V.ROLES)}")
    check_password(password)
    given = programmes or (["*"] if role == V.ADMIN else [])
    if role != V.ADMIN and not given:
        raise AccountError("give the programmes this user works on (--programme ID, or --programme '*' for all)")
    with sessions.begin() as s:
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise AccountError(f"user {username} already exists")
        u = User(
            username=username,
            display_name=(display_name or username)[:120],
            role=role,
            programmes=given,
            password_hash=_hasher.hash(password),
            disabled=False,
            failed_logins=0,
            created_at=now,
        )
        s.add(u)
        s.flush()
        return Actor.of(u)


def _user(s: Session, username: str) -> User:
    u = s.scalar(select(User).where(User.username == username))
    if u is None:
        raise AccountError(f"no user {username}")
    return u


def set_disabled(sessions: sessionmaker, username: str, disabled: bool = True) -> None:
    """Disable (or enable) a user; a disabled user's sessions and tokens stop working at once."""
    with sessions.begin() as s:
        u = _user(s, username)
        u.disabled = disabled
        if disabled:
            s.execute(delete(WebSession).where(WebSession.user_id == u.id))


def reset_password(sessions: sessionmaker, username: str, password: str) -> None:
    check_password(password)
    with sessions.begin() as s:
        u = _user(s, username)
        u.password_hash, u.failed_logins, u.locked_until = _hasher.hash(password), 0, None
        s.execute(delete(WebSession).where(WebSession.user_id == u.id))


def list_users(sessions: sessionmaker) -> list[dict]:
    with sessions() as s:
        return [
            {
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "programmes": list(u.programmes or ()),
                "disabled": u.disabled,
                "locked_until": u.locked_until.isoformat() if u.locked_until else None,
            }
            for u in s.scalars(select(User).order_by(User.username))
        ]


def new_token(sessions: sessionmaker, username: str, name: str, *, now: dt.datetime) -> tuple[int, str]:
    """A new API token for ``username``: (its id, the token — shown once, never stored)."""
    token = "yw_" + secrets.token_urlsafe(32)
    with sessions.begin() as s:
        u = _user(s, username)
        row = ApiToken(user_id=u.id, token_hash=digest(token), name=name[:120] or "script", created_at=now)
        s.add(row)
        s.flush()
        return row.id, token


def revoke_token(sessions: sessionmaker, token_id: int, *, now: dt.datetime) -> None:
    with sessions.begin() as s:
        n = s.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now))
        if not getattr(n, "rowcount", 0):
            raise AccountError(f"no active token {token_id}")


# --------------------------------------------------------------------------- sign-in (web)


def sign_in(
    sessions: sessionmaker, username: str, password: str, *, client: str, now: dt.datetime
) -> tuple[Actor, str, str] | None:
    """(the user, a new session cookie value, its CSRF token), or None — one answer for an
    unknown user, a wrong password, a disabled or locked account, or a throttled client."""
    username = username.strip().lower()[:64]
    password = password[:512]
    with sessions.begin() as s:
        if not ratelimit.hit(s, f"login:{client}", limit=CLIENT_LIMIT, window=CLIENT_WINDOW, now=now):
            return None
        u = s.scalar(select(User).where(User.username == username))
    if u is None:
        _verify(_DUMMY, password)
        with sessions.begin() as s:  # the same second transaction as for a known user: no timing tell
            ratelimit.hit(s, f"login-unknown:{client}", limit=10**9, window=CLIENT_WINDOW, now=now)
        return None
    ok = _verify(u.password_hash, password)
    with sessions.begin() as s:
        row = s.get(User, u.id)
        if row is None:
            return None
        locked = row.locked_until is not None and row.locked_until > now
        if not ok or row.disabled or locked:
            if not ok and not locked:
                # counted in the database, not read-modify-write: parallel guesses all count
                failures = s.execute(
                    update(User).where(User.id == u.id).values(failed_logins=User.failed_logins + 1).returning(User.failed_logins)
                ).scalar_one()
                if failures >= MAX_FAILURES:
                    s.execute(update(User).where(User.id == u.id).values(locked_until=now + LOCK_FOR, failed_logins=0))
            return None
        row.failed_logins, row.locked_until = 0, None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        s.add(WebSession(token_hash=digest(token), user_id=row.id, csrf=csrf, created_at=now, expires_at=now + SESSION_FOR))
        return Actor.of(row), token, csrf


def _verify(hashed: str, password: str) -> bool:
    with _HASHING:
        try:
            return _hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False


def session_user(sessions: sessionmaker, token: str | None, *, now: dt.datetime) -> tuple[Actor, str] | None:
    """The signed-in user of a session cookie and its CSRF token, or None (absent, expired,
    signed out, or the user disabled)."""
    if not token or len(token) > 200:
        return None
    with sessions() as s:
        row = s.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.token_hash == digest(token))
        ).one_or_none()
        if row is None:
            return None
        ws, u = row
        if ws.expires_at <= now or u.disabled:
            return None
        return Actor.of(u), ws.csrf


def sign_out(sessions: sessionmaker, token: str | None) -> None:
    if token:
        with sessions.begin() as s:
            s.execute(delete(WebSession).where(WebSession.token_hash == digest(token[:200])))


def token_user(sessions: sessionmaker, given: str) -> Actor | None:
    """The user of an API token (``Bearer yw_…``), or None (unknown, revoked, disabled)."""
    if not given.startswith("yw_") or len(given) > 200:
        return None
    with sessions() as s:
        row = s.execute(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == digest(given), ApiToken.revoked_at.is_(None))
        ).scalar_one_or_none()
        return None if row is None or row.disabled else Actor.of(row)
