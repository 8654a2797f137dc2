"""Prefect flow ``rollup``: recompute on-time rates, form counts and target progress, and
refresh the coordinator's artifacts, HTML year reports and the year's evaluation (nightly)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow

from flows.run_log import run_log
from yearwheel import usecases as R


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    year = params.get("year") or "current year"
    return f"rollup {params.get('programme') or 'all programmes'} {year}"


@flow(name="rollup", flow_run_name=_run_name)
def rollup(
    programme: Optional[str] = None,
    year: Optional[int] = None,
    at: Optional[dt.datetime] = None,
    calendar_dir: Optional[str] = None,
    artifacts: bool = True,
) -> list[dict[str, Any]]:
    """Roll up the ledger as of ``at`` (default now).

    Args:
        programme: one programme id (default: every calendar).
        year: the programme year (default: this year and last year, those in the ledger).
        at: the instant the rollup is as of (default: now).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
        artifacts: publish the status matrix, milestone progress and the HTML report.
    """
    instant = R.to_instant(at)
    with run_log(), R.opened(calendar_dir, programme) as rt:
        found = R.rollup_current(rt, instant, year=year)
        if not found and programme and year:
            raise LookupError(f"{programme} {year} is not in the ledger: run advance first")
        if artifacts:
            from flows.artifacts import publish_year

            from flows.artifacts import publish_evaluation
            from yearwheel import evaluations as E

            for r in found:
                view = R.year_view(rt, r.programme, r.year, instant)
                if view is not None:
                    publish_year(rt, view)
                if rt.programme(r.programme).spec.scorecard is not None:
                    publish_evaluation(E.evaluate(rt, r.programme, r.year, instant))
    return [r.as_json() for r in found]
