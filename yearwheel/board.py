"""What the coordinator's console shows: the programme-year board, a milestone, a task, the
outbox — read from the ledger with a fixed number of statements whatever the number of
bureaus (a board page loads only the participants it shows), in the colours of
``models.yearview``. The console (``yearwheel.web.console``) only renders these; acting
goes through ``usecases.coordinator_action`` and ``remind_now`` below.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from models import enqueue as E
from models import states as S
from models import vocabulary as V
from models.ledger import find_programme_year
from models.tables import Delivery, MilestoneInstance, OutboxMessage, ProgrammeYear, RollupValue, StatusChange, Submission, Task
from models.timeline import local_day
from models.fanout import titled
from models.yearview import LIGHTS, WORST, light_condition, light_of, workday_warning

from .accounts import Actor
from .runtime import Runtime

PAGE = 50  # participants per board page


class NotVisible(LookupError):
    """Not in the ledger, or not among the user's programmes (the same answer: 404)."""


@dataclass
class Board:
    programme: str
    title: str
    year: int
    milestones: list[dict[str, Any]]  # id, title, due, workstream
    rows: list[dict[str, Any]]  # participant, name, cells {milestone: {light, task_id, due}}
    counts: dict[str, int]
    total: int  # participants matching the filters
    page: int
    pages: int
    groups: list[tuple[str, str]]
    workstreams: list[tuple[str, str]]
    targets: list[dict[str, Any]] = field(default_factory=list)
    workdays: dict[int, tuple[str, str]] = field(default_factory=dict)  # this year and the next: status, source
    workday_warning: str | None = None  # from November 1st: the programme runs into a year without official data


def programme_years(rt: Runtime, actor: Actor) -> list[dict[str, Any]]:
    with rt.sessions() as s:
        rows = s.execute(select(ProgrammeYear).order_by(ProgrammeYear.programme, ProgrammeYear.year)).scalars().all()
        return [{"programme": p.programme, "year": p.year, "title": p.title} for p in rows if actor.sees(p.programme)]


def _year(s, actor: Actor, programme: str, year: int) -> ProgrammeYear:
    if not actor.sees(programme):
        raise NotVisible(programme)
    py = find_programme_year(s, programme, year)
    if py is None:
        raise NotVisible(f"{programme} {year}")
    return py


def _milestone(s, actor: Actor, programme: str, year: int, milestone: str) -> tuple[ProgrammeYear, MilestoneInstance]:
    py = _year(s, actor, programme, year)
    mi = s.scalar(
        select(MilestoneInstance).where(MilestoneInstance.programme_year_id == py.id, MilestoneInstance.milestone == milestone)
    )
    if mi is None:
        raise NotVisible(milestone)
    return py, mi


