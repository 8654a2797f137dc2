"""``yearwheel validate | plan | ics | schema``: the calendars, checked, planned and
exported — no database, no Prefect."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from models.timeline import catalog
from models.timeline.checks import milestone_paths
from models.timeline.loader import CalendarInvalid, Problem, load_programme, load_workdays_file
from models.timeline.plan import PlanInconsistent, YearPlan, plan_year
from models.timeline.spec import ProgrammeFile
from models.timeline.workdays import MissingWorkdayData, WorkdayCalendar

from ..files import write_atomic
from ._common import EXIT_INPUT, CalendarDirOpt, calendar_folder, err, fail, load_calendar, plan_or_exit, settings

app = typer.Typer()


# --------------------------------------------------------------------------- validate


def _is_workdays_file(path: Path) -> bool:
    return path.parent.name == "workdays"


def _validate_programme(path: Path, directory: Path) -> tuple[list[Problem], list[str]]:
    """Problems, and notes (years whose dates could not be checked)."""
    try:
        spec, loaded = load_programme(path)
    except CalendarInvalid as exc:
        return exc.problems, []
    cal = WorkdayCalendar.from_directory(catalog.workdays_dir(directory))  # year files are checked on their own
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
    paths: Annotated[
        Optional[list[Path]],
        typer.Argument(help="calendar files or directories (default: every calendar in the calendar directory)"),
    ] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Check calendars; print PATH:LINE:COLUMN: message for each problem (exit 1 if any)."""
    targets: list[Path] = []
    if not paths and not calendar_folder(calendar_dir).is_dir():
        raise fail(
            f"no calendar folder at {calendar_folder(calendar_dir)}: give a folder or file, set YEARWHEEL_CALENDAR_DIR, "
            "or run from the checkout (its calendar/ folder)"
        )
    for p in paths or [calendar_folder(calendar_dir)]:
        if p.is_dir():
            targets += catalog.programme_files(p) + catalog.workday_files(p)
        else:
            targets.append(p)
    if not targets:
        where = ", ".join(str(p) for p in (paths or [calendar_folder(calendar_dir)]))
        raise fail(
            f"no calendar files in {where}: give a folder or file, set YEARWHEEL_CALENDAR_DIR, "
            "or run from the checkout (its calendar/ folder)"
        )
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
    for problem in sorted(set(problems)):
        print(problem)
    for n in notes:
        err(f"note: {n}")
    bad = len({p.file for p in problems})
    if problems:
        err(f"{len(problems)} problem(s) in {bad} of {len(targets)} file(s)")
        raise typer.Exit(EXIT_INPUT)
    err(f"{len(targets)} file(s) valid")


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
            "暂定 = depends on provisional working days (nothing dated on them is sent until the notice is imported); "
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
        if m.provisional:
            due.append(" 暂定", style="bold red")
        reminders = " ".join(
            _md(r, y) + ("*" if len(st.covers) > 1 else "")
            for r, st in zip(m.reminders, [s for s in m.steps if s.kind != "opened"], strict=True)
        )
        if m.reminders:
            reminders += f" @{m.reminders[0]:%H:%M}"
        table.add_row(
            due,
            (_md(m.opens, y) if m.opens else "—") + (" ✉" if m.notice else ""),
            m.id + (" †" if m.assumed else ""),
            m.title,
            m.kind,
            (_who(spec, m.assignees) + "；" if m.assignees else "") + m.fan_out if m.fan_out else _who(spec, m.assignees),
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
    directory = calendar_folder(calendar_dir)
    spec, cal = load_calendar(directory, programme)
    result = plan_or_exit(spec, year, cal)
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

    directory = calendar_folder(calendar_dir)
    spec, cal = load_calendar(directory, programme)
    result = plan_or_exit(spec, year, cal)
    from yearwheel.usecases import SchemaNotReady, ics_sequences

    try:
        sequences = ics_sequences(settings().database_url, programme, year, {m.id: m.due for m in result.milestones})
    except SchemaNotReady as exc:  # the calendar is still right; only its revision numbers are unknown
        err(f"warning: {exc}; events carry no SEQUENCE, so a subscribed calendar may not update a moved event")
        sequences = {}
    try:
        data = plan_to_ics(spec, result, participant=participant, stamp=now(), cal=cal, sequences=sequences)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        write_atomic(output, data)  # never leave a half-written calendar where a subscriber reads it
        err(f"wrote {output}")


# --------------------------------------------------------------------------- schema


@app.command()
def schema(
    check: Annotated[bool, typer.Option("--check", help="exit 1 if the files are stale instead of writing them")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Write the JSON schemas of the calendar formats into <calendar dir>/schema/."""
    from models.timeline.schema import render_schemas

    out_dir = calendar_folder(calendar_dir) / "schema"
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
        raise fail("stale: " + ", ".join(map(str, stale)) + " — run 'yearwheel schema'")
    err(("wrote " + ", ".join(map(str, stale))) if stale and not check else "schemas up to date")


@app.command()
def deployments(
    check: Annotated[bool, typer.Option("--check", help="exit 1 if prefect.yaml is stale instead of writing it")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Write prefect.yaml: deploy/prefect-base.yaml and one advance-<programme> deployment per
    calendar (own concurrency limit, tags, schedule)."""
    from yearwheel.deployments import TARGET, render

    text = render(calendar_folder(calendar_dir))
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else None
    if current == text:
        err(f"{TARGET} up to date")
        return
    if check:
        raise fail(f"stale: {TARGET} — run 'yearwheel deployments'")
    TARGET.write_text(text, encoding="utf-8")
    err(f"wrote {TARGET}")
