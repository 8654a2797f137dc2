"""Wiring: open the ledger, read the calendars and contacts, and run the engine's use
cases. Plain functions — the Prefect flows and the CLI both call these, and tests can
too without Prefect.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from models import outbox as O
from models import reconcile as RC
from models.db import describe_url, database_url, make_engine, make_sessionmaker, missing_sqlite_file
from models.ledger import LoadedProgramme, find_programme_year
from models.migrate import current_revision, head_revision
from models.queries import milestone_task_ids
from models.rollup import Rollup, compute_rollup, store_rollup
from models.tables import Submission, Task
from models.target_alerts import queue_target_escalations
from models.timeline import TZ, CalendarInvalid, MissingWorkdayData, PlanInconsistent, WorkdayCalendar, catalog, to_instant
from notifications.messenger import ContactsMessenger, IntakeLinks, load_contacts_from_env

log = logging.getLogger("yearwheel.runtime")

ENV_CONTACTS = "YEARWHEEL_CONTACTS"


class SchemaNotReady(RuntimeError):
    pass


class IntakeMisconfigured(ValueError):
    """$YEARWHEEL_INTAKE_URL / $YEARWHEEL_LINK_SECRET set wrongly."""


@dataclass
class Runtime:
    engine: Engine
    sessions: sessionmaker
    programmes: list[LoadedProgramme]
    cal: WorkdayCalendar
    messenger: ContactsMessenger
    broken: dict[str, CalendarInvalid] = field(default_factory=dict)  # calendar file → its problems (not loaded)
    stamp_clock: Callable[[], dt.datetime] | None = None  # the simulation's clock for delivery records

    def programme(self, programme_id: str) -> LoadedProgramme:
        for p in self.programmes:
            if p.id == programme_id:
                return p
        raise catalog.UnknownProgramme(f"unknown programme {programme_id!r}")

    def dispatch(self, at: dt.datetime) -> O.DispatchReport:
        """Send what the outbox holds for this runtime's programmes, due by ``at``."""
        return O.dispatch(self.sessions, self.messenger, programmes={p.id: p for p in self.programmes}, cal=self.cal,
                          at=at, stamp_clock=self.stamp_clock)

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str | None = None) -> tuple[Engine, sessionmaker]:
    """Connect and check the schema is at the latest migration; never create it here."""
    url = database_url(url)
    if missing_sqlite_file(url):
        raise SchemaNotReady(f"the database {describe_url(url)} does not exist: run `yearwheel db upgrade`")
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
    except OperationalError as exc:
        engine.dispose()
        raise SchemaNotReady(f"cannot reach the database {describe_url(url)}: {exc.orig}") from None
    head = head_revision()
    if rev != head:
        engine.dispose()
        state = "has no Yearwheel schema" if rev is None else f"is at migration {rev}, not {head}"
        raise SchemaNotReady(f"the database {describe_url(url)} {state}: run `yearwheel db upgrade`")
    return engine, make_sessionmaker(engine)


def load_programmes(directory: Path, programme: str | None = None) -> tuple[list[LoadedProgramme], dict[str, CalendarInvalid]]:
    """Every calendar in ``directory`` (or the one named), each read on its own: a broken
    file is returned with its problems and stops nothing else. Naming a broken programme
    raises its CalendarInvalid."""
    if programme:
        return [LoadedProgramme.read(catalog.find_programme(directory, programme))], {}
    progs, broken = [], {}
    for path in catalog.programme_files(directory):
        try:
            progs.append(LoadedProgramme.read(path))
        except CalendarInvalid as exc:
            broken[str(path)] = exc
            log.error("calendar %s is invalid and is left out: %s", path, exc.problems[0] if exc.problems else exc)
    return progs, broken


def open_runtime(
    *,
    calendar_dir: Path | None = None,
    programme: str | None = None,
    contacts: Path | None = None,
    database: str | None = None,
) -> Runtime:
    directory = catalog.calendar_dir(calendar_dir)
    progs, broken = load_programmes(directory, programme)
    cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory))
    contacts_path = contacts or (Path(os.environ[ENV_CONTACTS]) if os.environ.get(ENV_CONTACTS) else None)
    try:
        intake = IntakeLinks.from_env()
    except ValueError as exc:
        raise IntakeMisconfigured(str(exc)) from None
    messenger = ContactsMessenger(load_contacts_from_env(contacts_path), cal, {p.id: p.spec for p in progs}, intake=intake)
    engine, sessions = open_database(database)
    return Runtime(engine, sessions, progs, cal, messenger, broken)


@contextmanager
def opened(
    calendar_dir: str | Path | None = None, programme: str | None = None, contacts: str | Path | None = None
) -> Iterator[Runtime]:
    """``open_runtime`` for the flows, whose parameters are strings; closed on exit."""
    rt = open_runtime(
        calendar_dir=Path(calendar_dir) if calendar_dir else None,
        programme=programme,
        contacts=Path(contacts) if contacts else None,
    )
    try:
        yield rt
    finally:
        rt.close()


