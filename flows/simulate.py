"""Prefect flow ``simulate``: run a whole programme year on a simulated clock.

One flow run; the year is worked month by month in one Prefect task run per month (so
the dashboard shows the year's shape) — never a task per bureau or per reminder, since
each Prefect run costs real time here. The work inside is ``yearwheel.simulation``, the
same use cases ``advance`` and ``submit`` run in production.
"""

from __future__ import annotations

import time
import uuid
from itertools import groupby
from pathlib import Path
from typing import Any, Optional

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from models.timeline import TZ
from yearwheel.simulation import SimulationState, run_events, run_simulation


def calendar_folder(option: Optional[str]) -> Path:
    from models.timeline import catalog
    from yearwheel.settings import load

    return catalog.calendar_dir(Path(option) if option else load().calendar_dir)


# What the simulation's ephemeral Prefect server does without: Prefect's anonymous
# telemetry (its start-up write races the server's own and prints a "database is locked"
# traceback into the user's terminal), the automation triggers and the event logger
# (nothing here reacts to events; they are still stored and shown). Handed to the server's
# process as Prefect settings: Prefect passes the settings in force to it.
def _server_settings() -> dict:
    from prefect.settings import (
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED,
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED,
    )

    return {
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED: False,
        PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED: False,
    }


class EarlyServer:
    """Prefect's ephemeral server started on a thread while the simulation prepares its
    year (planning, payloads, the ledger), so its start-up overlaps work instead of
    preceding it; :meth:`wait` before the first flow run. Nothing when a Prefect server is
    configured (``PREFECT_API_URL``)."""

    def __init__(self) -> None:
        import threading

        from prefect.settings import PREFECT_API_URL

        self.seconds = 0.0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if PREFECT_API_URL.value():
            return
        self._thread = threading.Thread(target=self._start, name="prefect-ephemeral-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        t0 = time.perf_counter()
        try:
            from prefect.server.api.server import SubprocessASGIServer
            from prefect.settings import temporary_settings

            # the instance Prefect's client uses (one per process); a fresh Prefect home
            # runs Prefect's migrations first (~15 s here), hence the long timeout
            with temporary_settings(_server_settings()):
                SubprocessASGIServer().start(timeout=120)
        except BaseException as exc:  # noqa: BLE001 — raised in wait(), on the main thread
            self._error = exc
        self.seconds = time.perf_counter() - t0

    def wait(self) -> None:
        """Until the server answers (raises what its start raised)."""
        if self._thread is None:
            return
        self._thread.join()
        if self._error is not None:
            raise self._error


# Prepared simulations by token: the state holds a database engine and callbacks, which
# must not travel through Prefect's parameter serialisation; the runs get the token.
PREPARED: dict[str, SimulationState] = {}


@task(name="simulate-month", task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False)
def simulate_month(token: str, label: str, first: int, last: int) -> int:
    state = PREPARED[token]
    run_events(state, state.events[first:last])
    return last - first


def run_months(state: SimulationState, token: str) -> None:
    """Inside a flow: the events month by month, one task run per month."""
    state.flow_started = time.perf_counter()
    i = 0
    for month, group in groupby(state.events, key=lambda e: e[0].astimezone(TZ).strftime("%Y-%m")):
        n = len(list(group))
        simulate_month(token, f"{state.programme} {month}", i, i + n)
        i += n


@flow(name="simulate-prepared", flow_run_name="simulate {programme} {year}", persist_result=False)
def simulate_flow(programme: str, year: int, token: str) -> dict[str, Any]:
    """Runs the events prepared by `yearwheel simulate` month by month (not deployable:
    the token names state in this process)."""
    state = PREPARED[token]
    run_months(state, token)
    return {"advances": state.advances, "submitted": state.submitted, "sent": state.sent}


def run_in_this_flow(state: SimulationState) -> None:
    token = uuid.uuid4().hex
    PREPARED[token] = state
    try:
        run_months(state, token)
    finally:
        PREPARED.pop(token, None)


@flow(name="simulate", flow_run_name="simulate {programme} {year} (seed {seed})", persist_result=False)
def simulate(
    programme: str, year: int, seed: int = 1, workdir: str = "simulation", calendar_dir: Optional[str] = None
) -> dict[str, Any]:
    """A whole programme year on a simulated clock, in a fresh SQLite ledger of its own
    (never the production ledger), with emails to a loopback SMTP server saved as .eml.

    Args:
        programme: the programme id, e.g. jilin-quality-2022-2024.
        year: the programme year to simulate.
        seed: chooses personas (punctual, late, never), submission days and payloads.
        workdir: where the run's ledger, contacts file and .eml files go (replaced each run).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
    """

    result = run_simulation(
        programme,
        year,
        seed=seed,
        workdir=Path(workdir),
        outbox=None,
        calendar_dir=calendar_folder(calendar_dir),
        runner=run_in_this_flow,
        emit_events=True,
    )
    st = result.state
    if st.failed or result.received != st.sent:
        raise RuntimeError(f"{len(st.failed)} deliveries failed; {st.sent} sent but {result.received} received")
    return {
        "advances": st.advances,
        "submitted": st.submitted,
        "sent": st.sent,
        "received": result.received,
        "on_time_rate": result.rollup.on_time_rate,
        "ledger": str(result.db_file),
    }