def board(
    rt: Runtime,
    actor: Actor,
    programme: str,
    year: int,
    at: dt.datetime,
    *,
    light: str = "",
    q: str = "",
    group: str = "",
    workstream: str = "",
    page: int = 1,
) -> Board:
    """One page of the board: at most ``PAGE`` participants × the milestones shown."""
    prog = rt.programme(programme)
    cal = rt.cal.for_spec(prog.spec)
    today = local_day(at)
    q = q.strip()[:100]
    with rt.sessions() as s:
        py = _year(s, actor, programme, year)
        mis = list(
            s.scalars(
                select(MilestoneInstance)
                .where(MilestoneInstance.programme_year_id == py.id)
                .order_by(MilestoneInstance.due, MilestoneInstance.milestone)
            )
        )
        stream_of = {m.id: w.id for w, m in prog.spec.milestones()}
        shown = [m for m in mis if (not workstream or stream_of.get(m.milestone) == workstream)]
        if q and any(q in m.title or q in m.milestone for m in shown):
            matched = [m for m in shown if q in m.title or q in m.milestone]
        else:
            matched = shown
        ids = [m.id for m in matched]
        in_year = set(s.scalars(select(Task.participant).where(Task.programme_year_id == py.id).distinct()))
        order = [p.id for p in prog.spec.participants if p.id in in_year] + sorted(in_year - set(prog.names))
        if group:
            members = next((set(g.members) for g in prog.spec.groups if g.id == group), set())
            order = [p for p in order if p in members]
        if q and matched is shown:  # the search names bureaus, not milestones
            order = [p for p in order if q in p or q in prog.names.get(p, "")]
        if light in LIGHTS and ids:
            having = set(
                s.scalars(
                    select(Task.participant)
                    .where(Task.milestone_instance_id.in_(ids), light_condition(light, today, cal))
                    .distinct()
                )
            )
            order = [p for p in order if p in having]
        total = len(order)
        pages = max((total + PAGE - 1) // PAGE, 1)
        page = min(max(page, 1), pages)
        here = order[(page - 1) * PAGE : page * PAGE]
        cells: dict[tuple[str, int], dict[str, Any]] = {}
        if here and ids:
            for tid, participant, mid, state, on_time, due, item_key in s.execute(
                select(
                    Task.id, Task.participant, Task.milestone_instance_id, Task.state, Task.on_time, Task.due, Task.item_key
                ).where(Task.milestone_instance_id.in_(ids), Task.participant.in_(here), Task.state != S.RETIRED)
            ):
                cell = {"task_id": tid, "light": light_of(state, on_time, due, today, cal)[0], "due": due}
                if item_key:  # fan-out: the participant's items in one cell, coloured by the most urgent
                    prev = cells.get((participant, mid))
                    cell.update(task_id=None, items=1, done=int(state == S.SUBMITTED))
                    if prev is not None:
                        light = min(prev["light"], cell["light"], key=WORST.index)
                        cell = {**prev, "light": light, "items": prev["items"] + 1, "done": prev["done"] + cell["done"]}
                cells[(participant, mid)] = cell
        counts = dict.fromkeys(LIGHTS, 0)
        if ids:
            for state, on_time, due, n in s.execute(
                select(Task.state, Task.on_time, Task.due, func.count())
                .where(Task.milestone_instance_id.in_(ids), Task.state != S.RETIRED)
                .group_by(Task.state, Task.on_time, Task.due)
            ):
                counts[light_of(state, on_time, due, today, cal)[0]] += n
        titles = {t.id: t.title for t in prog.spec.targets}
        targets = [
            {"title": titles.get(r.subject, r.subject), "value": r.value}
            for r in s.scalars(
                select(RollupValue).where(
                    RollupValue.programme_year_id == py.id, RollupValue.scope == "programme", RollupValue.metric == "target"
                )
            )
        ]
    return Board(
        programme=programme,
        title=py.title,
        year=year,
        milestones=[{"id": m.milestone, "title": m.title, "due": m.due, "pk": m.id} for m in matched],
        rows=[
            {
                "participant": p,
                "name": prog.names.get(p, p),
                "cells": {m.milestone: cells.get((p, m.id)) for m in matched},
            }
            for p in here
        ],
        counts=counts,
        total=total,
        page=page,
        pages=pages,
        groups=[(g.id, g.name) for g in prog.spec.groups],
        workstreams=[(w.id, w.title) for w in prog.spec.workstreams],
        targets=targets,
        workdays={y: cal.status(y) for y in (year, year + 1)},
        workday_warning=workday_warning(prog, year, cal, today),
    )


def milestone_page(rt: Runtime, actor: Actor, programme: str, year: int, milestone: str, at: dt.datetime) -> dict[str, Any]:
    prog = rt.programme(programme)
    cal = rt.cal.for_spec(prog.spec)
    today = local_day(at)
    with rt.sessions() as s:
        py, mi = _milestone(s, actor, programme, year, milestone)
        tasks = list(
            s.scalars(select(Task).where(Task.milestone_instance_id == mi.id, Task.state != S.RETIRED).order_by(Task.id))
        )
    rows = []
    counts = dict.fromkeys(LIGHTS, 0)
    for t in tasks:
        light, left, late = light_of(t.state, t.on_time, t.due, today, cal)
        counts[light] += 1
        rows.append(
            {
                "task_id": t.id,
                "participant": t.participant,
                "item_key": t.item_key,
                "name": titled(prog.names.get(t.participant, t.participant), t),
                "state": t.state,
                "light": light,
                "due": t.due,
                "left": left,
                "late": late,
            }
        )
    owed = [r for r in rows if r["state"] not in S.NOT_OWED]
    done = sum(1 for r in owed if r["state"] == S.SUBMITTED)
    return {
        "programme": programme,
        "year": year,
        "title": py.title,
        "milestone": mi.milestone,
        "milestone_title": mi.title,
        "due": mi.due,
        "progress": round(100.0 * done / len(owed), 1) if owed else 100.0,
        "counts": counts,
        "missing": [r for r in rows if r["state"] in S.AWAITING],
        "overdue": [r for r in rows if r["light"] == "overdue"],
        "rows": rows,
    }


def extension_date(rt: Runtime, programme: str, at: dt.datetime, working_days: int) -> dt.date:
    """The new due date of a bulk extension: ``working_days`` working days after today
    (always a working day)."""
    cal = rt.cal.for_spec(rt.programme(programme).spec)
    return cal.add(local_day(at), working_days)


def task_page(rt: Runtime, actor: Actor, task_id: int, at: dt.datetime) -> dict[str, Any]:
    with rt.sessions() as s:
        row = s.execute(
            select(Task, MilestoneInstance, ProgrammeYear)
            .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
            .join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id)
            .where(Task.id == task_id)
        ).one_or_none()
        if row is None or not actor.sees(row[2].programme):
            raise NotVisible(str(task_id))
        task, mi, py = row
        history = list(
            s.scalars(select(StatusChange).where(StatusChange.task_id == task.id).order_by(StatusChange.at, StatusChange.id))
        )
        versions = list(s.scalars(select(Submission).where(Submission.task_id == task.id).order_by(Submission.version)))
        messages = list(s.scalars(select(OutboxMessage).where(OutboxMessage.task_id == task.id).order_by(OutboxMessage.id)))
        deliveries: dict[int, list[Delivery]] = {}
        if messages:
            for d in s.scalars(select(Delivery).where(Delivery.outbox_id.in_([m.id for m in messages])).order_by(Delivery.id)):
                deliveries.setdefault(d.outbox_id, []).append(d)
        prog = rt.programme(py.programme)
        cal = rt.cal.for_spec(prog.spec)
        light = light_of(task.state, task.on_time, task.due, local_day(at), cal)[0]
        form = prog.forms.get(mi.form) if mi.form else None
        labels = {f.id: f.label for f in getattr(form, "fields", [])}
        # side by side: one row per field (the form's order, then any other), one column per
        # version; a cell is marked when it differs from the version before
        keys = [f.id for f in getattr(form, "fields", [])]
        keys += [k for v in versions for k in (v.payload or {}) if k not in keys]
        keys = list(dict.fromkeys(keys))
        out_versions = []
        before: dict[str, Any] | None = None
        for v in versions:
            payload = v.payload or {}
            out_versions.append(
                {
                    "version": v.version,
                    "received_at": v.received_at,
                    "on_time": v.on_time,
                    "actor": v.actor,
                    "cells": {
                        k: {"value": payload.get(k), "changed": before is not None and payload.get(k) != before.get(k)}
                        for k in keys
                    },
                    "attachments": v.attachments or [],
                }
            )
            before = payload
        return {
            "task_id": task.id,
            "programme": py.programme,
            "year": py.year,
            "title": py.title,
            "milestone": mi.milestone,
            "milestone_title": titled(mi.title, task),
            "item_key": task.item_key,
            "item": task.item,
            "participant": task.participant,
            "name": prog.names.get(task.participant, task.participant),
            "state": task.state,
            "light": light,
            "due": task.due,
            "original_due": task.original_due,
            "accepted": task.accepted_at is not None,
            "history": [
                {"at": h.at, "from": h.from_state, "to": h.to_state, "actor": h.actor, "reason": h.reason} for h in history
            ],
            "versions": list(reversed(out_versions)),  # the newest first
            "fields": [(k, labels.get(k, k)) for k in keys if any(v["cells"][k]["value"] is not None for v in out_versions)],
            "messages": [
                {
                    "kind": V.KINDS[m.kind].zh if m.kind in V.KINDS else m.kind,
                    "channel": m.channel,
                    "recipient": m.recipient,
                    "state": m.state,
                    "sent_at": m.sent_at,
                    "error": m.last_error,
                    "tries": [(d.started_at, d.outcome, d.code) for d in deliveries.get(m.id, [])],
                }
                for m in messages
            ],
            "can_act": actor.acts_on(py.programme),
        }


