"""``yearwheel simulate``: a whole programme year on a simulated clock (the main job)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from models.timeline import TZ

from ._common import CalendarDirOpt, calendar_folder, err, fail, load_calendar, plan_or_exit
from .ledger import matrix_width, rollup_tables, status_matrix

app = typer.Typer()


@app.command()
def simulate(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: Annotated[int, typer.Option("--year", help="the programme year to simulate")],
    seed: Annotated[int, typer.Option("--seed", help="chooses personas, submission days and payloads")] = 1,
    outbox: Annotated[
        Optional[Path],
        typer.Option("--outbox", help="folder for the .eml files (default: WORKDIR/outbox); its .eml files are replaced"),
    ] = None,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="where the run's SQLite ledger and contacts file go (replaced each run)")
    ] = Path("simulation"),
    prefect: Annotated[
        bool,
        typer.Option("--prefect/--no-prefect", help="run as a Prefect flow (ephemeral server unless PREFECT_API_URL is set)"),
    ] = True,
    emit_events: Annotated[
        bool,
        typer.Option(
            "--events/--no-events",
            help="with --prefect: emit the year's task and delivery events into Prefect's Event Feed (~2,900 for Jilin)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print status and rollup as JSON instead of tables")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """The main job: a whole programme year on a simulated clock, ending with its status matrix and rollup.

    Tasks open, synthetic bureaus submit on time, late or never, reminders and escalations go
    out by email through a loopback SMTP server (each saved as .eml)."""
    from yearwheel.simulation import run_events, run_simulation

    t_start = time.perf_counter()
    early = None
    if prefect:
        from flows.simulate import EarlyServer

        early = EarlyServer()  # Prefect's server starts while the year is prepared
    directory = calendar_folder(calendar_dir)
    spec, cal = load_calendar(directory, programme_id)
    plan_or_exit(spec, year, cal)  # reports calendar and working-day problems with their exit codes
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=as_json,
    ) as progress:
        bar = progress.add_task(f"{programme_id} {year}", total=None)

        def on_event(at: dt.datetime) -> None:
            progress.update(bar, advance=1, description=f"{programme_id} {at.astimezone(TZ):%Y-%m-%d}")

        def runner(state) -> None:
            progress.update(bar, total=len(state.events))
            if prefect:
                from flows.simulate import PREPARED, simulate_flow

                assert early is not None
                early.wait()
                token = uuid.uuid4().hex
                PREPARED[token] = state
                try:
                    _run_flow(simulate_flow, programme_id, year, token)
                finally:
                    PREPARED.pop(token, None)
            else:
                run_events(state, state.events)

        result = run_simulation(
            programme_id,
            year,
            seed=seed,
            workdir=workdir,
            outbox=outbox,
            calendar_dir=directory,
            runner=runner,
            on_event=on_event,
            emit_events=prefect and emit_events,  # the flow run's Event Feed shows the simulated year
        )
    state, rows, rollup, received, eml_dir, db_file = (
        result.state,
        result.rows,
        result.rollup,
        result.received,
        result.eml_dir,
        result.db_file,
    )
    personas = result.personas
    events = [None] * result.events
    documents = _year_documents(spec, directory, programme_id, year, db_file, state.events[-1][0] if state.events else None)
    wall = time.perf_counter() - t_start
    loop = result.seconds_loop
    prefect_share = max(loop - state.engine_seconds, 0.0) if prefect else 0.0
    startup = (state.flow_started - result.ready_at) if prefect and state.flow_started else 0.0
    summary: dict[str, Any] = {
        "programme": programme_id,
        "year": year,
        "seed": seed,
        "personas": {k: sum(1 for v in personas.values() if v == k) for k in ("punctual", "late", "never")},
        "advance_runs": state.advances,
        "submissions": state.submitted,
        "emails_sent": state.sent,
        "emails_received_by_smtp": received,
        "delivery_failures": len(state.failed),
        "submissions_left_out": len(result.left_out),
        "outbox_dir": str(eml_dir),
        "ledger": str(db_file),
        "documents": [str(d) for d in documents],
        "seconds": {
            "wall": round(wall, 2),
            "engine": round(state.engine_seconds, 2),
            "prefect": round(prefect_share, 2),
            "prefect_startup": round(startup, 2),
            "prefect_server_start": round(early.seconds, 2) if early else 0.0,
            "prefect_share": round(prefect_share / wall, 3) if wall else 0.0,
        },
    }
    if as_json:
        from models.queries import STATUS_KEYS

        print(
            json.dumps(
                {"summary": summary, "status": [{k: r[k] for k in STATUS_KEYS} for r in rows], "rollup": rollup.as_json()},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        out = Console(width=matrix_width(rows))
        out.print(status_matrix(rows, f"{spec.programme.title} {programme_id} {year} — simulated, seed {seed}"))
        for t in rollup_tables(rollup):
            out.print(t)
        p = summary["personas"]
        out.print(
            f"{state.advances} advance runs and {state.submitted} submissions over {len(events)} events; "
            f"{state.sent} emails sent, {received} received by the loopback SMTP server, saved in {eml_dir}/\n"
            f"personas: {p['punctual']} punctual, {p['late']} late, {p['never']} never; ledger: {db_file}\n"
            f"wall {wall:.1f} s: engine {state.engine_seconds:.1f} s, Prefect {prefect_share:.1f} s"
            + (
                f" ({prefect_share / wall:.0%} of the wall time: {startup:.1f} s waiting for its server — "
                f"{early.seconds if early else 0:.1f} s to start, begun while the year was prepared — and "
                f"{prefect_share - startup:.1f} s running the flow and its {result.months} task runs)"
                if prefect
                else " (--no-prefect)"
            )
        )
        for d in documents:
            out.print(f"wrote {d}")
    if result.left_out:
        years = sorted({w.why.split(":")[0] for w in result.left_out})
        err(
            f"note: {len(result.left_out)} late submission(s) would fall after the year's end, where there is no "
            f"working-day data ({'; '.join(years)}): left out of the simulation — add the year's "
            "calendar/workdays/cn-YYYY.yaml to simulate them"
        )
    if state.no_task:
        err(
            f"note: {len(state.no_task)} fan-out submission(s) had no task to go to (their source row did not stand in time): "
            + ", ".join(state.no_task[:5])
        )
    for e in state.failed[:10]:
        err(f"delivery failed: {e}")
    if state.failed or received != state.sent:
        raise fail(f"{len(state.failed)} deliveries failed; {state.sent} sent but {received} received")


def _run_flow(flow_fn, programme_id: str, year: int, token: str) -> None:
    """Run the flow with Prefect's per-run heartbeat thread off: on this machine it adds
    ~1 s to each flow run and the simulation is a single short-lived run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        flow_fn(programme_id, year, token)


def _year_documents(spec, directory, programme_id: str, year: int, db_file, last: dt.datetime | None) -> list:
    """The simulated year's evaluation and its December bulletin as Word files beside its
    ledger, as of the simulation's last instant — what a coordinator circulates."""
    if last is None or (spec.scorecard is None and spec.bulletin is None):
        return []
    from yearwheel import evaluations as E
    from yearwheel.reports.documents import write_bulletin_docx, write_evaluation_docx
    from yearwheel.runtime import open_runtime

    out = []
    rt = open_runtime(calendar_dir=directory, programme=programme_id, database=f"sqlite:///{db_file}")
    try:
        if spec.scorecard is not None:
            path = db_file.parent / f"evaluation-{year}.docx"
            write_evaluation_docx(E.evaluate(rt, programme_id, year, last), path)
            out.append(path)
        path = db_file.parent / f"bulletin-{year}-12.docx"
        write_bulletin_docx(E.bulletin(rt, programme_id, year, 12, last), path)
        out.append(path)
    finally:
        rt.close()
    return out
