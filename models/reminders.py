"""Queueing the reminder steps that are due: for one programme's awaiting tasks, every step
of their reminder policy (opening notice, reminders, chasers, escalations — see
``timeline.chase``) due by the run's instant and not yet queued or skipped becomes outbox
rows (one per recipient address), and each task read keeps the instant its next step may
be queued (``tasks.next_step_at``), so a run with nothing due reads no task. Part of the
reconcile (``models.reconcile``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import states as S
from . import vocabulary as V
from .due import Due
from .enqueue import insert_ignore, message_rows, milestone_key, owner_key, skipped_row, step_key
from .ledger import LoadedProgramme
from .outbox import Messenger
from .tables import MilestoneInstance, OutboxMessage, ProgrammeYear, Task
from .timeline import WorkdayCalendar, minute
from .timeline.chase import Step, task_steps
from .timeline.plan import depends_on_provisional

if TYPE_CHECKING:
    from .reconcile import AdvanceReport


@dataclass(frozen=True)
class _TaskFacts:
    """The columns of a task that reminders need — plain values, not ORM objects: loading
    14,000 entities cost more than everything else a no-op run does."""

    id: int
    participant: str
    state: str
    opens: dt.date | None
    due: dt.date
    item_key: str = ""
    generation: int = 0  # a fan-out task revived after its row came back: reminded anew


def steps_due(at: Any) -> Due:
    """The awaiting tasks whose next step instant has come by ``at`` or is not known
    (``at`` None: every awaiting task)."""
    if at is None:
        return Due(S.AWAITING, Task.next_step_at)
    return Due(S.AWAITING, Task.next_step_at, at, or_null=True)


def queue_reminders(
    session: Session,
    prog: LoadedProgramme,
    py_ids: list[int],
    cal: WorkdayCalendar,
    messenger: Messenger,
    at: dt.datetime,
    report: AdvanceReport,
    *,
    task_ids: list[int] | None = None,
) -> None:
    """Queue every step of ``prog``'s awaiting tasks that is due by ``at`` and not yet
    queued (or skipped). Only the tasks whose ``next_step_at`` has come (or is not known)
    are read: a run with nothing due is one index lookup, whatever the size of the ledger;
    each task read gets its next step instant reckoned again."""
    if not py_ids:
        return
    cal = cal.for_spec(prog.spec)
    awaiting = steps_due(at if task_ids is None else None).where(py_ids)
    q = select(
        Task.id, Task.participant, Task.state, Task.opens, Task.due, Task.milestone_instance_id, Task.item_key, Task.item
    ).where(awaiting)
    if task_ids is not None:
        q = q.where(Task.id.in_(task_ids))
    facts = session.execute(q).all()
    if not facts:
        return
    mis = {mi.id: mi for mi in session.scalars(select(MilestoneInstance).where(MilestoneInstance.programme_year_id.in_(py_ids)))}
    pys = {py.id: py for py in session.scalars(select(ProgrammeYear).where(ProgrammeYear.id.in_(py_ids)))}
    done: set[tuple[int | None, str]] = set()
    if task_ids is None:  # one statement, whatever the number of tasks
        done.update(
            (t, k)
            for t, k in session.execute(
                select(OutboxMessage.task_id, OutboxMessage.step)
                .join(Task, Task.id == OutboxMessage.task_id)
                .where(awaiting)
                .distinct()
            )
        )
    else:
        for i in range(0, len(task_ids), 5000):
            done.update(
                (t, k)
                for t, k in session.execute(
                    select(OutboxMessage.task_id, OutboxMessage.step)
                    .where(OutboxMessage.task_id.in_(task_ids[i : i + 5000]))
                    .distinct()
                )
            )

    groups: dict[tuple, list[_TaskFacts]] = defaultdict(list)
    for i, p, st, op, du, m, item_key, item in facts:
        generation = int((item or {}).get("generation", 0)) if item_key else 0
        groups[(m, op, du)].append(_TaskFacts(i, p, st, op, du, item_key or "", generation))

    policies = {p.id: p for p in prog.spec.reminder_policies}
    roles = {x.id: x for x in prog.spec.roles}
    new_rows: list[dict[str, Any]] = []
    waits: dict[int, list[tuple[Step, bool]]] = {}  # task → its steps not written, and whether each was held
    for (mi_id, opens, due), members in groups.items():
        mi = mis[mi_id]
        py = pys[mi.programme_year_id]
        start = max(dt.date(py.year, 1, 1), prog.spec.programme.in_force_from or dt.date.min)
        policy = policies.get(mi.reminder_policy) if mi.reminder_policy else None
        for task in members:
            waits[task.id] = []
        for step in task_steps(policy, opens=opens, due=due, cal=cal, year_start=start, missing=report.missing_years):
            if step.at > at:
                for task in members:
                    if (task.id, step_key(step.key, task.generation)) not in done:
                        waits[task.id].append((step, False))
                continue
            if depends_on_provisional(cal, [opens, due, step.at.date()]):
                # nothing dated on a guess is sent: held (not queued) until the notice is imported
                waiting = [t for t in members if (t.id, step_key(step.key, t.generation)) not in done]
                if waiting:
                    report.held[f"{py.programme}/{py.year}/{mi.milestone}/{step.key}"] = len(waiting)
                for task in waiting:
                    waits[task.id].append((step, True))
                continue
            for task in members:
                if (task.id, step_key(step.key, task.generation)) in done:
                    continue
                stale = step.stale_at is not None and at >= step.stale_at
                if not stale and not _applies(step, task):
                    waits[task.id].append((step, False))
                    continue  # e.g. a chaser for a task that is not late (yet)
                rows = _step_rows(
                    prog, py, mi, task, step, roles, messenger, at, report, digest=bool(policy and policy.escalation_digest)
                )
                if not rows:
                    waits[task.id].append((step, True))  # nobody to send it to: due again at the next run
                new_rows.extend(rows)
    insert_ignore(session, new_rows)
    _keep_next_steps(session, groups, waits, at)


NEVER = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)  # no step left: read again only after a change


def _keep_next_steps(session: Session, groups: dict, waits: dict[int, list[tuple[Step, bool]]], at: dt.datetime) -> None:
    """Each task read: the earliest instant a step of it may next be written — a step still
    due (held, or nobody to send to) now; a future step when it falls due if it applies to
    the task's state, else when it goes stale (its skipped row); nothing left: NEVER. Any
    change of state, date, calendar or working days clears it (``models.states``)."""
    by_value: dict[dt.datetime, list[int]] = defaultdict(list)
    states = {t.id: t for members in groups.values() for t in members}
    for tid, steps in waits.items():
        task = states[tid]
        nxt = NEVER
        for step, stuck in steps:
            if stuck:
                when: dt.datetime | None = step.at
            elif _applies(step, task):
                when = step.at
            else:
                when = step.stale_at
            if when is not None and when < nxt:
                nxt = when
        by_value[nxt].append(tid)
    for value, ids in by_value.items():
        for i in range(0, len(ids), 5000):
            session.execute(update(Task).where(Task.id.in_(ids[i : i + 5000])).values(next_step_at=value))


def _applies(step: Step, task: _TaskFacts) -> bool:
    late = task.state == S.OVERDUE
    return late if step.kind in V.LATE_KINDS else not late


def _step_rows(
    prog: LoadedProgramme,
    py: ProgrammeYear,
    mi: MilestoneInstance,
    task: _TaskFacts,
    step: Step,
    roles: dict,
    messenger: Messenger,
    at: dt.datetime,
    report: AdvanceReport,
    *,
    digest: bool = False,
) -> list[dict[str, Any]]:
    owner = owner_key(task.participant, task.item_key, task.generation)
    base_key = f"{milestone_key(py.programme, py.year, mi.milestone)}/{owner}/{step.key}"
    # under a digest policy an escalation waits to be folded into the recipient's daily digest
    kind = V.DIGESTED_ESCALATION if digest and step.kind == V.ESCALATION else step.kind
    common: dict[str, Any] = {
        "programme": py.programme,
        "task_id": task.id,
        "kind": kind,
        "step": step_key(step.key, task.generation),
        "at": at,
        "due_at": step.at,
        "stale_at": step.stale_at,
        "for_due": task.due,
    }
    if step.stale_at is not None and at >= step.stale_at:
        report.skipped_stale += 1
        return [
            skipped_row(
                key=base_key,
                recipient=task.participant,
                **common,
                why=f"not sent: the run came after {minute(step.stale_at)}, when a later step superseded it",
            )
        ]
    recipients: list[tuple[str, str, str | None]] = []  # (participant, audience, role title)
    if step.kind == V.ESCALATION:
        for role_id in step.roles:
            role = roles[role_id]
            recipients.append((role.holder, "self", role.title) if role.holder else (task.participant, "head", role.title))
    else:
        recipients.append((task.participant, "self", None))
    out: list[dict[str, Any]] = []
    for recipient, audience, role_title in recipients:
        params = {k: v for k, v in (("chaser_number", step.number), ("escalated_to", role_title)) if v is not None}
        rows = message_rows(
            messenger, key=f"{base_key}/{recipient}", recipient=recipient, audience=audience, params=params or None, **common
        )
        if not rows:
            # Nothing is written: the step stays due, so the run after the contacts file is
            # fixed sends it (if it is still worth sending). Every run reports who is missing.
            report.undeliverable += 1
            report.unreachable.add(f"{recipient} ({audience})" if audience != "self" else recipient)
        out.extend(rows)
    report.queued[kind] += len(out)
    return out