def attachment(rt: Runtime, actor: Actor, task_id: int, sha256: str) -> dict[str, Any]:
    """The stored evidence file ``sha256`` of one of the task's versions (its name, type, path)."""
    with rt.sessions() as s:
        row = s.execute(
            select(Task, ProgrammeYear).join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id).where(Task.id == task_id)
        ).one_or_none()
        if row is None or not actor.sees(row[1].programme):
            raise NotVisible(str(task_id))
        for v in s.scalars(select(Submission).where(Submission.task_id == task_id)):
            for f in v.attachments or []:
                if f.get("sha256") == sha256 and f.get("path"):
                    return f
    raise NotVisible(sha256)


def outbox_page(rt: Runtime, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
    """Messages that failed (waiting for a retry) or were given up, newest first — of the
    programmes the user may see (a message about a target has no task: its own programme)."""
    from sqlalchemy import and_, or_

    programme = func.coalesce(ProgrammeYear.programme, OutboxMessage.programme)
    q = (
        select(OutboxMessage, Task.participant, MilestoneInstance.milestone, programme, ProgrammeYear.year)
        .outerjoin(Task, Task.id == OutboxMessage.task_id)
        .outerjoin(MilestoneInstance, MilestoneInstance.id == Task.milestone_instance_id)
        .outerjoin(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
        .where(or_(OutboxMessage.state == V.DEAD, and_(OutboxMessage.state == V.PENDING, OutboxMessage.last_error.is_not(None))))
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if not (actor.role == V.ADMIN or "*" in actor.programmes):
        q = q.where(programme.in_(actor.programmes))
    with rt.sessions() as s:
        return [
            {
                "programme": prog,
                "year": year,
                "milestone": milestone,
                "participant": participant,
                "recipient": m.recipient,
                "channel": m.channel,
                "state": m.state,
                "last_error": m.last_error,
            }
            for m, participant, milestone, prog, year in s.execute(q)
        ]


def remind_now(rt: Runtime, actor: Actor, programme: str, year: int, milestone: str, at: dt.datetime) -> int:
    """Queue a reminder, today, to every bureau that still owes ``milestone`` — once a day at
    most (the outbox key carries the day), sent by the outbox like every other message."""
    if not actor.acts_on(programme):
        raise NotVisible(programme)
    today = local_day(at)
    n = 0
    with rt.sessions.begin() as s:
        py, mi = _milestone(s, actor, programme, year, milestone)
        for t in s.scalars(select(Task).where(Task.milestone_instance_id == mi.id, Task.state.in_(S.AWAITING))):
            n += E.queue_message(
                s,
                rt.messenger,
                task=t,
                programme=programme,
                key_prefix=E.milestone_key(programme, year, milestone),
                step=f"reminded@{today}",  # one a day per bureau, whoever asks
                kind=V.OVERDUE if t.state == S.OVERDUE else V.UPCOMING,
                at=at,
            )
    return n