@dataclass
class AdvanceResult:
    reconcile: RC.AdvanceReport
    dispatch: O.DispatchReport
    rollups: list[Rollup]

    @property
    def failed(self) -> bool:
        """A programme could not be advanced (the others were)."""
        return bool(self.reconcile.failures)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.reconcile.as_json(),
            "dispatch": self.dispatch.as_json(),
            "rollups": [{"programme": r.programme, "year": r.year, "on_time_rate": r.on_time_rate} for r in self.rollups],
        }


def problem_text(exc: BaseException) -> str:
    """One paragraph for a programme that stopped: the file, line and column when known."""
    if isinstance(exc, CalendarInvalid):
        return "; ".join(str(p) for p in exc.problems[:5]) + (f" (and {len(exc.problems) - 5} more)" if len(exc.problems) > 5 else "")
    if isinstance(exc, PlanInconsistent):
        return f"the {exc.year} plan contradicts itself: {exc}"
    return str(exc)


# What stops one programme's advance without stopping the others: its calendar, its
# working days, its dates. Anything else (the database gone) stops the run.
PROGRAMME_FAULTS = (CalendarInvalid, MissingWorkdayData, PlanInconsistent)


def advance_programme(rt: Runtime, prog: LoadedProgramme, at: dt.datetime, *, only_year: int | None = None) -> RC.AdvanceReport:
    """One programme's reconcile as of ``at`` in its own transaction (retried once when a
    concurrent advance compiled the same year first)."""
    for attempt in (1, 2):
        try:
            with rt.sessions.begin() as s:
                return RC.reconcile(s, prog, rt.cal, rt.messenger, at, only_year=only_year)
        except IntegrityError:
            # Another advance compiled the same year at the same moment (PostgreSQL);
            # its rows are there now — reconcile again against them.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def advance(
    rt: Runtime, at: dt.datetime, *, send: bool = True, roll: bool = True, only_year: int | None = None,
    each: Callable[[LoadedProgramme], RC.AdvanceReport] | None = None,
) -> AdvanceResult:
    """The level-triggered reconcile as of ``at``: for each programme compile, open, mark
    overdue, queue; roll up (and tell the owners of targets behind their pace, monthly);
    then dispatch. A programme whose calendar, working days or dates are broken is
    reported in ``failures`` and the others go on. Safe to repeat for the same instant.
    ``each`` runs one programme (the flow runs each as a Prefect task run)."""
    at = to_instant(at)
    run_one = each or (lambda prog: advance_programme(rt, prog, at, only_year=only_year))
    report = RC.AdvanceReport(at)
    for path, exc in rt.broken.items():
        report.failures[Path(path).stem] = problem_text(exc)
    good: list[LoadedProgramme] = []
    for prog in rt.programmes:
        try:
            report.merge(run_one(prog))
            good.append(prog)
        except PROGRAMME_FAULTS as exc:
            report.failures[prog.id] = problem_text(exc)
            log.error("advance %s stopped: %s", prog.id, report.failures[prog.id])
    rollups = rollup_current(rt, at, year=only_year, escalate=report, programmes=good) if roll else []
    dispatched = rt.dispatch(at) if send else O.DispatchReport()
    log.info("advance as of %s: opened %d, overdue %d, queued %s; sent %d, failed %d, dead %d; %d programme(s) stopped",
             at.isoformat(), report.opened, report.overdue, dict(report.queued), dispatched.sent, dispatched.failed,
             dispatched.dead, len(report.failures))
    return AdvanceResult(report, dispatched, rollups)


def rollup_current(rt: Runtime, at: dt.datetime, year: int | None = None, escalate: RC.AdvanceReport | None = None,
                   programmes: list[LoadedProgramme] | None = None) -> list[Rollup]:
    """Roll up this year and last (or ``year``); with ``escalate``, also queue the monthly
    message to the owner of each target behind its pace (for the current year only)."""
    at = to_instant(at)
    out: list[Rollup] = []
    today = at.astimezone(TZ)
    for prog in rt.programmes if programmes is None else programmes:
        with rt.sessions.begin() as s:
            years = [year] if year else sorted({y for y in (today.year, today.year - 1)})
            for y in years:
                py = find_programme_year(s, prog.id, y)
                if py is None:
                    continue
                r = compute_rollup(s, prog, py, at)
                store_rollup(s, py, r, at)
                if escalate is not None and y == today.year:
                    queue_target_escalations(s, prog, r, rt.messenger, at, escalate)
                out.append(r)
    return out


