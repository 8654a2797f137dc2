"""The ``yearwheel`` command line.

Exit codes: 0 success; 1 a problem in the input (invalid calendar, unknown programme or
year); 2 missing working-day data for a year that must be planned (or a usage error).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from models.timeline import catalog
from models.timeline.checks import milestone_paths
from models.timeline.loader import CalendarInvalid, Problem, load_programme_file, load_workdays_file, read
from models.timeline.plan import PlanInconsistent, YearNotInProgramme, YearPlan, plan_year
from models.timeline.spec import ProgrammeFile
from models.timeline.workdays import MissingWorkdayData, WorkdayCalendar

app = typer.Typer(
    name="yearwheel",
    help="Yearwheel: annual programme calendars compiled into dated milestones, a ledger of tasks, reminders that chase them, and roll-ups.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INPUT = 1
EXIT_NO_WORKDAYS = 2


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (not the stream of the
    moment the handler was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except Exception:  # noqa: BLE001 — logging must never break a command
            self.handleError(record)


@app.callback()
def _logging() -> None:
    """The commands print what the user needs; the engine's log records (``yearwheel.*``)
    reach the terminal only when ``$YEARWHEEL_LOG_LEVEL`` asks (e.g. INFO, WARNING)."""
    logger = logging.getLogger("yearwheel")
    logger.propagate = False
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
    level = os.environ.get("YEARWHEEL_LOG_LEVEL", "").upper()
    logger.setLevel(getattr(logging, level, logging.CRITICAL + 1) if level else logging.CRITICAL + 1)

CalendarDirOpt = Annotated[
    Optional[Path],
    typer.Option("--calendar-dir", help=f"calendar directory (default: ${catalog.ENV_VAR}, ./calendar, or the shipped one)"),
]


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _fail(message: str, code: int = EXIT_INPUT) -> typer.Exit:
    _err(f"error: {message}")
    return typer.Exit(code)


def _load(directory: Path, programme_id: str) -> tuple[ProgrammeFile, WorkdayCalendar]:
    try:
        spec = load_programme_file(catalog.find_programme(directory, programme_id))
        cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory))
    except catalog.UnknownProgramme as exc:
        raise _fail(str(exc)) from None
    except CalendarInvalid as exc:
        for p in exc.problems:
            _err(str(p))
        raise _fail(f"the calendar has {len(exc.problems)} problem(s); run 'yearwheel validate'") from None
    return spec, cal


def _plan(spec: ProgrammeFile, year: int, cal: WorkdayCalendar) -> YearPlan:
    """The year's plan, or the decisive reason there is none: a year outside the programme
    first (no working-day file would help), then missing working-day data (exit 2)."""
    years = spec.programme.years
    if year not in years:
        raise _fail(f"{spec.programme.id} runs {years.first}–{years.last}; {year} is not one of its years")
    try:
        return plan_year(spec, year, cal)
    except MissingWorkdayData as exc:
        raise _fail(str(exc), EXIT_NO_WORKDAYS) from None
    except PlanInconsistent as exc:
        raise _fail(f"the {year} plan contradicts itself: {exc}") from None


# --------------------------------------------------------------------------- validate


def _is_workdays_file(path: Path) -> bool:
    return path.parent.name == "workdays"


def _validate_programme(path: Path, directory: Path) -> tuple[list[Problem], list[str]]:
    """Problems, and notes (years whose dates could not be checked)."""
    try:
        spec = load_programme_file(path)
    except CalendarInvalid as exc:
        return exc.problems, []
    cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory))  # year files are checked on their own
    loaded = read(path)
    where = {m.id: p for p, m in milestone_paths(spec)}
    problems, notes = [], []
    for year in spec.programme.years:
        try:
            plan_year(spec, year, cal)
        except MissingWorkdayData as exc:
            notes.append(f"{path}: dates for {year} not checked: {exc}")
        except PlanInconsistent as exc:
            problems += [loaded.problem(where[i.milestone] + (i.field,), i.message) for i in exc.issues]
    return problems, notes


@app.command()
def validate(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="calendar files or directories (default: every calendar in the calendar directory)")] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Check calendars; print PATH:LINE:COLUMN: message for each problem (exit 1 if any)."""
    targets: list[Path] = []
    for p in paths or [catalog.calendar_dir(calendar_dir)]:
        if p.is_dir():
            targets += catalog.programme_files(p) + catalog.workday_files(p)
        else:
            targets.append(p)
    if not targets:
        raise _fail("no calendar files found")
    problems: list[Problem] = []
    notes: list[str] = []
    for path in targets:
        if _is_workdays_file(path):
            try:
                load_workdays_file(path)
            except CalendarInvalid as exc:
                problems += exc.problems
        else:
            found, noted = _validate_programme(path, path.parent)
            problems += found
            notes += noted
    for p in sorted(set(problems)):
        print(p)
    for n in notes:
        _err(f"note: {n}")
    bad = len({p.file for p in problems})
    if problems:
        _err(f"{len(problems)} problem(s) in {bad} of {len(targets)} file(s)")
        raise typer.Exit(EXIT_INPUT)
    _err(f"{len(targets)} file(s) valid")


# --------------------------------------------------------------------------- plan

_WEEKDAYS = "一二三四五六日"


def _md(d, year: int) -> str:
    """MM-DD within the plan's year; the full date outside it (a January deadline's
    December reminders, next year's chasers)."""
    return f"{d:%m-%d}" if d.year == year else f"{d:%Y-%m-%d}"


def _day(d, cal: WorkdayCalendar, year: int) -> str:
    # A working Saturday or Sunday (调休) is correct but surprising; say so.
    adjusted = "(班)" if d.weekday() >= 5 and cal.is_workday(d) else ""
    return f"{_md(d, year)} 周{_WEEKDAYS[d.weekday()]}{adjusted}"


