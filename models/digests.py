"""Daily digests of escalations: the escalations a digest lists are bound to it when it is
first claimed, and share its outcome when that is recorded (``models.outbox`` claims and
sends the digest row like any other; ``models.reconcile.queue_digests`` queues it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import vocabulary as V
from .claims import claimable, skip_obsolete
from .ledger import LoadedProgramme
from .tables import MilestoneInstance, OutboxMessage, ProgrammeYear, Task
from .timeline import WorkdayCalendar


def fold_digests(s: Session, rows: list[dict[str, Any]], at: dt.datetime) -> set[int]:
    """Bind the escalations waiting for each claimed digest to it (``digest_id``, in one
    conditional UPDATE that re-checks each still stands and is in no other digest — so an
    escalation is in at most one). They stay ``pending`` (never claimed alone) until the
    digest's outcome is recorded: ``digested`` when it is sent, ``dead`` with it. Only the
    first attempt binds: a retry sends what the first attempt meant to send (minus tasks
    settled since, skipped here), so an attempt the server took silently and its retry
    never differ by an escalation under one Message-ID. Returns the digests with nothing left."""
    empty: set[int] = set()
    for r in rows:
        if r["kind"] != V.DIGEST:
            continue
        if r["attempts"] == 1:
            s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.kind == V.DIGESTED_ESCALATION,
                    OutboxMessage.state == V.PENDING,
                    OutboxMessage.digest_id.is_(None),
                    OutboxMessage.programme == r["programme"],
                    OutboxMessage.recipient == r["recipient"],
                    OutboxMessage.audience == r["audience"],
                    OutboxMessage.channel == r["channel"],
                    OutboxMessage.address == r["address"],
                    OutboxMessage.not_before <= at,
                    claimable(),
                )
                .values(digest_id=r["id"], last_error=None)
                .execution_options(synchronize_session=False)
            )
        bound = list(
            s.scalars(select(OutboxMessage.id).where(OutboxMessage.digest_id == r["id"], OutboxMessage.state == V.PENDING))
        )
        if bound:
            # a submission or exemption of these tasks under way commits first (or waits), as for single messages
            task_ids = select(OutboxMessage.task_id).where(OutboxMessage.id.in_(bound)).scalar_subquery()
            s.execute(select(Task.id).where(Task.id.in_(task_ids)).with_for_update(read=True)).all()
            skip_obsolete(s, bound)  # settled since they were bound: not listed
        if not s.scalar(
            select(OutboxMessage.id).where(OutboxMessage.digest_id == r["id"], OutboxMessage.state == V.PENDING).limit(1)
        ):
            empty.add(r["id"])
    return empty


def digest_outcome(s: Session, row: dict[str, Any], *, sent: bool, why: str | None = None) -> None:
    """The escalations of a digest share its outcome: ``digested`` when it was sent,
    ``dead`` (with the reason) when it was given up."""
    if row["kind"] != V.DIGEST:
        return
    in_digest = (OutboxMessage.digest_id == row["id"], OutboxMessage.state == V.PENDING)
    if sent:
        s.execute(update(OutboxMessage).where(*in_digest).values(state=V.DIGESTED).execution_options(synchronize_session=False))
    else:
        s.execute(
            update(OutboxMessage)
            .where(*in_digest)
            .values(state=V.DEAD, last_error=why)
            .execution_options(synchronize_session=False)
        )


def digest_context(
    s: Session, row: dict[str, Any], prog: LoadedProgramme, cal: WorkdayCalendar, at: dt.datetime
) -> dict[str, Any]:
    """A digest's facts: every escalation folded into it, newest first, each counted as of ``at``."""
    from .fanout import titled
    from .messages import working_days_late

    o = OutboxMessage
    items = []
    year = None
    for item, task, mi, py in s.execute(
        select(o, Task, MilestoneInstance, ProgrammeYear)
        .join(Task, Task.id == o.task_id)
        .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
        .join(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
        .where(o.digest_id == row["id"], o.state == V.PENDING)
        .order_by(o.due_at.desc(), o.id.desc())
    ):
        year = year or py.year
        items.append(
            {
                "task_id": task.id,
                "participant_name": prog.names.get(task.participant, task.participant),
                "milestone_title": titled(mi.title, task),
                "year": py.year,
                "due": task.due,
                "working_days_late": working_days_late(cal, task.due, at),
                "escalated_to": (item.params or {}).get("escalated_to"),
                "escalated_at": item.due_at,
            }
        )
    day = dt.date.fromisoformat((row["params"] or {})["day"])
    return {
        "kind": V.DIGEST,
        "programme_id": prog.id,
        "programme_title": prog.spec.programme.title,
        "year": year or day.year,
        "milestone_id": "",
        "milestone_title": "逾期上报每日汇总",
        "participant_id": row["recipient"],
        "participant_name": prog.names.get(row["recipient"], row["recipient"]),
        "due": day,
        "escalated_to": next((i["escalated_to"] for i in items if i["escalated_to"]), None),
        "items": tuple(items),
    }
