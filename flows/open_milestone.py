"""Prefect flow ``open_milestone``: open one milestone's tasks now, by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow

from flows.run_log import run_log
from yearwheel import usecases as R


@flow(name="open_milestone", flow_run_name="open {programme} {year} {milestone}")
def open_milestone(
    programme: str,
    year: int,
    milestone: str,
    at: Optional[dt.datetime] = None,
    calendar_dir: Optional[str] = None,
    contacts: Optional[str] = None,
) -> dict[str, Any]:
    """Open one milestone's tasks now, whatever its calendar opening, and notify the assignees.

    Args:
        programme: the programme id, e.g. jilin-quality-2022-2024.
        year: the programme year.
        milestone: the milestone id, as in the calendar.
        at: the instant to act as of (default: now).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
        contacts: the contacts file (default: $YEARWHEEL_CONTACTS).
    """
    with run_log(), R.opened(calendar_dir, programme, contacts) as rt:
        return R.open_milestone(rt, programme, year, milestone, R.to_instant(at)).as_json()
