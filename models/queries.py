"""Read-only views of the ledger for the CLI and dashboards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from .vocabulary import SENT
from .tables import MilestoneInstance, OutboxMessage, Task
from .timeline import TZ

REMINDER_KINDS_COUNTED = ("opened", "upcoming", "due_today", "last_workday", "overdue")


# what ``status --json`` and ``simulate --json`` show of each task (item: a fan-out task's item key, else null)
STATUS_KEYS = ("milestone", "participant", "item", "state", "due", "submitted_at", "reminders_sent")


def list_task_status(session: Session, programme_year_id: int) -> list[dict[str, Any]]:
    """One entry per task: milestone, participant, state, due, submitted_at, reminders_sent
    (reminder steps delivered to the participant on at least one channel), and a fan-out
    task's item."""
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
        select(
            MilestoneInstance.milestone,
            Task.participant,
            Task.state,
            Task.due,
            Task.submitted_at,
            Task.on_time,
            sent.c.n,
            Task.item_key,
        )
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
            "item": item or None,  # a fan-out task's item key
        }
        for m, p, state, due, sub, on_time, n, item in session.execute(q)
    ]


def milestone_task_ids(session: Session, programme_year_id: int, milestone: str) -> list[int]:
    return list(
        session.scalars(
            select(Task.id)
            .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
            .where(MilestoneInstance.programme_year_id == programme_year_id, MilestoneInstance.milestone == milestone)
        )
    )


def list_outbox(session: Session, *, states: tuple[str, ...] | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Outbox rows, newest first, with their programme context — what ops reads when a
    delivery fails."""
    from .tables import ProgrammeYear

    q = (
        select(OutboxMessage, Task.participant, MilestoneInstance.milestone, ProgrammeYear.programme, ProgrammeYear.year)
        .outerjoin(Task, Task.id == OutboxMessage.task_id)  # target messages have no task
        .outerjoin(MilestoneInstance, MilestoneInstance.id == Task.milestone_instance_id)
        .outerjoin(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if states:
        q = q.where(OutboxMessage.state.in_(states))
    out = []
    for m, participant, milestone, programme, year in session.execute(q):
        out.append(
            {
                "id": m.id,
                "programme": programme,
                "year": year,
                "milestone": milestone,
                "participant": participant,
                "kind": m.kind,
                "step": m.step,
                "recipient": m.recipient,
                "audience": m.audience,
                "channel": m.channel,
                "state": m.state,
                "attempts": m.attempts,
                "not_before": m.not_before.astimezone(TZ).isoformat(),
                "sent_at": m.sent_at.astimezone(TZ).isoformat() if m.sent_at else None,
                "last_error": m.last_error,
                "subject": m.subject,
            }
        )
    return out
