"""The level-triggered reconcile: make one programme's ledger match its calendar as of an
instant.

``reconcile`` compiles the years that are due (the current one, and next year from its
compile lead — December 1st by default — or as soon as one of its steps falls due), opens
tasks whose time has come, marks late ones overdue, and queues the notices, reminders,
chasers and escalations that are due into the outbox. It is safe to run again for the
same instant (nothing changes) and after downtime (stale steps are recorded as skipped
instead of sent in a burst; see ``timeline.chase``). It works on one programme at a time:
the caller runs each in its own transaction, so one broken calendar stops only itself.

Rows are queued without text: the sender renders each when it claims it (``outbox``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Date, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from . import activity as A
from . import states as S
from . import vocabulary as V
from .db import UTCDateTime
from .due import Due
from .fanout import FanOutReport, fan_out, fan_out_milestones
from .ledger import LoadedProgramme, Moved, compile_year, year_digest
from .enqueue import (
    insert_new,
    milestone_key,
    outbox_row,
    queue_message,
)
from .outbox import Messenger
from .reminders import queue_reminders, steps_due
from .tables import MilestoneInstance, OutboxMessage, ProgrammeYear, Task
from .timeline import TZ, WorkdayCalendar, local_day
from .timeline.plan import PlanInconsistent, plan_year
from .timeline.workdays import MissingWorkdayData

log = logging.getLogger("yearwheel.reconcile")


@dataclass
class AdvanceReport:
    at: dt.datetime
    compiled: list[str] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)  # due dates a re-projection moved
    held: dict[str, int] = field(default_factory=dict)  # step → messages held: they depend on provisional working days
    opened: int = 0
    overdue: int = 0
    queued: Counter = field(default_factory=Counter)  # kind → messages queued
    skipped_stale: int = 0  # reminder steps too late to be worth sending
    undeliverable: int = 0  # messages not queued: the recipient has no contact at all
    unreachable: set[str] = field(default_factory=set)  # who lacks a contact
    missing_years: set[int] = field(default_factory=set)  # working-day data needed to date later chasers
    waiting: dict[str, str] = field(default_factory=dict)  # "programme/year" → why it is not compiled yet
    failures: dict[str, str] = field(default_factory=dict)  # programme → why it stopped (the others went on)
    fan_out: FanOutReport = field(default_factory=FanOutReport)  # tasks made, retired, revived from submitted rows
    alerts: dict[str, int] = field(default_factory=dict)  # "programme/year" → overdue count that reached its alert threshold

    def merge(self, other: AdvanceReport) -> None:
        self.compiled += other.compiled
        self.moved += other.moved
        self.held.update(other.held)
        self.opened += other.opened
        self.overdue += other.overdue
        self.queued.update(other.queued)
        self.skipped_stale += other.skipped_stale
        self.undeliverable += other.undeliverable
        self.unreachable |= other.unreachable
        self.missing_years |= other.missing_years
        self.waiting.update(other.waiting)
        self.failures.update(other.failures)
        for k in ("added", "retired", "revived", "updated"):
            setattr(self.fan_out, k, getattr(self.fan_out, k) + getattr(other.fan_out, k))
        self.fan_out.problems.update(other.fan_out.problems)
        self.alerts.update(other.alerts)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "compiled": self.compiled,
            "moved": len(self.moved),
            "held": dict(sorted(self.held.items())),
            "opened": self.opened,
            "overdue": self.overdue,
            "queued": dict(self.queued),
            "skipped_stale": self.skipped_stale,
            "undeliverable": self.undeliverable,
            "unreachable": sorted(self.unreachable),
            "missing_workday_years": sorted(self.missing_years),
            "waiting": dict(sorted(self.waiting.items())),
            "failures": dict(sorted(self.failures.items())),
            "overdue_alerts": dict(sorted(self.alerts.items())),
            "fan_out": {
                "added": self.fan_out.added,
                "retired": self.fan_out.retired,
                "revived": self.fan_out.revived,
                "updated": self.fan_out.updated,
                "problems": dict(sorted(self.fan_out.problems.items())),
            },
        }


def programme_years(session: Session, programmes: list[str]) -> list[ProgrammeYear]:
    return list(session.scalars(select(ProgrammeYear).where(ProgrammeYear.programme.in_(programmes))))


def _years_and_fan_outs(session: Session, prog: LoadedProgramme) -> tuple[list[ProgrammeYear], dict[int, dict]]:
    """The programme's years in the ledger and, of each, the milestone instances its
    fan-outs read — in one round trip (a run with nothing due makes few)."""
    mi = MilestoneInstance
    on = and_(mi.programme_year_id == ProgrammeYear.id, mi.milestone.in_(fan_out_milestones(prog)))
    years: dict[int, ProgrammeYear] = {}
    instances: dict[int, dict] = {}
    for py, inst in session.execute(select(ProgrammeYear, mi).outerjoin(mi, on).where(ProgrammeYear.programme == prog.id)):
        years[py.id] = py
        if inst is not None:
            instances.setdefault(py.id, {})[inst.milestone] = inst
    return list(years.values()), instances


def compile_from(prog: LoadedProgramme, year: int) -> dt.datetime:
    """The compile lead: from this instant ``year`` is compiled into the ledger whatever
    its steps (default December 1st of the year before)."""
    lead = prog.spec.programme.defaults.compile_lead_days
    return dt.datetime.combine(dt.date(year, 1, 1) - dt.timedelta(days=lead), dt.time(0), TZ)


def first_step(prog: LoadedProgramme, year: int, cal: WorkdayCalendar) -> dt.datetime | None:
    """The earliest instant anything of ``year`` is sent (an opening notice, a reminder).
    Planned once per programme, year and working-day data in a process: every hourly run
    asks it of next year, and planning a national calendar takes ~90 ms."""
    key = (year, cal.allow_provisional, cal.data_id)
    known = prog.first_steps
    if key not in known:
        plan = plan_year(prog.spec, year, cal)
        instants = [s.at for m in plan.milestones for s in m.steps]
        known[key] = min(instants) if instants else None
    return known[key]


def compile_due_years(
    session: Session,
    prog: LoadedProgramme,
    cal: WorkdayCalendar,
    at: dt.datetime,
    report: AdvanceReport,
    only_year: int | None = None,
    held_years: list[ProgrammeYear] | None = None,
) -> list[ProgrammeYear]:
    """Compile the years of ``prog`` that are due at ``at``, and recompile years already in
    the ledger whose calendar or working days changed. Returns the programme's years in
    the ledger (read once — or given, ``held_years`` —: a year whose digest still matches
    is not looked up again)."""
    today = local_day(at)
    r = prog.spec.programme.years
    held = {py.year: py for py in (programme_years(session, [prog.id]) if held_years is None else held_years)}
    years = set(held)
    if only_year is not None:
        years = {only_year} if only_year in r else set()
    elif today.year in r:
        years.add(today.year)
    upcoming = today.year + 1
    if only_year is None and upcoming in r and upcoming not in years:
        if at >= compile_from(prog, upcoming):
            try:
                cal.require(upcoming)
                cal.require(today.year)
                years.add(upcoming)
            except MissingWorkdayData as exc:
                # Not yet a failure: this year's work goes on. Every run says what to add,
                # and from January 1st it stops this programme until it is added.
                report.waiting[f"{prog.id}/{upcoming}"] = str(exc)
        elif cal.covers(upcoming) and cal.covers(today.year):
            try:
                first = first_step(prog, upcoming, cal)
            except (MissingWorkdayData, PlanInconsistent):
                first = None  # said by validate, and by the run that must compile it
            if first is not None and first <= at:
                years.add(upcoming)
    for year in sorted(years):
        py = held.get(year)
        if py is not None and py.calendar_digest == year_digest(prog, year, cal):
            continue  # compiled from this calendar and these working days already
        held[year], changed = compile_year(session, prog, year, cal, at=at, moved=report.moved)
        if changed:
            report.compiled.append(f"{prog.id}/{year}")
    return [held[y] for y in sorted(held)]


def _to_open(today: Any) -> Due:
    """Tasks whose opening day has come and that are not open yet."""
    return Due((S.WAITING,), Task.opens, today, or_null=True)


def _gone_late(today: Any) -> Due:
    """Owed tasks whose due day has passed and that are not marked overdue yet."""
    return Due((S.OPEN, S.RETURNED), Task.due, today, strict=True)


def _digests_waiting(prog: LoadedProgramme, at: Any) -> tuple:
    """Escalations released by ``at`` that wait for their recipient's daily digest."""
    o = OutboxMessage
    return (
        o.programme == prog.id,
        o.kind == V.DIGESTED_ESCALATION,
        o.state == V.PENDING,
        o.digest_id.is_(None),
        o.not_before <= at,
    )


