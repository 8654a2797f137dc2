"""Use cases a bureau or a coordinator starts: submit, return for revision, extend, exempt.

Each takes an explicit session (the caller owns the transaction) and writes its audit
rows through ``states``. A submission is validated against the milestone's form before
anything is written: an invalid payload raises ``PayloadInvalid`` and stores nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import activity as A
from . import states as S
from . import vocabulary as V
from .forms import PayloadInvalid, validate_payload
from .ledger import LoadedProgramme, find_programme_year
from .messages import working_days_late
from .enqueue import milestone_key, queue_message
from .claims import skip_obsolete
from .outbox import Messenger
from .tables import MilestoneInstance, OutboxMessage, ProgrammeYear, StatusChange, Submission, Task
from .timeline import TZ, WorkdayCalendar, local_day


class NotFound(LookupError):
    pass


class NotAllowed(ValueError):
    pass


@dataclass(frozen=True)
class TaskRef:
    task: Task
    mi: MilestoneInstance
    py: ProgrammeYear


def find_task(session: Session, programme: str, year: int, milestone: str, participant: str, item: str | None = None) -> TaskRef:
    """The task of ``participant`` for ``milestone`` — for a fan-out milestone, of ``item``
    (its key), which must be named when the participant owes several."""
    py = find_programme_year(session, programme, year)
    if py is None:
        raise NotFound(
            f"{programme} {year} is not in the ledger yet: run `yearwheel advance` first (it compiles the year when it is due)"
        )
    mi = session.scalars(
        select(MilestoneInstance).where(MilestoneInstance.programme_year_id == py.id, MilestoneInstance.milestone == milestone)
    ).one_or_none()
    if mi is None:
        known = ", ".join(
            sorted(session.scalars(select(MilestoneInstance.milestone).where(MilestoneInstance.programme_year_id == py.id)))
        )
        raise NotFound(f"milestone {milestone!r} is not held in {programme} {year}; known: {known}")
    q = select(Task).where(Task.milestone_instance_id == mi.id, Task.participant == participant)
    if item is not None:
        q = q.where(Task.item_key == item)
    found = list(session.scalars(q.with_for_update()))
    if item is None and len(found) > 1:  # a retired item is not owed: it makes no choice to name
        found = [t for t in found if t.state != S.RETIRED] or found
    if len(found) > 1:
        keys = ", ".join(t.item_key for t in found[:20]) + (" …" if len(found) > 20 else "")
        raise NotFound(f"{participant} owes {milestone} for {len(found)} items; name one (--item KEY): {keys}")
    task = found[0] if found else None
    if task is None and item:
        raise NotFound(f"{participant} owes no task of {milestone} for item {item!r}")
    if task is None:
        assignees = ", ".join(sorted(session.scalars(select(Task.participant).where(Task.milestone_instance_id == mi.id))))
        raise NotFound(f"{participant!r} is not an assignee of {milestone} in {year}; assignees: {assignees}")
    return TaskRef(task, mi, py)


def submit(
    session: Session,
    prog: LoadedProgramme,
    ref: TaskRef,
    payload: Any,
    *,
    at: dt.datetime,
    actor: str,
    source: str | None,
    messenger: Messenger,
    cal: WorkdayCalendar,
    attachments: list[dict[str, Any]] | None = None,
) -> Submission:
    """Record a submission (validated first), close the task and queue an acknowledgement.

    A bureau may submit again — a new version — until the coordinator accepts; the task's
    on-time mark follows the latest version (what stands is what counts)."""
    task = ref.task
    if ref.mi.form:
        clean = validate_payload(prog.spec, ref.mi.form, payload)
    else:
        if payload not in (None, {}):
            raise PayloadInvalid.single("", f"milestone {ref.mi.milestone} has no form; submit an empty file or {{}}")
        clean = {}
    if task.state == S.SUBMITTED and task.accepted_at is not None:
        raise NotAllowed(
            f"{task.participant}'s {ref.mi.milestone} was accepted on {task.accepted_at.astimezone(TZ):%Y-%m-%d}; "
            "a new version is possible only after the coordinator returns it for revision"
        )
    if task.state not in (S.WAITING, S.SUBMITTED, *S.AWAITING):
        raise NotAllowed(f"{task.participant} is {task.state} for {ref.mi.milestone}; nothing to submit")
    version = (session.scalar(select(func.max(Submission.version)).where(Submission.task_id == task.id)) or 0) + 1
    on_time = local_day(at) <= task.due
    sub = Submission(
        task_id=task.id,
        version=version,
        payload=clean,
        received_at=at,
        on_time=on_time,
        actor=actor,
        source=source,
        attachments=attachments or None,
    )
    session.add(sub)
    reason = f"version {version} received {'on time' if on_time else 'late'}"
    if task.state == S.SUBMITTED:  # a re-submission before acceptance: same state, audited
        S.record_event(
            session,
            task,
            at=at,
            actor=actor,
            reason=reason + " (replaces the previous version)",
            details={"version": version},
            event=A.RESUBMITTED,
        )
    else:
        S.change_state(session, task, S.SUBMITTED, at=at, actor=actor, reason=reason, details={"version": version})
    task.submitted_at, task.on_time = at, on_time
    session.flush()
    queue_message(
        session,
        messenger,
        task=task,
        programme=ref.py.programme,
        key_prefix=_prefix(ref),
        step=f"ack-v{version}",
        kind=V.ACKNOWLEDGEMENT,
        at=at,
        params={
            "submitted_at": at.isoformat(),
            "on_time": on_time,
            "version": version,
            "working_days_late": working_days_late(cal, task.due, at) or None,
        },
    )
    return sub


def _prefix(ref: TaskRef) -> str:
    return milestone_key(ref.py.programme, ref.py.year, ref.mi.milestone)


def return_for_revision(
    session: Session, prog: LoadedProgramme, ref: TaskRef, *, at: dt.datetime, actor: str, reason: str, messenger: Messenger
) -> None:
    if not reason.strip():
        raise NotAllowed("say why the submission is returned (--reason)")
    task = ref.task
    S.change_state(session, task, S.RETURNED, at=at, actor=actor, reason=reason)
    task.on_time = None
    task.accepted_at = task.accepted_by = None
    n = session.scalar(
        select(func.count()).select_from(StatusChange).where(StatusChange.task_id == task.id, StatusChange.to_state == S.RETURNED)
    )
    session.flush()
    queue_message(
        session,
        messenger,
        task=task,
        programme=ref.py.programme,
        key_prefix=_prefix(ref),
        step=f"returned-{n}",
        kind=V.RETURNED,
        at=at,
        params={"reason": reason},
    )


def accept(session: Session, ref: TaskRef, *, at: dt.datetime, actor: str, reason: str = "accepted") -> None:
    """The coordinator accepts the latest version: no more re-submissions (unless returned)."""
    task = ref.task
    if task.state != S.SUBMITTED:
        raise NotAllowed(f"{task.participant} is {task.state} for {ref.mi.milestone}; only a submission can be accepted")
    if task.accepted_at is not None:
        raise NotAllowed(f"{task.participant}'s {ref.mi.milestone} is already accepted")
    version = session.scalar(select(func.max(Submission.version)).where(Submission.task_id == task.id))
    S.record_event(
        session,
        task,
        at=at,
        actor=actor,
        reason=f"accepted version {version}: {reason}",
        details={"version": version},
        event=A.ACCEPTED,
    )
    task.accepted_at, task.accepted_by = at, actor


def extend(
    session: Session,
    ref: TaskRef,
    new_due: dt.date,
    *,
    at: dt.datetime,
    actor: str,
    reason: str,
    messenger: Messenger | None = None,
    cal: WorkdayCalendar | None = None,
) -> None:
    """Move one participant's due date. Reminders queued for the old date are dropped and
    later ones follow the new date (their keys carry it); the bureau is told the new date
    (截止日期调整). With ``cal``, a new date that is not a working day is refused."""
    if not reason.strip():
        raise NotAllowed("say why the extension is granted (--reason)")
    task = ref.task
    if task.state in (S.SUBMITTED, *S.NOT_OWED):
        raise NotAllowed(f"{task.participant} is {task.state} for {ref.mi.milestone}; nothing to extend")
    old = task.due
    if new_due == old:
        raise NotAllowed(f"{task.participant}'s {ref.mi.milestone} is already due {old}")
    if new_due < old or new_due < local_day(at):
        raise NotAllowed(
            f"an extension moves the due date later: {new_due} is before "
            + (f"the current due date {old}" if new_due < old else f"today ({local_day(at)})")
        )
    if cal is not None and not cal.is_workday(new_due):
        nxt = cal.on_or_after(new_due)
        raise NotAllowed(f"{new_due} is not a working day; the next working day is {nxt}")
    S.record_event(
        session,
        task,
        at=at,
        actor=actor,
        reason=f"extension: due {old} → {new_due}: {reason}",
        details={"old_due": str(old), "new_due": str(new_due)},
        event=A.EXTENDED,
    )
    task.due = new_due
    if task.state == S.OVERDUE and new_due >= local_day(at):
        S.change_state(session, task, S.OPEN, at=at, actor=actor, reason=f"extended to {new_due}")
    session.flush()
    pending = list(
        session.scalars(select(OutboxMessage.id).where(OutboxMessage.task_id == task.id, OutboxMessage.state == V.PENDING))
    )
    if pending:
        skip_obsolete(session, pending)  # reminders of the old date: superseded, never sent
    if messenger is not None:
        queue_message(
            session,
            messenger,
            task=task,
            programme=ref.py.programme,
            key_prefix=_prefix(ref),
            step=f"due-changed@{new_due}",
            kind=V.DUE_CHANGED,
            at=at,
            params={"old_due": old.isoformat(), "reason": reason},
        )


def exempt(session: Session, ref: TaskRef, *, at: dt.datetime, actor: str, reason: str) -> None:
    if not reason.strip():
        raise NotAllowed("say why the participant is exempted (--reason)")
    S.change_state(session, ref.task, S.EXEMPTED, at=at, actor=actor, reason=reason)