def _who(spec: ProgrammeFile, ids: tuple[str, ...]) -> str:
    if not ids:
        return "—"
    for g in spec.groups:
        if set(g.members) == set(ids):
            return f"{g.name}（{len(ids)}）"
    names = {p.id: p.name for p in spec.participants}
    if len(ids) <= 3:
        return "、".join(names[i] for i in ids)
    return f"{len(ids)} 个单位"


def plan_table(spec: ProgrammeFile, plan: YearPlan, cal: WorkdayCalendar) -> Table:
    table = Table(
        title=f"{plan.title}  {plan.programme}  {plan.year}",
        caption=(
            "due: after the rest-day rule (← nominal date when it moved); (班) = an adjusted working weekend day (调休); "
            "opens: ✉ = the opening notice goes out that morning; "
            "† = assumed where the source is illegible or silent (see the YAML); reminders on working days, "
            "* = one reminder standing for several before_due values (see below); "
            f"Asia/Shanghai; working days: {cal.source(plan.year)}"
        ),
        caption_justify="left",
        show_lines=False,
    )
    table.add_column("due 截止", no_wrap=True)
    table.add_column("opens", no_wrap=True)
    table.add_column("milestone", no_wrap=True)
    table.add_column("title 事项", overflow="fold", max_width=56)
    table.add_column("kind", no_wrap=True)
    table.add_column("assignees 责任单位", overflow="fold", max_width=26)
    table.add_column("form", no_wrap=True)
    table.add_column("reminders 提醒", overflow="fold", max_width=30)
    y = plan.year
    for m in plan.milestones:
        due = Text(_day(m.due, cal, y))
        if m.due != m.nominal_due:
            due.append(f" ← {_md(m.nominal_due, y)}", style="yellow")
            due.append(" (next)" if m.rest_day_rule == "next_workday" else " (prev)", style="dim")
        elif not cal.is_workday(m.due):
            due.append(" (kept on a rest day)", style="dim")
        reminders = " ".join(_md(r, y) + ("*" if len(st.covers) > 1 else "")
                             for r, st in zip(m.reminders, [s for s in m.steps if s.kind != "opened"]))
        if m.reminders:
            reminders += f" @{m.reminders[0]:%H:%M}"
        table.add_row(
            due,
            (_md(m.opens, y) if m.opens else "—") + (" ✉" if m.notice else ""),
            m.id + (" †" if m.assumed else ""),
            m.title,
            m.kind,
            _who(spec, m.assignees),
            m.form or "—",
            reminders or "—",
        )
    return table


@app.command()
def plan(
    programme: Annotated[str, typer.Argument(help="programme id, e.g. jilin-quality-2022-2024")],
    year: Annotated[int, typer.Option("--year", help="the programme year to plan")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """The year's milestones with nominal and effective due dates, assignees and reminders."""
    directory = catalog.calendar_dir(calendar_dir)
    spec, cal = _load(directory, programme)
    result = _plan(spec, year, cal)
    if as_json:
        json.dump(result.as_json(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(plan_table(spec, result, cal))
    for m in result.milestones:
        for note in m.merged:
            console.print(f"{m.id}: {note}", markup=False, highlight=False)
    for mid, why in result.not_held:
        console.print(f"not held in {year}: {mid} — {why}", markup=False, highlight=False)


# --------------------------------------------------------------------------- ics


@app.command()
def ics(
    programme: Annotated[str, typer.Argument(help="programme id")],
    year: Annotated[int, typer.Option("--year", help="the programme year")],
    participant: Annotated[Optional[str], typer.Option("--participant", help="only this participant's milestones")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="write to this file (default: stdout)")] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """An iCalendar (RFC 5545) file: one event per milestone due, alarms at the reminders."""
    from models.timeline.clock import now
    from models.timeline.ics import plan_to_ics

    directory = catalog.calendar_dir(calendar_dir)
    spec, cal = _load(directory, programme)
    result = _plan(spec, year, cal)
    try:
        data = plan_to_ics(spec, result, participant=participant, stamp=now(), cal=cal)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(output)  # never leave a half-written calendar where a subscriber reads it
        _err(f"wrote {output}")


# --------------------------------------------------------------------------- schema


@app.command()
def schema(
    check: Annotated[bool, typer.Option("--check", help="exit 1 if the files are stale instead of writing them")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Write the JSON schemas of the calendar formats into <calendar dir>/schema/."""
    from models.timeline.schema import render_schemas

    out_dir = catalog.calendar_dir(calendar_dir) / "schema"
    stale = []
    for name, text in render_schemas().items():
        path = out_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        raise _fail("stale: " + ", ".join(map(str, stale)) + " — run 'yearwheel schema'")
    _err(("wrote " + ", ".join(map(str, stale))) if stale and not check else "schemas up to date")


# The ledger commands (db, advance, status, rollup, submit, …) and the simulator register
# themselves on ``app``; imported last because they import from this module.
from . import cli_experts, cli_forms, cli_intake, cli_ledger, cli_simulate  # noqa: E402,F401


EXIT_BUG = 3


def main() -> None:
    """The console script. A failure the commands foresee ends with its message and exit
    code; an unforeseen one (a bug) is one line naming a file with the details — never a
    traceback in the user's terminal."""
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _err("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 — the last line of defence
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="yearwheel-error-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as f:
            traceback.print_exc(file=f)
        _err(f"internal error: {type(exc).__name__}: {exc} — this is a bug in Yearwheel; details in {path}")
        raise SystemExit(EXIT_BUG) from None


if __name__ == "__main__":
    main()