def anything_due(session: Session, prog: LoadedProgramme, py_ids: list[int], at: dt.datetime) -> bool:
    """Whether any task of these years is to open, to be marked late or has a reminder step
    whose instant has come (or is not known), or any escalation waits for a digest: one
    statement of index probes (``models.due``), built once per process and set of years.
    When it says no, the rest of the reconcile has nothing to do — the same conditions as
    each of its steps, from the same place."""
    key = ("anything-due", tuple(py_ids))
    stmt = prog.statements.get(key)
    if stmt is None:
        today, now = bindparam("today", type_=Date()), bindparam("at", type_=UTCDateTime())
        probes = [p for due in (_to_open(today), _gone_late(today), steps_due(now)) for p in due.probes(py_ids)]
        probes.append(exists().where(*_digests_waiting(prog, now)))
        stmt = prog.statements[key] = select(or_(*probes))
    return bool(session.scalar(stmt, {"today": local_day(at), "at": at}))


def _overdue_counts(session: Session, py_ids: list[int]) -> dict[tuple[int, int], int]:
    q = (
        select(ProgrammeYear.id, ProgrammeYear.year, func.count(Task.id))
        .join(Task, Task.programme_year_id == ProgrammeYear.id)
        .where(ProgrammeYear.id.in_(py_ids), Task.state == S.OVERDUE)
        .group_by(ProgrammeYear.id, ProgrammeYear.year)
    )
    return {(i, y): n for i, y, n in session.execute(q)}