def open_milestone(rt: Runtime, programme: str, year: int, milestone: str, at: dt.datetime) -> AdvanceResult:
    """Open one milestone's tasks now, whatever its calendar opening, and notify."""
    from models import states as S
    from models.ledger import compile_year

    at = to_instant(at)
    prog = rt.programme(programme)
    report = RC.AdvanceReport(at)
    with rt.sessions.begin() as s:
        py, changed = compile_year(s, prog, year, rt.cal, at=at)
        if changed:
            report.compiled.append(f"{programme}/{year}")
        ids = milestone_task_ids(s, py.id, milestone)
        if not ids:
            raise LookupError(f"milestone {milestone!r} has no tasks in {programme} {year}")
        report.opened = len(S.change_states(s, ids, S.OPEN, at=at, reason="opened by hand (open_milestone)"))
        # opened today, whatever the calendar said: the opening notice goes now, reminders count from today
        today = at.astimezone(TZ).date()
        s.execute(update(Task).where(Task.id.in_(ids), or_(Task.opens.is_(None), Task.opens > today)).values(opens=today))
        RC.queue_reminders(s, prog, [py.id], rt.cal, rt.messenger, at, report, task_ids=ids)
    return AdvanceResult(report, rt.dispatch(at), [])


def chase(rt: Runtime, programme: str, year: int, at: dt.datetime, milestone: str | None = None) -> AdvanceResult:
    """Mark late tasks and queue the reminders, chasers and escalations due now."""

    at = to_instant(at)
    prog = rt.programme(programme)
    report = RC.AdvanceReport(at)
    with rt.sessions.begin() as s:
        py = find_programme_year(s, programme, year)
        if py is None:
            raise LookupError(f"{programme} {year} is not in the ledger: run advance or open_milestone first")
        RC.open_and_mark(s, [py.id], at, report)
        ids = milestone_task_ids(s, py.id, milestone) if milestone else None
        RC.queue_reminders(s, prog, [py.id], rt.cal, rt.messenger, at, report, task_ids=ids)
    return AdvanceResult(report, rt.dispatch(at), [])


def coordinator_action(
    rt: Runtime, kind: str, programme: str, year: int, milestone: str, participant: str, *, actor: str, reason: str,
    at: dt.datetime, new_due: dt.date | None = None,
) -> dict[str, Any]:
    """accept | return | extend | exempt one participant's task, audited with who and why;
    the bureau's message (returned, due changed) is queued — the caller decides when the
    outbox is dispatched (the CLI at once, the web service in the background). Raises
    NotFound, NotAllowed, TransitionRefused."""
    from models import submissions as U

    at = to_instant(at)
    with rt.sessions.begin() as s:
        ref = U.find_task(s, programme, year, milestone, participant)
        if kind == "accept":
            U.accept(s, ref, at=at, actor=actor, reason=reason)
        elif kind == "return":
            U.return_for_revision(s, rt.programme(programme), ref, at=at, actor=actor, reason=reason, messenger=rt.messenger)
        elif kind == "extend":
            if new_due is None:
                raise U.NotAllowed("an extension needs the new due date")
            U.extend(s, ref, new_due, at=at, actor=actor, reason=reason, messenger=rt.messenger, cal=rt.cal)
        elif kind == "exempt":
            U.exempt(s, ref, at=at, actor=actor, reason=reason)
        else:
            raise U.NotAllowed(f"unknown action {kind!r}: accept, return, extend or exempt")
        out = {"action": kind, "state": ref.task.state, "due": ref.task.due.isoformat(),
               "accepted": ref.task.accepted_at is not None}
        if kind == "accept":
            out["action"] = f"accepted version {s.scalar(select(func.max(Submission.version)).where(Submission.task_id == ref.task.id))}"
    return out


def year_view(rt: Runtime, programme: str, year: int, at: dt.datetime):  # noqa: ANN201 — models.yearview.YearView
    """The coordinator's view of one programme year as of ``at`` (None when not in the ledger)."""
    from models.yearview import year_view as build

    with rt.sessions() as s:
        py = find_programme_year(s, programme, year)
        return None if py is None else build(s, rt.programme(programme), py, rt.cal, at)


ENV_REPORT_DIR = "YEARWHEEL_REPORT_DIR"
ENV_REPORT_URL = "YEARWHEEL_REPORT_URL"


def report_location(programme: str, year: int) -> tuple[Path, str]:
    """Where the flows write a programme year's HTML report, and the link to it:
    ``$YEARWHEEL_REPORT_DIR`` (default ./reports-out) and, when the folder is served,
    ``$YEARWHEEL_REPORT_URL`` + file name; otherwise a file:// link."""
    folder = Path(os.environ.get(ENV_REPORT_DIR) or "reports-out").absolute()
    path = folder / f"{programme}-{year}.html"
    base = os.environ.get(ENV_REPORT_URL)
    return path, (base.rstrip("/") + "/" + path.name) if base else path.as_uri()



