"""Wiring: open the ledger, read the calendars and contacts, and run the engine's use
cases. Plain functions — the Prefect flows and the CLI both call these, and tests can
too without Prefect.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker

from models import engine as E
from models.db import describe_url, database_url, make_engine, make_sessionmaker
from models.ledger import LoadedProgramme, find_programme_year
from models.migrate import current_revision, head_revision
from models.queries import milestone_task_ids
from models.rollup import Rollup, compute_rollup, store_rollup
from models.tables import Submission
from models.timeline import TZ, WorkdayCalendar, catalog
from notifications.messenger import ContactsMessenger, IntakeLinks, load_contacts_from_env

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

    def programme(self, programme_id: str) -> LoadedProgramme:
        for p in self.programmes:
            if p.id == programme_id:
                return p
        raise catalog.UnknownProgramme(f"unknown programme {programme_id!r}")

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str | None = None) -> tuple[Engine, sessionmaker]:
    """Connect and check the schema is at the latest migration; never create it here."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        if not Path(parsed.database).exists():  # connecting would create an empty file
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


def open_runtime(
    *,
    calendar_dir: Path | None = None,
    programme: str | None = None,
    contacts: Path | None = None,
    database: str | None = None,
) -> Runtime:
    directory = catalog.calendar_dir(calendar_dir)
    paths = [catalog.find_programme(directory, programme)] if programme else catalog.programme_files(directory)
    progs = [LoadedProgramme.read(p) for p in paths]
    cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory))
    engine, sessions = open_database(database)
    contacts_path = contacts or (Path(os.environ[ENV_CONTACTS]) if os.environ.get(ENV_CONTACTS) else None)
    try:
        intake = IntakeLinks.from_env()
    except ValueError as exc:
        raise IntakeMisconfigured(str(exc)) from None
    messenger = ContactsMessenger(load_contacts_from_env(contacts_path), cal, {p.id: p.spec for p in progs}, intake=intake)
    return Runtime(engine, sessions, progs, cal, messenger)


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
    reconcile: E.AdvanceReport
    dispatch: E.DispatchReport
    rollups: list[Rollup]

    def as_json(self) -> dict[str, Any]:
        return {
            **self.reconcile.as_json(),
            "dispatch": self.dispatch.as_json(),
            "rollups": [{"programme": r.programme, "year": r.year, "on_time_rate": r.on_time_rate} for r in self.rollups],
        }


def advance(
    rt: Runtime, at: dt.datetime, *, send: bool = True, roll: bool = True, only_year: int | None = None
) -> AdvanceResult:
    """The level-triggered reconcile as of ``at``: compile, open, mark overdue, queue,
    roll up (and tell the owners of targets behind their pace, monthly), dispatch. Safe to
    repeat for the same instant."""
    for attempt in (1, 2):
        try:
            with rt.sessions.begin() as s:
                report = E.reconcile(s, rt.programmes, rt.cal, rt.messenger, at, only_year=only_year)
            break
        except IntegrityError:
            # Another advance compiled the same year at the same moment (PostgreSQL);
            # its rows are there now — reconcile again against them.
            if attempt == 2:
                raise
    rollups = rollup_current(rt, at, year=only_year, escalate=report) if roll else []
    dispatched = E.dispatch(rt.sessions, rt.messenger, at=at) if send else E.DispatchReport()
    return AdvanceResult(report, dispatched, rollups)


def rollup_current(rt: Runtime, at: dt.datetime, year: int | None = None, escalate: E.AdvanceReport | None = None) -> list[Rollup]:
    """Roll up this year and last (or ``year``); with ``escalate``, also queue the monthly
    message to the owner of each target behind its pace (for the current year only)."""
    out: list[Rollup] = []
    today = at.astimezone(TZ)
    with rt.sessions.begin() as s:
        for prog in rt.programmes:
            years = [year] if year else sorted({y for y in (today.year, today.year - 1)})
            for y in years:
                py = find_programme_year(s, prog.id, y)
                if py is None:
                    continue
                r = compute_rollup(s, prog, py, at)
                store_rollup(s, py, r, at)
                if escalate is not None and y == today.year:
                    E.queue_target_escalations(s, prog, r, rt.messenger, at, escalate)
                out.append(r)
    return out


