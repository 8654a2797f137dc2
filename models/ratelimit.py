"""Rate limits kept in the ledger database: a fixed window per key.

``hit`` counts one request for ``key`` and says whether it is within ``limit`` requests
per ``window``. It is one conditional UPDATE (or an INSERT for a new key) in the caller's
transaction, so concurrent processes count together and a restart forgets nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.orm import Session

from .db import affected
from .tables import RateLimitWindow


def hit(session: Session, key: str, *, limit: int, window: dt.timedelta, now: dt.datetime) -> bool:
    """Count a request for ``key``; False when it is over ``limit`` in the current window."""
    key = key[:120]
    expired = now - window
    bump = (
        update(RateLimitWindow)
        .where(RateLimitWindow.key == key)
        .values(
            hits=case((RateLimitWindow.window_start <= expired, 1), else_=RateLimitWindow.hits + 1),
            window_start=case((RateLimitWindow.window_start <= expired, now), else_=RateLimitWindow.window_start),
        )
        .returning(RateLimitWindow.hits)
    )
    n = session.execute(bump).scalar_one_or_none()
    if n is None:
        from sqlalchemy.dialects import postgresql, sqlite

        insert: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        added = affected(
            session.execute(
                insert(RateLimitWindow).values(key=key, window_start=now, hits=1).on_conflict_do_nothing(index_elements=["key"])
            )
        )
        # another process created it in between: count this request on its row
        n = 1 if added else session.execute(bump).scalar_one()
    return n <= limit


def forget_old(session: Session, *, older_than: dt.datetime) -> int:
    """Drop windows that ended long ago (housekeeping)."""
    from sqlalchemy import delete

    return affected(session.execute(delete(RateLimitWindow).where(RateLimitWindow.window_start < older_than)))
