"""``yearwheel db | advance | status | rollup | report | outbox``: the commands that run and
read the ledger (acting on one task: ``actions``). Exit codes: ``_common``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from models import states as S
from models.timeline import TZ, minute, span, to_instant
from yearwheel import usecases as R

from ._common import (
    EXIT_INPUT,
    AtOpt,
    CalendarDirOpt,
    ContactsOpt,
    YearOpt,
    err,
    fail,
    programme_year_or_exit,
    runtime,
    settings,
    use_prefect,
)
from ._common import instant as parse_at

app = typer.Typer()
db_app = typer.Typer(
    help="The ledger database: apply migrations (YEARWHEEL_DATABASE_URL; default ./yearwheel.db).", no_args_is_help=True
)
app.add_typer(db_app, name="db")


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from models.db import describe_url
    from models.migrate import upgrade

    url = settings().database()
    try:
        upgrade(url, revision)
    except Exception as exc:  # noqa: BLE001 — alembic raises many kinds; the message is what matters
        raise fail(f"migrating {describe_url(url)} failed: {exc}") from None
    print(f"{describe_url(url)}: at migration {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target revision, e.g. base or -1")]) -> None:
    """Undo migrations down to REVISION."""
    from models.db import describe_url, missing_sqlite_file
    from models.migrate import downgrade

    url = settings().database()
    if missing_sqlite_file(url):
        raise fail(f"the database {describe_url(url)} does not exist")
    try:
        downgrade(url, revision)
    except Exception as exc:  # noqa: BLE001 — alembic raises many kinds; the message is what matters
        raise fail(f"downgrading {describe_url(url)} failed: {exc}") from None
    print(f"{describe_url(url)}: downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration and the latest one."""
    from sqlalchemy.exc import DBAPIError

    from models.db import describe_url, make_engine, missing_sqlite_file
    from models.migrate import current_revision, head_revision

    url = settings().database()
    if missing_sqlite_file(url):
        raise fail(f"the database {describe_url(url)} does not exist: run `yearwheel db upgrade`")
    engine = make_engine(url)
    try:
        print(f"{describe_url(url)}: at {current_revision(engine) or 'no schema'}; latest {head_revision()}")
    except DBAPIError as exc:
        raise fail(f"cannot reach the database {describe_url(url)}: {exc.orig}") from None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- advance