def open_and_mark(session: Session, prog: LoadedProgramme, py_ids: list[int], at: dt.datetime, report: AdvanceReport) -> None:
    """Open the tasks whose day has come and mark the late ones overdue — the only way a
    task becomes overdue, so the one place a year's overdue count can rise: when it rises
    to the calendar's ``overdue_alert`` threshold (from below), the alert is told."""
    today = local_day(at)
    to_open = list(session.scalars(select(Task.id).where(_to_open(today).where(py_ids))))
    report.opened += len(S.change_states(session, to_open, S.OPEN, at=at, reason="the milestone opened"))
    late = list(session.scalars(select(Task.id).where(_gone_late(today).where(py_ids))))
    marked = S.change_states(session, late, S.OVERDUE, at=at, reason="the due date passed")
    report.overdue += len(marked)
    if prog.spec.overdue_alert is not None and marked:
        _tell_crossings(session, prog, py_ids, marked, at, report)


def _tell_crossings(
    session: Session, prog: LoadedProgramme, py_ids: list[int], marked: list[int], at: dt.datetime, report: AdvanceReport
) -> None:
    """The years whose overdue count this run's marks (``marked``) brought from below the
    calendar's alert threshold to it or above: reported, logged and noted as a fact."""
    alert = prog.spec.overdue_alert
    assert alert is not None
    # the count before is the count after less what this run marked (not a count taken
    # earlier: a concurrent run's marks committed in between would make two crossings)
    mine: Counter = Counter()
    for i in range(0, len(marked), 5000):
        chunk = marked[i : i + 5000]
        q = select(Task.programme_year_id, func.count()).where(Task.id.in_(chunk)).group_by(Task.programme_year_id)
        mine.update({py: n for py, n in session.execute(q)})
    for (py_id, year), now in _overdue_counts(session, py_ids).items():
        was = now - mine.get(py_id, 0)
        if was < alert.threshold <= now:
            report.alerts[f"{prog.id}/{year}"] = now
            log.warning("%s %d: %d overdue tasks reached the alert threshold %d", prog.id, year, now, alert.threshold)
            to = prog.spec.holders(alert.to)
            A.note(
                session,
                A.Fact(
                    "programme-year",
                    A.OVERDUE_THRESHOLD,
                    at,
                    None,
                    details={
                        "programme": prog.id,
                        "year": year,
                        "programme_year_id": py_id,
                        "overdue": now,
                        "newly_overdue": now - was,
                        "threshold": alert.threshold,
                        "to": to,
                    },
                ),
            )