def open_milestone(rt: Runtime, programme: str, year: int, milestone: str, at: dt.datetime) -> AdvanceResult:
    """Open one milestone's tasks now, whatever its calendar opening, and notify."""
    from models import states as S
    from models.ledger import compile_year

    prog = rt.programme(programme)
    report = E.AdvanceReport(at)
    with rt.sessions.begin() as s:
        py, changed = compile_year(s, prog, year, rt.cal, at=at)
        if changed:
            report.compiled.append(f"{programme}/{year}")
        ids = milestone_task_ids(s, py.id, milestone)
        if not ids:
            raise LookupError(f"milestone {milestone!r} has no tasks in {programme} {year}")
        report.opened = len(S.change_states(s, ids, S.OPEN, at=at, reason="opened by hand (open_milestone)"))
        E.queue_reminders(s, {prog.id: prog}, [py.id], rt.cal, rt.messenger, at, report, task_ids=ids)
    dispatched = E.dispatch(rt.sessions, rt.messenger, at=at)
    return AdvanceResult(report, dispatched, [])


def chase(rt: Runtime, programme: str, year: int, at: dt.datetime, milestone: str | None = None) -> AdvanceResult:
    """Mark late tasks and queue the reminders, chasers and escalations due now."""

    prog = rt.programme(programme)
    report = E.AdvanceReport(at)
    with rt.sessions.begin() as s:
        py = find_programme_year(s, programme, year)
        if py is None:
            raise LookupError(f"{programme} {year} is not in the ledger: run advance or open_milestone first")
        E.open_and_mark(s, [py.id], at, report)
        ids = milestone_task_ids(s, py.id, milestone) if milestone else None
        E.queue_reminders(s, {prog.id: prog}, [py.id], rt.cal, rt.messenger, at, report, task_ids=ids)
    dispatched = E.dispatch(rt.sessions, rt.messenger, at=at)
    return AdvanceResult(report, dispatched, [])


def coordinator_action(
    rt: Runtime, kind: str, programme: str, year: int, milestone: str, participant: str, *, actor: str, reason: str,
    at: dt.datetime, new_due: dt.date | None = None,
) -> dict[str, Any]:
    """accept | return | extend | exempt one participant's task, audited with who and why;
    the bureau is told when a submission is returned. Raises NotFound, NotAllowed,
    TransitionRefused."""
    from models import submissions as U

    with rt.sessions.begin() as s:
        ref = U.find_task(s, programme, year, milestone, participant)
        if kind == "accept":
            U.accept(s, ref, at=at, actor=actor, reason=reason)
        elif kind == "return":
            U.return_for_revision(s, rt.programme(programme), ref, at=at, actor=actor, reason=reason, messenger=rt.messenger)
        elif kind == "extend":
            if new_due is None:
                raise U.NotAllowed("an extension needs the new due date")
            U.extend(s, ref, new_due, at=at, actor=actor, reason=reason)
        elif kind == "exempt":
            U.exempt(s, ref, at=at, actor=actor, reason=reason)
        else:
            raise U.NotAllowed(f"unknown action {kind!r}: accept, return, extend or exempt")
        out = {"action": kind, "state": ref.task.state, "due": ref.task.due.isoformat(),
               "accepted": ref.task.accepted_at is not None}
        if kind == "accept":
            out["action"] = f"accepted version {s.scalar(select(func.max(Submission.version)).where(Submission.task_id == ref.task.id))}"
    if kind == "return":
        E.dispatch(rt.sessions, rt.messenger, at=at)
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


def parse_instant(text: str | None) -> dt.datetime:
    """ISO date-time; naive values are Asia/Shanghai local time. None: now."""
    if text is None:
        from models.timeline import now

        return now()
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=TZ)
