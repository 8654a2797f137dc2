"""The year simulation without Prefect: a fresh SQLite ledger, synthetic contacts and a
loopback SMTP server, the year's events (advances and the synthetic bureaus'
submissions) planned by ``models.simulation`` and run by the same use cases production
runs. ``flows/simulate.py`` runs them inside a Prefect flow, month by month.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from models.timeline import TZ

from . import usecases as R


@dataclass
class SimulationState:
    rt: R.Runtime
    programme: str
    year: int
    events: list[tuple[dt.datetime, int, Any]]  # (instant, order, submission or None)
    payload_for: Callable[[Any], dict]
    on_event: Callable[[dt.datetime], None]
    engine_seconds: float = 0.0
    flow_started: float | None = None  # perf_counter when the flow body began (after Prefect's start-up)
    submitted: int = 0
    advances: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    no_task: list[str] = field(default_factory=list)  # fan-out submissions whose task never came (their row did not stand)


def run_events(state: SimulationState, events: list[tuple[dt.datetime, int, Any]]) -> None:
    rt = state.rt
    now = [events[0][0] if events else dt.datetime.now(TZ)]
    rt.stamp_clock = lambda: now[0]  # the mail and the delivery records read as the simulated year
    for at, _, sub in events:
        now[0] = at
        t0 = time.perf_counter()
        if isinstance(sub, DrawEvent):
            _draw(state, sub, at)
        elif sub is None:
            result = R.advance(rt, at, roll=False, only_year=state.year)
            state.advances += 1
            state.sent += result.dispatch.sent
            state.failed.extend(result.dispatch.errors)
        elif sub.item is not None and not _has_task(rt, state, sub):
            # its row did not reach the ledger (the source came late or was left out): said, not guessed
            state.no_task.append(f"{sub.milestone} {sub.participant} item {sub.item}")
        else:
            d = R.submit_form(
                rt,
                state.programme,
                state.year,
                sub.milestone,
                sub.participant,
                state.payload_for(sub),
                at=at,
                actor=f"{sub.participant} (simulated, {sub.persona})",
                source="simulation",
                item=sub.item,
            ).dispatch
            assert d is not None  # sent at once
            state.sent += d.sent
            state.failed.extend(d.errors)
            state.submitted += 1
        state.engine_seconds += time.perf_counter() - t0
        state.on_event(at)


@dataclass(frozen=True)
class DrawEvent:
    """The province's expert draw, the working day after the plan it draws for."""

    milestone: str
    seed: str
    library: Path
    out: Path
    expected: dict  # the record planned from the plan's rows: the ledger's draw must be it


def _draw(state: SimulationState, ev: DrawEvent, at: dt.datetime) -> None:
    rec, _ = R.draw_experts(
        state.rt, state.programme, state.year, ev.milestone, ev.seed, ev.library, ev.out, at=at, by="simulation"
    )
    if rec.as_json()["assignments"] != ev.expected["assignments"]:
        # the plan in the ledger is not the one the year's submissions were planned from
        state.failed.append(f"expert draw {ev.milestone}: the ledger's draw differs from the planned one")


def _has_task(rt: R.Runtime, state: SimulationState, sub) -> bool:
    from sqlalchemy import select

    from models.ledger import find_programme_year
    from models.tables import MilestoneInstance, Task

    with rt.sessions() as s:
        py = find_programme_year(s, state.programme, state.year)
        if py is None:
            return False
        return (
            s.scalar(
                select(Task.id)
                .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
                .where(
                    MilestoneInstance.programme_year_id == py.id,
                    MilestoneInstance.milestone == sub.milestone,
                    Task.participant == sub.participant,
                    Task.item_key == sub.item,
                )
            )
            is not None
        )


def contacts_yaml(spec, host: str, port: int, experts: dict[str, str] | None = None) -> str:
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
    for xid, name in sorted((experts or {}).items()):  # drawn experts are reached by their id, like participants
        lines += [f"  {xid}:", f"    name: {json.dumps(name, ensure_ascii=False)}", f"    email: [{xid}@sim.yearwheel.invalid]"]
    return "\n".join(lines) + "\n"


@dataclass
class SimulationResult:
    state: SimulationState
    spec: Any
    events: int
    months: int
    personas: dict[str, str]
    rows: list[dict]
    rollup: Any
    received: int
    eml_dir: Path
    db_file: Path
    ready_at: float  # perf_counter when the events were handed to the runner
    seconds_loop: float
    left_out: list = field(default_factory=list)  # submissions that could not be dated (no working-day data)


Runner = Callable[[SimulationState], None]


