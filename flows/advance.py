"""Prefect flow ``advance``: the hourly level-triggered reconcile (see models.engine)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow, get_run_logger

from flows import runtime as R


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    at = params.get("at")
    when = at.astimezone(R.TZ).strftime("%Y-%m-%d %H:%M") if at else "now"
    return f"advance {params.get('programme') or 'all programmes'} as of {when}"


@flow(name="advance", flow_run_name=_run_name, log_prints=False)
def advance(
    at: Optional[dt.datetime] = None,
    programme: Optional[str] = None,
    calendar_dir: Optional[str] = None,
    contacts: Optional[str] = None,
    artifacts: bool = True,
) -> dict[str, Any]:
    """Open, mark overdue, queue and send reminders and escalations, roll up — as of ``at``
    (default now). Running it again for the same instant sends nothing.

    Args:
        at: the instant to act as of (default: now). Naive values are Asia/Shanghai time.
        programme: one programme id (default: every calendar in the calendar folder).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
        contacts: the contacts file (default: $YEARWHEEL_CONTACTS).
        artifacts: publish the status matrix, milestone progress, the summary and the HTML report.
    """
    instant = at or R.parse_instant(None)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=R.TZ)
    with R.opened(calendar_dir, programme, contacts) as rt:
        out = R.advance(rt, instant).as_json()
        if artifacts:
            from flows.artifacts import publish_advance

            publish_advance(rt, out, instant, programme)
    get_run_logger().info(
        "as of %s: opened %s, overdue %s, queued %s, sent %s, failed %s, dead %s",
        instant.isoformat(), out["opened"], out["overdue"], out["queued"], out["dispatch"]["sent"],
        out["dispatch"]["failed"], out["dispatch"]["dead"],
    )
    return out
