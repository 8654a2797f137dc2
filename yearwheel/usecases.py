"""The use cases: one function per thing a user does — advance, open a milestone, chase,
roll up, act as the coordinator, submit a form, see the year. The CLI, the Prefect flows
and the web service call these with a ``Runtime`` (``yearwheel.runtime``, re-exported
here so an entry point has one import); none of them wires the domain itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from models import outbox as O
from models import reconcile as RC
from models.reminders import queue_reminders
from models.ledger import LoadedProgramme, find_programme_year
from models.queries import milestone_task_ids
from models.rollup import Rollup, compute_rollup, store_rollup
from models.tables import Submission, Task
from models.target_alerts import queue_target_escalations
from models.timeline import TZ, CalendarInvalid, MissingWorkdayData, PlanInconsistent, local_day, to_instant

from .runtime import Runtime, SchemaNotReady, open_database, open_runtime, opened  # noqa: F401 — the entry points' one import

log = logging.getLogger("yearwheel.usecases")


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
        return "; ".join(str(p) for p in exc.problems[:5]) + (
            f" (and {len(exc.problems) - 5} more)" if len(exc.problems) > 5 else ""
        )
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
    rt: Runtime,
    at: dt.datetime,
    *,
    send: bool = True,
    roll: bool = True,
    only_year: int | None = None,
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
    log.info(
        "advance as of %s: opened %d, overdue %d, queued %s; sent %d, failed %d, dead %d; %d programme(s) stopped",
        at.isoformat(),
        report.opened,
        report.overdue,
        dict(report.queued),
        dispatched.sent,
        dispatched.failed,
        dispatched.dead,
        len(report.failures),
    )
    return AdvanceResult(report, dispatched, rollups)


def rollup_current(
    rt: Runtime,
    at: dt.datetime,
    year: int | None = None,
    escalate: RC.AdvanceReport | None = None,
    programmes: list[LoadedProgramme] | None = None,
) -> list[Rollup]:
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
        today = local_day(at)
        s.execute(update(Task).where(Task.id.in_(ids), or_(Task.opens.is_(None), Task.opens > today)).values(opens=today))
        queue_reminders(s, prog, [py.id], rt.cal, rt.messenger, at, report, task_ids=ids)
        RC.queue_digests(s, prog, rt.messenger, at, report)
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
        RC.open_and_mark(s, prog, [py.id], at, report)
        ids = milestone_task_ids(s, py.id, milestone) if milestone else None
        queue_reminders(s, prog, [py.id], rt.cal, rt.messenger, at, report, task_ids=ids)
        RC.queue_digests(s, prog, rt.messenger, at, report)
    return AdvanceResult(report, rt.dispatch(at), [])


def coordinator_action(
    rt: Runtime,
    kind: str,
    programme: str,
    year: int,
    milestone: str,
    participant: str,
    *,
    actor: str,
    reason: str,
    at: dt.datetime,
    new_due: dt.date | None = None,
    send: bool = True,
    item: str | None = None,
) -> dict[str, Any]:
    """accept | return | extend | exempt one participant's task (of ``item``, for a fan-out milestone), audited with who and why;
    the bureau's message (returned, due changed) is queued and, with ``send``, delivered
    after the commit (the web service leaves it to its background sender). Raises
    NotFound, NotAllowed, TransitionRefused."""
    from models import submissions as U

    at = to_instant(at)
    with rt.sessions.begin() as s:
        ref = U.find_task(s, programme, year, milestone, participant, item)
        if kind == "accept":
            U.accept(s, ref, at=at, actor=actor, reason=reason)
        elif kind == "return":
            U.return_for_revision(s, rt.programme(programme), ref, at=at, actor=actor, reason=reason, messenger=rt.messenger)
        elif kind == "extend":
            if new_due is None:
                raise U.NotAllowed("an extension needs the new due date")
            U.extend(
                s,
                ref,
                new_due,
                at=at,
                actor=actor,
                reason=reason,
                messenger=rt.messenger,
                cal=rt.cal.for_spec(rt.programme(programme).spec),
            )
        elif kind == "exempt":
            U.exempt(s, ref, at=at, actor=actor, reason=reason)
        else:
            raise U.NotAllowed(f"unknown action {kind!r}: accept, return, extend or exempt")
        out = {
            "action": kind,
            "state": ref.task.state,
            "due": ref.task.due.isoformat(),
            "accepted": ref.task.accepted_at is not None,
        }
        if kind == "accept":
            out["action"] = (
                f"accepted version {s.scalar(select(func.max(Submission.version)).where(Submission.task_id == ref.task.id))}"
            )
    if send:
        rt.dispatch(at)
    return out


def year_view(rt: Runtime, programme: str, year: int, at: dt.datetime):
    """The coordinator's view of one programme year as of ``at`` (None when not in the ledger)."""
    from models.yearview import year_view as build

    with rt.sessions() as s:
        py = find_programme_year(s, programme, year)
        return None if py is None else build(s, rt.programme(programme), py, rt.cal, at)


def report_location(rt: Runtime, programme: str, year: int) -> tuple[Path, str]:
    """Where the flows write a programme year's HTML report, and the link to it."""
    return rt.settings.report_location(programme, year)


def expert_library(rt: Runtime, programme: str, explicit: Path | None = None) -> Path:
    """The expert library of a programme: ``explicit``, else calendar/experts/<programme>.yaml."""
    return explicit or rt.calendar_dir / "experts" / f"{programme}.yaml"


