"""Compile a year's plan into the ledger; read it back.

``compile_year`` is idempotent: compiling the same calendar again changes nothing;
compiling an edited calendar updates milestone dates and the due dates of tasks that
still await a submission and were not individually extended (history is kept in
``status_changes``), and adds tasks for new assignees.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from . import activity as A
from . import states as S
from .tables import MilestoneInstance, ProgrammeYear, Task
from .timeline import MissingWorkdayData, ProgrammeFile, WorkdayCalendar, load_programme_file, local_day, plan_year
from .timeline.plan import YearPlan


@dataclass(frozen=True)
class LoadedProgramme:
    """A calendar file read and checked, with the digest of its bytes."""

    spec: ProgrammeFile
    path: Path
    digest: str

    @classmethod
    def read(cls, path: Path) -> LoadedProgramme:
        spec = load_programme_file(path)
        return cls(spec, path, hashlib.sha256(path.read_bytes()).hexdigest())

    @property
    def id(self) -> str:
        return self.spec.programme.id

    @cached_property
    def names(self) -> dict[str, str]:
        """Participant id → name (a lookup per message: a scan was quadratic at 2,800 bureaus);
        the experts of the programme's library too, when a milestone's tasks go to drawn experts."""
        return {**self.expert_names, **{p.id: p.name for p in self.spec.participants}}

    @cached_property
    def expert_names(self) -> dict[str, str]:
        """Expert id → name, from ``experts/<programme>.yaml`` beside the calendar, read only
        when a fan-out milestone is assigned by the draw (``assignee: {draw: …}``)."""
        drawn = any(m.for_each and m.for_each.assignee and m.for_each.assignee.draw for _, m in self.spec.milestones())
        if not drawn:
            return {}
        from .experts import DrawError, library_path, read_library

        try:
            lib, _ = read_library(library_path(self.path, self.id))
        except DrawError:
            return {}  # reported by validate; the tasks still carry the experts' ids
        return {x.id: x.name for x in lib.experts}

    @cached_property
    def first_steps(self) -> dict[tuple, Any]:
        """(year, working-day view) → the year's first step instant (``reconcile.first_step``)."""
        return {}

    @cached_property
    def statements(self) -> dict[tuple, Any]:
        """SQL statements a run builds once per process and shape (``reconcile.anything_due``):
        building one costs more than running it."""
        return {}

    @cached_property
    def forms(self) -> dict[str, Any]:
        return {f.id: f for f in self.spec.forms}


def find_programme_year(session: Session, programme: str, year: int) -> ProgrammeYear | None:
    return session.scalars(
        select(ProgrammeYear).where(ProgrammeYear.programme == programme, ProgrammeYear.year == year)
    ).one_or_none()


# Bumped when the planner's rules change what a calendar means (v2: every milestone has an
# opening date), so ledgers compiled by older code are re-projected on the next run.
PLAN_RULES = "2"


