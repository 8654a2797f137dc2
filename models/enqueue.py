"""Queueing outbox rows: one per address of a recipient, with a deterministic key, inserted
set-based so that queueing the same step again inserts nothing. The text is not written
here: it is rendered when a sender claims the row (``models.outbox``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import vocabulary as V
from .outbox import Messenger
from .tables import OutboxMessage, Task


_PLAIN = re.compile(r"[0-9A-Za-z_.\-]+")


def outbox_row(
    *,
    key: str,
    programme: str,
    task_id: int | None,
    kind: str,
    step: str,
    recipient: str,
    audience: str,
    channel: str,
    address: str | None,
    at: dt.datetime,
    due_at: dt.datetime,
    not_before: dt.datetime,
    stale_at: dt.datetime | None,
    for_due: dt.date | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One pending outbox row (its text is written when it is claimed). Every row has the
    same keys, so many go in one Core executemany."""
    return {
        "key": key,
        "programme": programme,
        "task_id": task_id,
        "kind": kind,
        "step": step,
        "recipient": recipient,
        "audience": audience,
        "channel": channel,
        "address": address,
        "subject": "",
        "body": "",
        "state": V.PENDING,
        "created_at": at,
        "due_at": due_at,
        "stale_at": stale_at,
        "for_due": for_due,
        "params": params,
        "attempts": 0,
        "not_before": not_before,
        "last_error": None,
    }


def message_rows(
    messenger: Messenger,
    *,
    key: str,
    programme: str,
    task_id: int | None,
    kind: str,
    step: str,
    recipient: str,
    audience: str,
    at: dt.datetime,
    due_at: dt.datetime,
    stale_at: dt.datetime | None,
    for_due: dt.date | None = None,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One outbox row per address of ``recipient`` (a failure at one address is retried
    without sending to the others again); [] when the recipient has no contact at all."""
    return [
        outbox_row(
            key=f"{key}/{channel}/{address}",
            programme=programme,
            task_id=task_id,
            kind=kind,
            step=step,
            recipient=recipient,
            audience=audience,
            channel=channel,
            address=address,
            at=at,
            due_at=due_at,
            not_before=messenger.release_time(channel, max(due_at, at)),
            stale_at=stale_at,
            for_due=for_due,
            params=params,
        )
        for channel, address in messenger.routes(recipient, audience)
    ]


def skipped_row(
    *,
    key: str,
    programme: str,
    task_id: int | None,
    kind: str,
    step: str,
    recipient: str,
    at: dt.datetime,
    due_at: dt.datetime,
    stale_at: dt.datetime | None,
    for_due: dt.date | None,
    why: str,
) -> dict[str, Any]:
    """A step recorded as not sent (too late to be worth it), so it is never queued again."""
    row = outbox_row(
        key=f"{key}/-/skipped",
        programme=programme,
        task_id=task_id,
        kind=kind,
        step=step,
        recipient=recipient,
        audience="self",
        channel="-",
        address=None,
        at=at,
        due_at=due_at,
        not_before=at,
        stale_at=stale_at,
        for_due=for_due,
    )
    return {**row, "state": V.SKIPPED, "last_error": why}


def insert_new(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the rows whose key is not in the outbox yet; returns those (a message queued
    once a day or once a month is counted once, however often this runs)."""
    if rows:
        keys = [r["key"] for r in rows]
        have: set[str] = set()
        for i in range(0, len(keys), 2000):
            have.update(session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys[i : i + 2000]))))
        rows = [r for r in rows if r["key"] not in have]
    insert_ignore(session, rows)
    return rows


def insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows; a row whose key exists (another run queued it) is left alone."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["key"])
    conn = session.connection()  # Core: the ORM's bulk path cost more than the insert itself
    for i in range(0, len(rows), 2000):
        conn.execute(stmt, rows[i : i + 2000])


def owner_key(participant: str, item_key: str = "", generation: int = 0) -> str:
    """Who a task's messages are keyed by: the participant, and a fan-out task's item (a
    division owing three measures gets three notices, not one) — the key as it is when
    short and plain, else a digest of it (keys are bounded; '/' separates their parts) —
    and the item's generation (a task revived after its row came back is reminded anew)."""
    if not item_key:
        return participant
    safe = (
        item_key
        if len(item_key) <= 40 and _PLAIN.fullmatch(item_key)
        else "h" + hashlib.sha256(item_key.encode()).hexdigest()[:16]
    )
    return f"{participant}#{safe}" + (f"~{generation}" if generation else "")


def step_key(step: str, generation: int = 0) -> str:
    """A reminder step's key for a task of ``generation`` (0: the task as first made)."""
    return f"{step}~{generation}" if generation else step


def milestone_key(programme: str, year: int, milestone: str) -> str:
    """The start of every outbox key about one milestone of one programme year — one
    spelling, so that the same message queued from two places is the same row."""
    return f"{programme}/{year}/{milestone}"


def queue_message(
    session: Session,
    messenger: Messenger,
    *,
    task: Task,
    programme: str,
    key_prefix: str,
    step: str,
    kind: str,
    at: dt.datetime,
    params: dict[str, Any] | None = None,
) -> int:
    """Queue a one-off message to the task's participant (acknowledgement, returned, due
    changed); its text is rendered when it is sent. Returns the rows queued."""
    rows = message_rows(
        messenger,
        key=f"{key_prefix}/{step}/{owner_key(task.participant, task.item_key, int((task.item or {}).get('generation', 0)))}",
        programme=programme,
        task_id=task.id,
        kind=kind,
        step=step,
        recipient=task.participant,
        audience="self",
        at=at,
        due_at=at,
        stale_at=None,
        for_due=task.due if kind in V.FOLLOWS_DUE_KINDS else None,
        params=params,
    )
    insert_ignore(session, rows)
    return len(rows)