def draw_experts(
    rt: Runtime,
    programme: str,
    year: int,
    milestone: str,
    seed: str,
    library: Path,
    out: Path,
    *,
    at: dt.datetime | None = None,
    by: str = "yearwheel experts draw",
):
    """Draw from the ledger's enterprises (the library's ``enterprises_from``), record the
    draw in the ledger (it stands: a fan-out assigned by this draw opens a task per drawn
    expert and enterprise at the next ``advance``, and a redraw retires and opens tasks to
    match), and write ``out`` (JSON) and ``out``.md. Returns (record, markdown)."""
    import json

    from models import experts as X
    from models.ledger import find_programme_year

    from .files import write_atomic

    prog = rt.programme(programme)
    lib, lib_sha = X.read_library(library)
    if lib.programme != programme:
        raise X.DrawError(f"{library}: the library is for {lib.programme}, not {programme}")
    cfg = lib.draws.get(milestone)
    if cfg is None:
        raise X.DrawError(f"{library}: no draw for milestone {milestone!r}; it has: {', '.join(lib.draws) or 'none'}")
    with rt.sessions() as s:
        py = find_programme_year(s, programme, year)
        if py is None:
            raise X.DrawError(f"{programme} {year} is not in the ledger yet: run `yearwheel advance` first")
        enterprises = X.ledger_enterprises(s, programme, year, cfg.enterprises_from, cfg.field, prog.spec.participants)
        rec = X.draw(lib, lib_sha, programme, year, milestone, seed, enterprises)
        X.store_draw(s, py.id, rec, by=by, at=at or dt.datetime.now(dt.timezone.utc))
        s.commit()
    md = X.record_markdown(rec, prog.names)
    write_atomic(out, json.dumps(rec.as_json(), ensure_ascii=False, indent=2) + "\n")
    write_atomic(out.with_suffix(".md"), md)
    return rec, md


@dataclass
class Submitted:
    version: int
    on_time: bool
    due: dt.date
    task_id: int
    dispatch: O.DispatchReport | None = None


def submit_form(
    rt: Runtime,
    programme: str,
    year: int,
    milestone: str,
    participant: str,
    payload: Any,
    *,
    at: dt.datetime,
    actor: str,
    source: str | None,
    attachments: Callable[[int], list[dict[str, Any]]] | None = None,
    store: Callable[[int], None] | None = None,
    send: bool = True,
    sessions: Any = None,
    expect_form: str | None = None,
    item: str | None = None,
) -> Submitted:
    """A bureau's filled form — from a file, a workbook, the web or the simulation: validated,
    recorded as a new version, the task closed (on time or late), the acknowledgement
    queued — one transaction. ``attachments(task_id)`` describes the evidence files and
    ``store(task_id)`` writes them, inside the transaction (nothing is recorded if it
    fails). ``send``: deliver the acknowledgement now (the web service's sender does it in
    the background instead). ``expect_form``: the form the payload was made for (a workbook
    exported before the calendar changed is refused). The task's draft (暂存, ``models.drafts``)
    is deleted in the same transaction. Raises PayloadInvalid (nothing stored), NotFound,
    NotAllowed."""
    from models import submissions as U
    from models.drafts import delete_draft

    at = to_instant(at)
    with (sessions or rt.sessions).begin() as s:
        ref = U.find_task(s, programme, year, milestone, participant, item)
        if expect_form is not None and ref.mi.form != expect_form:
            raise U.NotAllowed(f"made for form {expect_form}, but {milestone} now asks for {ref.mi.form}")
        sub = U.submit(
            s,
            rt.programme(programme),
            ref,
            payload,
            at=at,
            actor=actor,
            source=source,
            messenger=rt.messenger,
            cal=rt.cal,
            attachments=attachments(ref.task.id) if attachments else None,
        )
        if store is not None:
            store(ref.task.id)
        delete_draft(s, ref.task.id)  # the 暂存 draft, if any, is superseded by what was submitted
        done = Submitted(sub.version, sub.on_time, ref.task.due, ref.task.id)
    if send:
        done.dispatch = rt.dispatch(at)
    return done


def ics_sequences(database: str | None, programme: str, year: int, due: dict[str, dt.date]) -> dict[str, int]:
    """Each milestone's iCalendar SEQUENCE: the times the ledger moved its dates, plus one
    when the plan (``due``: milestone → due date) has moved it again since the last run —
    so a calendar exported before and after the next ``advance`` carries the same number.
    No ledger yet (no database file): {} (every event's first version); a database that
    cannot be read raises SchemaNotReady."""
    from models.db import database_url, missing_sqlite_file
    from models.tables import MilestoneInstance, ProgrammeYear

    if missing_sqlite_file(database_url(database)):
        return {}
    engine, sessions = open_database(database)
    try:
        with sessions() as s:
            rows = s.execute(
                select(MilestoneInstance.milestone, MilestoneInstance.due, MilestoneInstance.sequence)
                .join(ProgrammeYear, MilestoneInstance.programme_year_id == ProgrammeYear.id)
                .where(ProgrammeYear.programme == programme, ProgrammeYear.year == year)
            ).all()
    finally:
        engine.dispose()
    return {m: (n or 0) + (1 if m in due and due[m] != d else 0) for m, d, n in rows}
