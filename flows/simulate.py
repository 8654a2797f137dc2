"""Prefect flow ``simulate``: run a whole programme year on a simulated clock.

One flow run; the year is worked month by month in one Prefect task run per month (so
the dashboard shows the year's shape) — never a task per bureau or per reminder, since
each Prefect run costs real time here. The engine work inside is the same code
``advance`` and ``submit`` run in production.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Callable

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows import runtime as R
from models.timeline import TZ


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


def run_events(state: SimulationState, events: list[tuple[dt.datetime, int, Any]]) -> None:
    from models.submissions import find_task, submit

    rt = state.rt
    prog = rt.programme(state.programme)
    for at, _, sub in events:
        t0 = time.perf_counter()
        if sub is None:
            result = R.advance(rt, at, roll=False, only_year=state.year)
            state.advances += 1
            state.sent += result.dispatch.sent
            state.failed.extend(result.dispatch.errors)
        else:
            with rt.sessions.begin() as s:
                ref = find_task(s, state.programme, state.year, sub.milestone, sub.participant)
                submit(s, prog, ref, state.payload_for(sub), at=at, actor=f"{sub.participant} (simulated, {sub.persona})",
                       source="simulation", messenger=rt.messenger, cal=rt.cal)
            d = R.E.dispatch(rt.sessions, rt.messenger, at=at)
            state.sent += d.sent
            state.failed.extend(d.errors)
            state.submitted += 1
        state.engine_seconds += time.perf_counter() - t0
        state.on_event(at)


# Prepared simulations by token: the state holds a database engine and callbacks, which
# must not travel through Prefect's parameter serialisation; the runs get the token.
PREPARED: dict[str, SimulationState] = {}


@task(name="simulate-month", task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False)
def simulate_month(token: str, label: str, first: int, last: int) -> int:
    state = PREPARED[token]
    run_events(state, state.events[first:last])
    return last - first


@flow(name="simulate", flow_run_name="simulate {programme} {year}", persist_result=False)
def simulate_flow(programme: str, year: int, token: str) -> dict[str, Any]:
    """Runs the events prepared by `yearwheel simulate` month by month."""
    state = PREPARED[token]
    state.flow_started = time.perf_counter()
    i = 0
    for month, group in groupby(state.events, key=lambda e: e[0].astimezone(TZ).strftime("%Y-%m")):
        n = len(list(group))
        simulate_month(token, f"{programme} {month}", i, i + n)
        i += n
    return {"advances": state.advances, "submitted": state.submitted, "sent": state.sent}
