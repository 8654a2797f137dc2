"""``yearwheel simulate``: a whole programme year on a simulated clock (the main job)."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from models.timeline import TZ, catalog

from . import runtime as R
from .cli import CalendarDirOpt, _err, _fail, _load, _plan, app
from .cli_ledger import matrix_width, rollup_tables, status_matrix


def _contacts_yaml(spec, host: str, port: int) -> str:  # noqa: ANN001
    lines = [
        "# Synthetic contacts written by `yearwheel simulate`: every participant and its head",
        "# reachable by email through the loopback SMTP server of this run.",
        "version: 1",
        "email:",
        f"  host: {host}",
        f"  port: {port}",
        '  sender: "质量提升行动 Yearwheel <yearwheel@sim.yearwheel.invalid>"',
        "  security: none",
        "participants:",
    ]
    for p in spec.participants:
        lines += [
            f"  {p.id}:",
            f"    name: {json.dumps(p.name, ensure_ascii=False)}",
            f"    email: [{p.id}@sim.yearwheel.invalid]",
            f"    head: {{email: [head.{p.id}@sim.yearwheel.invalid]}}",
        ]
    return "\n".join(lines) + "\n"


@app.command()
def simulate(
    programme_id: Annotated[str, typer.Argument(help="programme id")],
    year: Annotated[int, typer.Option("--year", help="the programme year to simulate")],
    seed: Annotated[int, typer.Option("--seed", help="chooses personas, submission days and payloads")] = 1,
    outbox: Annotated[
        Optional[Path], typer.Option("--outbox", help="folder for the .eml files (default: WORKDIR/outbox); its .eml files are replaced")
    ] = None,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="where the run's SQLite ledger and contacts file go (replaced each run)")
    ] = Path("simulation"),
    prefect: Annotated[bool, typer.Option("--prefect/--no-prefect", help="run as a Prefect flow (ephemeral server unless PREFECT_API_URL is set)")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print status and rollup as JSON instead of tables")] = False,
    calendar_dir: CalendarDirOpt = None,
) -> None:
    """The main job: a whole programme year on a simulated clock, ending with its status matrix and rollup.

    Tasks open, synthetic bureaus submit on time, late or never, reminders and escalations go
    out by email through a loopback SMTP server (each saved as .eml)."""
    from models.forms import sample_payload
    from models.migrate import upgrade
    from models.queries import list_task_status
    from models.simulation import advance_instants, assign_personas, plan_submissions
    from notifications.sink import SmtpSink

    from .simulate import PREPARED, SimulationState, run_events, simulate_flow

    t_start = time.perf_counter()
    directory = catalog.calendar_dir(calendar_dir)
    spec, cal = _load(directory, programme_id)
    plan = _plan(spec, year, cal)
    run_dir = workdir / f"{programme_id}-{year}"
    run_dir.mkdir(parents=True, exist_ok=True)
    eml_dir = outbox or run_dir / "outbox"
    eml_dir.mkdir(parents=True, exist_ok=True)
    for old in eml_dir.glob("*.eml"):
        old.unlink()
    db_file = run_dir / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db_file.resolve()}"
    upgrade(url)

    personas = assign_personas(spec, seed)
    submissions = plan_submissions(plan, personas, cal, seed)
    events = [(at, 0, None) for at in advance_instants(spec, plan, cal)] + [(s.at, 1, s) for s in submissions]
    events.sort(key=lambda e: (e[0], e[1]))

    def payload_for(sub):  # noqa: ANN001, ANN202
        form = spec.milestone(sub.milestone).form
        if not form:
            return {}
        return sample_payload(spec, form, random.Random(f"{seed}:payload:{sub.milestone}:{sub.participant}"), sub.participant, year=year)

    console = Console(stderr=True)
    with SmtpSink(outbox_dir=eml_dir) as sink:
        contacts = run_dir / "contacts.yaml"
        contacts.write_text(_contacts_yaml(spec, sink.host, sink.port), encoding="utf-8")
        rt = R.open_runtime(calendar_dir=directory, programme=programme_id, contacts=contacts, database=url)
        t_ready = time.perf_counter()
        try:
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, transient=False, disable=as_json,
            ) as progress:
                bar = progress.add_task(f"{programme_id} {year}", total=len(events))

                def on_event(at: dt.datetime) -> None:
                    progress.update(bar, advance=1, description=f"{programme_id} {at.astimezone(TZ):%Y-%m-%d}")

                state = SimulationState(rt, programme_id, year, events, payload_for, on_event)
                if prefect:
                    token = uuid.uuid4().hex
                    PREPARED[token] = state
                    try:
                        _run_flow(simulate_flow, programme_id, year, token)
                    finally:
                        PREPARED.pop(token, None)
                else:
                    run_events(state, events)
            t_done = time.perf_counter()
            final = events[-1][0] + dt.timedelta(minutes=1)
            (rollup,) = R.rollup_current(rt, final, year=year)
            with rt.sessions() as s:
                from models.ledger import find_programme_year

                rows = list_task_status(s, find_programme_year(s, programme_id, year).id)
        finally:
            rt.close()
        received = len(sink.messages)

    wall = time.perf_counter() - t_start
    loop = t_done - t_ready
    prefect_share = max(loop - state.engine_seconds, 0.0) if prefect else 0.0
    startup = (state.flow_started - t_ready) if prefect and state.flow_started else 0.0
    summary = {
        "programme": programme_id, "year": year, "seed": seed,
        "personas": {k: sum(1 for v in personas.values() if v == k) for k in ("punctual", "late", "never")},
        "advance_runs": state.advances, "submissions": state.submitted, "emails_sent": state.sent,
        "emails_received_by_smtp": received, "delivery_failures": len(state.failed),
        "outbox_dir": str(eml_dir), "ledger": str(db_file),
        "seconds": {"wall": round(wall, 2), "engine": round(state.engine_seconds, 2), "prefect": round(prefect_share, 2),
                    "prefect_startup": round(startup, 2)},
    }
    if as_json:
        keys = ("milestone", "participant", "state", "due", "submitted_at", "reminders_sent")
        print(json.dumps({"summary": summary, "status": [{k: r[k] for k in keys} for r in rows], "rollup": rollup.as_json()},
                         ensure_ascii=False, indent=2))
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
            + (f" ({startup:.1f} s starting its server, {prefect_share - startup:.1f} s running the flow and its "
               f"{len({e[0].astimezone(TZ).strftime('%Y-%m') for e in events})} task runs)" if prefect else " (--no-prefect)")
        )
    for e in state.failed[:10]:
        _err(f"delivery failed: {e}")
    if state.failed or received != state.sent:
        raise _fail(f"{len(state.failed)} deliveries failed; {state.sent} sent but {received} received")


def _run_flow(flow_fn, programme_id: str, year: int, token: str) -> None:  # noqa: ANN001
    """Run the flow with Prefect's per-run heartbeat thread off: on this machine it adds
    ~1 s to each flow run and the simulation is a single short-lived run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        flow_fn(programme_id, year, token)