@app.command()
def advance(
    at: AtOpt = None,
    programme: Annotated[Optional[str], typer.Option("--programme", help="only this programme (default: every calendar)")] = None,
    contacts: ContactsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    prefect: Annotated[
        Optional[bool],
        typer.Option("--prefect/--no-prefect", help="run as a Prefect flow run (default: when PREFECT_API_URL is set)"),
    ] = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Reconcile the ledger as of --at: open, mark overdue, queue and send reminders, roll up.

    Running it again for the same instant changes nothing and sends nothing."""
    instant = parse_at(at)
    if use_prefect(prefect):
        from flows.advance import advance as advance_flow

        state: Any = advance_flow(
            at=instant,
            programme=programme,
            calendar_dir=str(calendar_dir) if calendar_dir else None,
            contacts=str(contacts) if contacts else None,
            return_state=True,
        )
        payload = state.result(raise_on_failure=False)
        if not isinstance(payload, dict):  # the flow itself failed (the database, the Prefect API)
            raise fail(f"the advance flow run failed: {state.message or payload}")
    else:
        with runtime(calendar_dir, contacts, programme) as rt:
            payload = R.advance(rt, instant).as_json()
    if as_json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        if payload["failures"]:
            raise typer.Exit(EXIT_INPUT)
        return
    d = payload["dispatch"]
    queued = ", ".join(f"{k} {v}" for k, v in sorted(payload["queued"].items())) or "nothing"
    print(
        f"advance as of {instant.astimezone(TZ):%Y-%m-%d %H:%M %Z}: compiled {', '.join(payload['compiled']) or 'nothing new'}; "
        f"opened {payload['opened']}, overdue {payload['overdue']}; queued {queued}; "
        f"skipped as stale {payload['skipped_stale']}; undeliverable {payload['undeliverable']}"
    )
    retry = ""
    if d.get("next_retry_at"):
        first = to_instant(d["next_retry_at"])
        retry = f" (the first in {span(first - instant)}, at {minute(first)})"
    print(f"sent {d['sent']}, failed (will retry) {d['failed']}{retry}, dead {d['dead']}, skipped {d['skipped']}")
    for year in payload["missing_workday_years"]:
        err(
            f"warning: chasers and escalations falling in {year} are not scheduled: add the State Council's "
            f"holiday notice for {year} as calendar/workdays/cn-{year}.yaml (see calendar/workdays/README.md)"
        )
    if payload["unreachable"]:
        err(
            "no contact in the contacts file for: "
            + ", ".join(payload["unreachable"])
            + " — their messages wait until the contacts file lists them"
        )
    for e in d["errors"][:20]:
        err(f"delivery failed: {e}")
    if payload.get("held"):
        err(
            f"held (provisional working days, sent once the State Council's notice is imported): "
            f"{sum(payload['held'].values())} message(s) of {len(payload['held'])} step(s) — "
            + ", ".join(list(payload["held"])[:10])
        )
    for where, why in payload["waiting"].items():
        err(f"warning: {where} is not compiled yet: {why}")
    fan = payload["fan_out"]
    if fan["added"] or fan["retired"] or fan["revived"]:
        print(
            f"fan-out: {fan['added']} task(s) added, {fan['retired']} retired, {fan['revived']} revived, {fan['updated']} updated"
        )
    for where, problems in fan["problems"].items():
        for p in problems[:20]:
            err(f"warning: {where}: {p}")
    for prog, why in payload["failures"].items():
        err(f"error: {prog} was not advanced (the other programmes were): {why}")
    if payload["failures"]:
        raise typer.Exit(EXIT_INPUT)


# --------------------------------------------------------------------------- status and rollup


STATE_ZH = S.STATES_ZH  # one vocabulary: models.states


def matrix_width(rows: list[dict]) -> int:
    """Console width that fits the matrix without squeezing participant ids."""
    longest = max((len(r["participant"]) for r in rows), default=11)
    return max(120, longest + 8 + 5 * len({r["milestone"] for r in rows}))


def status_matrix(rows: list[dict], title: str) -> Table:
    """Participants × milestones: one mark per task."""
    marks = {"waiting": "·", "open": "○", "returned": "↺", "exempted": "免", "overdue": "✗"}
    milestones = list(dict.fromkeys(r["milestone"] for r in rows))
    participants = list(dict.fromkeys(r["participant"] for r in rows))
    cell: dict[tuple[str, str], dict] = {}
    items: dict[tuple[str, str], list[dict]] = {}  # a fan-out milestone: the participant's items
    for r in rows:
        if r.get("item"):
            if r["state"] != "retired":
                items.setdefault((r["participant"], r["milestone"]), []).append(r)
        else:
            cell[(r["participant"], r["milestone"])] = r
    table = Table(title=title, show_lines=False, pad_edge=False)
    table.add_column("participant", no_wrap=True, min_width=max((len(p) for p in participants), default=11))
    for i, _ in enumerate(milestones, start=1):
        table.add_column(str(i), justify="center", no_wrap=True)
    for p in participants:
        line = [p]
        for m in milestones:
            found = cell.get((p, m))
            mine = items.get((p, m))
            if mine:  # submitted of owed, red when any is overdue
                done = sum(1 for x in mine if x["state"] == "submitted")
                colour = "red" if any(x["state"] == "overdue" for x in mine) else "green" if done == len(mine) else "white"
                line.append(f"[{colour}]{done}/{len(mine)}[/]")
            elif found is None:
                line.append("")
            elif found["state"] == "submitted":
                line.append("[green]✓[/]" if found["on_time"] else "[yellow]迟[/]")
            elif found["state"] == "overdue":
                line.append("[red]✗[/]")
            else:
                line.append(marks.get(found["state"], "?"))
        table.add_row(*line)
    table.caption = (
        "✓ on time  迟 late  ✗ overdue, missing  ○ open  ↺ returned  免 exempted  · not open yet  n/m items submitted\n"
        + "  ".join(f"{i}={m}" for i, m in enumerate(milestones, start=1))
    )
    return table


@app.command()
def status(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON: a list of {milestone, participant, state, due, submitted_at, reminders_sent}")
    ] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """Every task of a programme year: its state, due date, submission and reminders sent."""
    from models.queries import list_task_status

    with runtime(calendar_dir, programme=programme_id) as rt, rt.sessions() as s:
        py = programme_year_or_exit(s, programme_id, year)
        rows = list_task_status(s, py.id)
    if as_json:
        from models.queries import STATUS_KEYS

        print(json.dumps([{k: r[k] for k in STATUS_KEYS} for r in rows], ensure_ascii=False, indent=2))
        return
    Console(width=matrix_width(rows)).print(status_matrix(rows, f"{programme_id} {year}"))


def rollup_tables(r) -> list[Table]:
    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.0%}"

    mt = Table(title=f"{r.programme} {r.year} — on time by milestone (overall {pct(r.on_time_rate)})")
    for c in ("milestone", "due", "assigned", "on time", "late", "overdue", "awaiting", "exempted", "on-time rate"):
        mt.add_column(c, justify="right" if c not in ("milestone", "due") else "left")
    for m in r.milestones:
        mt.add_row(
            m.milestone,
            m.due,
            str(m.assigned),
            str(m.on_time),
            str(m.late),
            str(m.overdue),
            str(m.awaiting),
            str(m.exempted),
            pct(m.on_time_rate),
        )
    pt = Table(title="on time by participant")
    for c in ("participant", "name", "counted", "on time", "late", "missing", "on-time rate"):
        pt.add_column(c, justify="right" if c not in ("participant", "name") else "left")
    for p in r.participants:
        pt.add_row(p.participant, p.name, str(p.counted), str(p.on_time), str(p.late), str(p.missing), pct(p.on_time_rate))
    tt = Table(title="targets")
    for c in ("target", "title", "achieved", "expected by now", "pace", "goal", "met"):
        tt.add_column(c)
    for t in r.targets:
        goal = " ".join(
            x
            for x in (f"≥ {t.at_least:g}" if t.at_least is not None else "", f"≤ {t.at_most:g}" if t.at_most is not None else "")
            if x
        )
        val = "—" if t.value is None else f"{t.value:g}"
        if t.by_participant:  # "each member must reach it": say how many do
            reached = sum(
                1
                for v in t.by_participant.values()
                if v is not None and (t.at_least is None or v >= t.at_least) and (t.at_most is None or v <= t.at_most)
            )
            val = f"{reached}/{len(t.by_participant)} reached; lowest {val}"
        met = {True: "[green]yes[/]", False: "[red]not yet[/]", None: "no data"}[t.met]
        paced = {"ahead": "[green]ahead[/]", "on_pace": "on pace", "behind": "[red]behind[/]", None: "—"}[t.pace]
        expected = "—" if t.expected is None else f"{t.expected:g}"
        tt.add_row(
            t.target, t.title, f"{val} {t.unit or ''}".strip(), expected, paced, f"{goal} ({t.period}, by {t.deadline})", met
        )
    return [mt, pt, tt]


@app.command()
def rollup(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    at: AtOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the rollup as JSON")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """On-time rates per milestone and participant, counts from the forms, target progress."""
    instant = parse_at(at)
    with runtime(calendar_dir, programme=programme_id) as rt:
        with rt.sessions() as s:
            programme_year_or_exit(s, programme_id, year)
        (r,) = R.rollup_current(rt, instant, year=year)
    if as_json:
        print(json.dumps(r.as_json(), ensure_ascii=False, indent=2))
        return
    console = Console(width=160)
    for t in rollup_tables(r):
        console.print(t)


@app.command()
def report(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: YearOpt,
    output: Annotated[Path, typer.Option("-o", "--output", help="the HTML file to write")] = Path("report.html"),
    at: AtOpt = None,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """The year report: one self-contained HTML page (Gantt of milestones, heat map of
    on-time performance, target progress, late items), in Chinese."""
    from yearwheel.reports.html import write_year_report

    instant = parse_at(at)
    with runtime(calendar_dir, programme=programme_id) as rt:
        view = R.year_view(rt, programme_id, year, instant)
        if view is None:
            with rt.sessions() as s:
                programme_year_or_exit(s, programme_id, year)
    try:
        write_year_report(view, output, rt.settings.web_url)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    counts = view.lights()
    print(
        f"wrote {output}: {len(view.milestones)} milestones × {len(view.participants)} participants; "
        f"overdue {counts['overdue']}, late {counts['late']}, on time {counts['on_time']}"
    )


@app.command()
def outbox(
    state: Annotated[
        Optional[list[str]], typer.Option("--state", help="only these states: pending, sending, sent, dead, skipped (repeatable)")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="at most this many rows, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Messages in the outbox, newest first: what was sent, what waits, what failed and why."""
    from models.db import describe_url
    from models.queries import list_outbox

    try:
        engine, sessions = R.open_database(settings().database_url)
    except R.SchemaNotReady as exc:
        raise fail(str(exc)) from None
    try:
        with sessions() as s:
            rows = list_outbox(s, states=tuple(state) if state else None, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"outbox of {describe_url(settings().database())}")
    for c in ("id", "state", "tries", "channel", "to", "milestone / participant", "step", "when", "last error"):
        table.add_column(c)
    for r in rows:
        when = r["sent_at"] or r["not_before"]
        table.add_row(
            str(r["id"]),
            r["state"],
            str(r["attempts"]),
            r["channel"],
            r["recipient"] + ("" if r["audience"] == "self" else f" ({r['audience']})"),
            f"{r['milestone']} / {r['participant']}",
            r["step"],
            when[:16],
            r["last_error"] or "",
        )
    Console(width=200).print(table)
