"""Who a request comes from, as the web service believes it: the client's address (behind
a trusted reverse proxy, the one it saw), whether it came over HTTPS, whether a POST comes
from this service's own pages; and whether a database error was a lock wait."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.exc import OperationalError


def from_trusted_proxy(request: Request) -> bool:
    peer = request.client.host if request.client else "?"
    return peer in getattr(request.app.state, "trusted_proxies", frozenset())


def client_address(request: Request) -> str:
    """The client's address: the peer, or — when the peer is a trusted reverse proxy — the
    last address it put in X-Forwarded-For (the one it saw; earlier ones are the client's
    word). Rate limits count this, so behind nginx each client is counted on its own."""
    peer = request.client.host if request.client else "?"
    trusted: frozenset[str] = getattr(request.app.state, "trusted_proxies", frozenset())
    if from_trusted_proxy(request):
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
        for address in reversed(forwarded):
            if address not in trusted:
                return address[:64]
    return peer


def over_https(request: Request) -> bool:
    """Served over HTTPS: directly, or as a trusted proxy says (X-Forwarded-Proto)."""
    if request.url.scheme == "https":
        return True
    return from_trusted_proxy(request) and request.headers.get("x-forwarded-proto", "").lower() == "https"


def origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def same_site(request: Request, own: set[str]) -> bool:
    """A POST from this service's own pages: its Origin (or, failing that, its Referer) is
    this host or the configured public address. ``Origin: null`` is what a browser sends
    for our own form under ``Referrer-Policy: no-referrer``, so it passes; neither header
    is not a browser's cross-site form either. What is refused is a page of another site
    posting here. (The credential is the signed link itself — no cookie rides along — so
    this is a second line, not the first.)"""
    sent = (request.headers.get("origin") or request.headers.get("referer") or "").strip()
    if not sent or sent.lower() == "null":
        return True
    origin = origin_of(sent)
    if origin is None:
        return False
    host = request.headers.get("host", "").lower()
    return origin in own or origin in {f"http://{host}", f"https://{host}"}


def is_lock_wait(exc: OperationalError) -> bool:
    text_ = str(exc.orig).lower()
    return "locked" in text_ or "lock timeout" in text_ or "lock_timeout" in text_ or "canceling statement" in text_