def reconcile(
    session: Session,
    prog: LoadedProgramme,
    cal: WorkdayCalendar,
    messenger: Messenger,
    at: dt.datetime,
    *,
    only_year: int | None = None,
) -> AdvanceReport:
    """Everything ``advance`` does for one programme before sending, in one transaction
    owned by the caller. ``only_year`` restricts the work to one year (the simulator's)."""
    if at.tzinfo is None:
        raise ValueError("advance needs a timezone-aware instant")
    cal = cal.for_spec(prog.spec)
    report = AdvanceReport(at)
    years, instances = _years_and_fan_outs(session, prog)
    held = compile_due_years(session, prog, cal, at, report, only_year, years)
    pys = [py for py in held if only_year is None or py.year == only_year]
    for py in pys:  # a year just compiled or re-projected reads its instances afresh
        fan_out(session, prog, py, at, report.fan_out, None if report.compiled else instances.get(py.id, {}))
    py_ids = [py.id for py in pys]
    quiet = not report.compiled and not report.moved and not report.fan_out.changed()
    if py_ids and quiet and not anything_due(session, prog, py_ids, at):
        return report  # nothing due: the common hourly run, one statement after the checks above
    open_and_mark(session, prog, py_ids, at, report)
    tell_moved(session, prog, messenger, at, report)
    queue_reminders(session, prog, py_ids, cal, messenger, at, report)
    queue_digests(session, prog, messenger, at, report)
    return report


def queue_digests(session: Session, prog: LoadedProgramme, messenger: Messenger, at: dt.datetime, report: AdvanceReport) -> int:
    """The day's digest of this programme for every address with escalations waiting
    (released by ``at``, in no digest yet). It goes when its channel may (SMS and chat wait
    for the next working morning, like any message), and its key carries the recipient,
    the address and the local day it goes: one digest a day, however often this runs.
    The escalations are bound to it when it is claimed (``outbox``); one escalated after
    the day's digest was claimed waits for the next day's. Returns the digests queued."""
    o = OutboxMessage
    waiting = session.execute(
        select(o.recipient, o.audience, o.channel, o.address).where(*_digests_waiting(prog, at)).distinct()
    ).all()
    rows = []
    for recipient, audience, channel, address in waiting:
        release = messenger.release_time(channel, at)
        day = local_day(release).isoformat()
        rows.append(
            outbox_row(
                key=f"{prog.id}/digest/{day}/{recipient}/{audience}/{channel}/{address}",
                programme=prog.id,
                task_id=None,
                kind=V.DIGEST,
                step=f"digest@{day}",
                recipient=recipient,
                audience=audience,
                channel=channel,
                address=address,
                at=at,
                due_at=at,
                not_before=release,
                stale_at=None,
                params={"day": day},
            )
        )
    rows = insert_new(session, rows)  # today's digest went out already: tomorrow's
    if rows:
        report.queued[V.DIGEST] += len(rows)
    return len(rows)


def tell_moved(session: Session, prog: LoadedProgramme, messenger: Messenger, at: dt.datetime, report: AdvanceReport) -> None:
    """One 截止日期调整 per task a re-projection moved, on each of its channels, to the
    bureaus already told the old date (a task not open yet learns the date when it opens).
    Its reminders need nothing: rows for the old date are no longer claimable, and the
    new date's steps are queued below."""
    if not report.moved:
        return
    ids = [m.task_id for m in report.moved]
    rows = session.execute(
        select(Task, MilestoneInstance, ProgrammeYear)
        .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
        .join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id)
        .where(Task.id.in_(ids), Task.state.in_(S.AWAITING))
    ).all()
    moves = {m.task_id: m for m in report.moved}
    for task, mi, py in rows:
        m = moves[task.id]
        n = queue_message(
            session,
            messenger,
            task=task,
            programme=prog.id,
            key_prefix=milestone_key(py.programme, py.year, mi.milestone),
            step=f"due-changed@{m.new_due}",
            kind=V.DUE_CHANGED,
            at=at,
            params={"old_due": m.old_due.isoformat(), "reason": m.reason},
        )
        if n:
            report.queued[V.DUE_CHANGED] += n
        else:
            report.undeliverable += 1
            report.unreachable.add(task.participant)