def year_digest(prog: LoadedProgramme, year: int, cal: WorkdayCalendar) -> str:
    """What a compiled year depends on: the calendar file, the planner's rules and the
    working days of the year and its neighbours (reminders and openings reach into the
    year before; chasers into the year after). A change to any re-projects the year."""
    parts = [prog.digest, PLAN_RULES] + [cal.fingerprint(y) for y in (year - 1, year, year + 1)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def year_inputs(prog: LoadedProgramme, year: int, cal: WorkdayCalendar) -> dict[str, Any]:
    """The digest's parts, kept with the compiled year so a re-projection can say why."""
    sources: dict[str, str | None] = {}
    for y in (year - 1, year, year + 1):
        try:
            sources[str(y)] = cal.source(y)
        except MissingWorkdayData:
            sources[str(y)] = None
    return {
        "calendar": prog.digest,
        "rules": PLAN_RULES,
        "workdays": {str(y): cal.fingerprint(y) for y in (year - 1, year, year + 1)},
        "sources": sources,
    }


def why_moved(before: dict[str, Any] | None, after: dict[str, Any], title: str) -> str:
    """Why a re-projection moved dates, as the bureau reads it (截止日期调整's reason)."""
    if not before:
        return "工作日安排或工作计划调整"
    reasons = []
    for y, fp in sorted(after["workdays"].items()):
        if before.get("workdays", {}).get(y) != fp:
            source = after["sources"].get(y)
            reasons.append(
                f"{y}年工作日安排调整" + (f"（{source}）" if source and not source.startswith("chinese-calendar") else "")
            )
    if before.get("calendar") != after["calendar"]:
        reasons.append(f"{title}的工作计划调整")
    if not reasons and before.get("rules") != after["rules"]:
        reasons.append("日期计算规则更新")
    return "；".join(reasons) or "工作日安排或工作计划调整"


@dataclass(frozen=True)
class Moved:
    """A task whose due date a re-projection moved (not one with its own extension)."""

    task_id: int
    old_due: dt.date
    new_due: dt.date
    reason: str


def compile_year(
    session: Session,
    prog: LoadedProgramme,
    year: int,
    cal: WorkdayCalendar,
    *,
    at: dt.datetime,
    moved: list[Moved] | None = None,
) -> tuple[ProgrammeYear, bool]:
    """Make the ledger hold ``prog``'s plan for ``year``. Returns (row, changed); the tasks
    whose due date a re-projection moved are appended to ``moved``."""
    cal = cal.for_spec(prog.spec)
    py = find_programme_year(session, prog.id, year)
    digest = year_digest(prog, year, cal)
    if py is not None and py.calendar_digest == digest:
        return py, False
    plan: YearPlan = plan_year(prog.spec, year, cal)
    inputs = year_inputs(prog, year, cal)
    reason = ""
    if py is None:
        py = ProgrammeYear(
            programme=prog.id,
            year=year,
            title=prog.spec.programme.title,
            calendar_digest=digest,
            compiled_at=at,
            inputs=inputs,
        )
        session.add(py)
        session.flush()
    else:
        reason = why_moved(py.inputs, inputs, prog.spec.programme.title)
        py.calendar_digest, py.compiled_at, py.title, py.inputs = digest, at, prog.spec.programme.title, inputs
        # the calendar, its policies or the working days changed: every step instant may have
        session.execute(update(Task).where(Task.programme_year_id == py.id).values(next_step_at=None))

    existing = {
        m.milestone: m for m in session.scalars(select(MilestoneInstance).where(MilestoneInstance.programme_year_id == py.id))
    }
    default_policy = prog.spec.programme.defaults.reminder_policy
    new_tasks: list[dict] = []
    for pm in plan.milestones:
        m = prog.spec.milestone(pm.id)
        policy = m.reminder_policy or default_policy
        mi = existing.get(pm.id)
        if mi is None:
            mi = MilestoneInstance(
                programme_year_id=py.id,
                milestone=pm.id,
                title=pm.title,
                kind=pm.kind,
                form=pm.form,
                reminder_policy=policy,
                opens=pm.opens,
                nominal_due=pm.nominal_due,
                due=pm.due,
                rest_day_rule=pm.rest_day_rule,
            )
            session.add(mi)
            session.flush()
            have: set[str] = set()
        else:
            if (mi.opens, mi.due) != (pm.opens, pm.due):
                found = _move_dates(session, mi, pm.opens, pm.due, at, reason)
                if moved is not None:
                    moved += found
            mi.title, mi.kind, mi.form, mi.reminder_policy = pm.title, pm.kind, pm.form, policy
            mi.opens, mi.nominal_due, mi.due, mi.rest_day_rule = pm.opens, pm.nominal_due, pm.due, pm.rest_day_rule
            have = set(session.scalars(select(Task.participant).where(Task.milestone_instance_id == mi.id)))
        if m.for_each is not None:
            continue  # its tasks come from the rows of its source (models.fanout), not from the calendar
        for participant in pm.assignees:
            if participant not in have:
                new_tasks.append(
                    {
                        "programme_year_id": py.id,
                        "milestone_instance_id": mi.id,
                        "participant": participant,
                        "state": S.WAITING,
                        "opens": pm.opens,
                        "due": pm.due,
                        "original_due": pm.due,
                        "state_changed_at": at,
                    }
                )
    if new_tasks:
        session.execute(insert(Task), new_tasks)
    return py, True


def _move_dates(
    session: Session, mi: MilestoneInstance, opens: dt.date | None, due: dt.date, at: dt.datetime, reason: str
) -> list[Moved]:
    """The calendar or the working days moved a milestone: tasks still awaiting follow,
    unless a coordinator gave them their own date (an extension). Each keeps its history (a
    status-change row saying why); the milestone's revision number rises."""
    tasks = session.scalars(
        select(Task).where(Task.milestone_instance_id == mi.id, Task.state.in_((S.WAITING, *S.AWAITING)))
    ).all()
    out = []
    why = f": {reason}" if reason else ""
    for t in tasks:
        extended = t.due != t.original_due
        S.record_event(
            session,
            t,
            at=at,
            reason=f"calendar changed: due {mi.due} → {due}" + (" (extension kept)" if extended else "") + why,
            details={"old_due": str(mi.due), "new_due": str(due), "old_opens": str(mi.opens), "new_opens": str(opens)},
            event=A.RESCHEDULED,
        )
        t.opens = opens
        if not extended and t.due != due:
            out.append(Moved(t.id, t.due, due, reason))
            t.due = due
            if t.state == S.OVERDUE and due >= local_day(at):
                S.change_state(session, t, S.OPEN, at=at, reason=f"calendar changed: due {due} is not past")
        t.original_due = due
    if mi.due != due:
        mi.sequence = (mi.sequence or 0) + 1
    return out
