"""Prefect flow ``advance``: the hourly level-triggered reconcile (see models.reconcile).

Each programme is advanced in a task run of its own, so a programme whose calendar or
working days are broken shows as one failed task run (with the file, line and column)
while the others complete; the flow run then ends Failed, naming it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from flows.run_log import run_log
from models.timeline import minute
from yearwheel import usecases as R


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    at = params.get("at")
    when = minute(R.to_instant(at)) if at else "now"
    return f"advance {params.get('programme') or 'all programmes'} as of {when}"


# The runtime of the flow run in progress, by token: a runtime (a database engine, the
# calendars) must not travel through Prefect's parameter handling; the task gets the token.
_RUNTIMES: dict[str, R.Runtime] = {}


@task(name="advance-programme", task_run_name="advance {programme_id}", cache_policy=NO_CACHE, persist_result=False, retries=0)
def advance_programme(token: str, programme_id: str, at: dt.datetime) -> Any:
    """One programme's reconcile (compile, open, mark overdue, queue)."""
    rt = _RUNTIMES[token]
    return R.advance_programme(rt, rt.programme(programme_id), at)


@task(name="calendar-invalid", task_run_name="calendar {name} is invalid", cache_policy=NO_CACHE, persist_result=False)
def calendar_invalid(name: str, problems: str) -> None:
    """A calendar file that could not be read: its programme is not advanced."""
    raise ValueError(f"{name}: {problems}")


@flow(name="advance", flow_run_name=_run_name, log_prints=False)
def advance(
    at: Optional[dt.datetime] = None,
    programme: Optional[str] = None,
    calendar_dir: Optional[str] = None,
    contacts: Optional[str] = None,
    artifacts: bool = True,
) -> Any:
    """Open, mark overdue, queue and send reminders and escalations, roll up — as of ``at``
    (default now). Running it again for the same instant sends nothing.

    Args:
        at: the instant to act as of (default: now). Naive values are Asia/Shanghai time.
        programme: one programme id (default: every calendar in the calendar folder).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
        contacts: the contacts file (default: $YEARWHEEL_CONTACTS).
        artifacts: publish the status matrix, milestone progress, the summary and the HTML report.
    """
    instant = R.to_instant(at)
    with run_log(), R.opened(calendar_dir, programme, contacts) as rt:
        for path, exc in rt.broken.items():
            calendar_invalid(Path(path).name, R.problem_text(exc), return_state=True)
        token = uuid.uuid4().hex
        _RUNTIMES[token] = rt
        try:
            result = R.advance(
                rt, instant, each=lambda prog: advance_programme(token, prog.id, instant, return_state=True).result()
            )
        finally:
            _RUNTIMES.pop(token, None)
        out = result.as_json()
        if artifacts:
            from flows.artifacts import publish_advance

            publish_advance(rt, out, instant, programme)
    get_run_logger().info(
        "as of %s: opened %s, overdue %s, queued %s, sent %s, failed %s, dead %s",
        instant.isoformat(),
        out["opened"],
        out["overdue"],
        out["queued"],
        out["dispatch"]["sent"],
        out["dispatch"]["failed"],
        out["dispatch"]["dead"],
    )
    if result.failed:
        stopped = "; ".join(f"{p}: {why}" for p, why in out["failures"].items())
        return Failed(
            message=f"{len(out['failures'])} programme(s) stopped, the others were advanced — {stopped}"[:2000], data=out
        )
    return out