def run_simulation(
    programme_id: str,
    year: int,
    *,
    seed: int,
    workdir: Path,
    outbox: Path | None,
    calendar_dir: Path,
    runner: Runner,
    on_event: Callable[[dt.datetime], None] = lambda at: None,
    emit_events: bool = False,
) -> SimulationResult:
    """Prepare a fresh migrated SQLite ledger, synthetic contacts and a loopback SMTP
    server, plan the year's events, and hand them to ``runner`` (plain, or inside a flow)."""
    from models.experts import drawn_experts
    from models.fanout import desired_rows
    from models.forms import sample_payload
    from models.ledger import LoadedProgramme
    from models.samples import fill_fan_out_tables, scale_counted_fields
    from models.ledger import find_programme_year
    from models.migrate import upgrade
    from models.queries import list_task_status
    from models.simulation import advance_instants, assign_personas, plan_submissions
    from models.timeline import catalog
    from models.timeline.plan import plan_year
    from models.timeline.workdays import WorkdayCalendar
    from notifications.sink import SmtpSink

    prog = LoadedProgramme.read(catalog.find_programme(calendar_dir, programme_id))
    spec, experts = prog.spec, prog.expert_names
    cal = WorkdayCalendar.from_directory(catalog.workdays_dir(calendar_dir))
    plan = plan_year(spec, year, cal)
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

    personas = assign_personas(spec, seed, extra=tuple(experts))  # drawn experts file reports too
    start = max(dt.date(year, 1, 1), spec.programme.in_force_from or dt.date.min)
    left_out: list = []

    def payload_for(sub):
        form = spec.milestone(sub.milestone).form
        if not form:
            return {}
        rng = random.Random(f"{seed}:payload:{sub.milestone}:{sub.participant}:{sub.item or ''}")
        payload = sample_payload(spec, form, rng, sub.participant, year=year)
        return scale_counted_fields(spec, form, fill_fan_out_tables(spec, form, payload, seed, year, rng), rng)

    # a fan-out milestone's tasks: the rows its source's planned submissions will carry
    sources = plan_submissions(plan, personas, cal, seed, start)
    owners: dict[str, list[tuple[str, str | None]]] = {}
    draws: list[tuple[dt.datetime, int, Any]] = []
    for pm in plan.milestones:
        fe = spec.milestone(pm.id).for_each
        if fe is not None:
            given = [x for x in sources if x.milestone == fe.milestone]
            stands = {n: (x.participant, 1, payload_for(x)) for n, x in enumerate(given)}
            drawn = None
            if fe.assignee is not None and fe.assignee.draw is not None and given:
                ev = _planned_draw(prog, year, seed, fe, fe.assignee.draw, given, stands, cal, run_dir)
                draws.append((ev[0], 1, ev[1]))
                drawn = drawn_experts(ev[1].expected)
            owners[pm.id] = [(p, k) for (p, k) in desired_rows(prog, spec.milestone(pm.id), stands, pm.assignees, [], drawn)]
    submissions = plan_submissions(plan, personas, cal, seed, start, left_out, owners)
    events = [(at, 0, None) for at in advance_instants(spec, plan, cal)] + [(s.at, 1, s) for s in submissions] + draws
    events.sort(key=lambda e: (e[0], e[1]))

    with SmtpSink(outbox_dir=eml_dir) as sink:
        contacts = run_dir / "contacts.yaml"
        contacts.write_text(contacts_yaml(spec, sink.host, sink.port, experts), encoding="utf-8")
        rt = R.open_runtime(
            calendar_dir=calendar_dir, programme=programme_id, contacts=contacts, database=url, events=emit_events, simulated=True
        )
        t_ready = time.perf_counter()
        try:
            state = SimulationState(rt, programme_id, year, events, payload_for, on_event)
            runner(state)
            t_done = time.perf_counter()
            final = events[-1][0] + dt.timedelta(minutes=1)
            (rollup,) = R.rollup_current(rt, final, year=year)
            with rt.sessions() as s:
                py = find_programme_year(s, programme_id, year)
                assert py is not None  # compiled by the first advance
                rows = list_task_status(s, py.id)
        finally:
            rt.close()
        received = len(sink.messages)
    months = len({e[0].astimezone(TZ).strftime("%Y-%m") for e in events})
    return SimulationResult(
        state,
        spec,
        len(events),
        months,
        {k: v for k, v in personas.items() if k not in experts},  # the summary counts participants
        rows,
        rollup,
        received,
        eml_dir,
        db_file,
        t_ready,
        t_done - t_ready,
        left_out,
    )


def _planned_draw(prog, year: int, seed: int, fe, milestone: str, given, stands, cal, run_dir: Path):
    """The draw the simulated province holds the working day after its plan (10:00), and the
    record it will give — planned from the plan's rows, so the experts' submissions can be."""
    from models import experts as X
    from models.timeline import TZ

    library = X.library_path(prog.path, prog.id)
    lib, sha = X.read_library(library)
    public = f"simulation seed {seed}"
    enterprises = [
        e
        for _, (giver, _, payload) in sorted(stands.items())
        for e in X.enterprises_of(payload.get(fe.field), giver, prog.spec.participants)
    ]
    expected = X.draw(lib, sha, prog.id, year, milestone, public, enterprises).as_json()
    last = max(x.at for x in given).astimezone(TZ).date()
    at = dt.datetime.combine(cal.add(last, 1), dt.time(10, 0), tzinfo=TZ)
    out = run_dir / f"expert-draw-{prog.id}-{year}-{milestone}.json"
    return at, DrawEvent(milestone, public, library, out, expected)
