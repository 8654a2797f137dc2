"""Read-only views of the ledger for the CLI and dashboards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from .engine import SENT
from .tables import MilestoneInstance, OutboxMessage, Task
from .timeline import TZ

REMINDER_KINDS_COUNTED = ("opened", "upcoming", "due_today", "overdue")


def list_task_status(session: Session, programme_year_id: int) -> list[dict[str, Any]]:
    """One entry per task: milestone, participant, state, due, submitted_at, reminders_sent
    (reminder steps delivered to the participant on at least one channel)."""
    sent = (
        select(OutboxMessage.task_id, func.count(distinct(OutboxMessage.step)).label("n"))
        .where(
            OutboxMessage.state == SENT,
            OutboxMessage.kind.in_(REMINDER_KINDS_COUNTED),
        )
        .group_by(OutboxMessage.task_id)
        .subquery()
    )
    q = (
        select(MilestoneInstance.milestone, Task.participant, Task.state, Task.due, Task.submitted_at, Task.on_time, sent.c.n)
        .join(Task, Task.milestone_instance_id == MilestoneInstance.id)
        .outerjoin(sent, sent.c.task_id == Task.id)
        .where(MilestoneInstance.programme_year_id == programme_year_id)
        .order_by(MilestoneInstance.due, MilestoneInstance.milestone, Task.id)
    )
    return [
        {
            "milestone": m,
            "participant": p,
            "state": state,
            "due": due.isoformat(),
            "submitted_at": sub.astimezone(TZ).isoformat() if sub else None,
            "on_time": on_time,
            "reminders_sent": n or 0,
        }
        for m, p, state, due, sub, on_time, n in session.execute(q)
    ]


def outbox_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).tuples().all())
