"""Prefect flow ``chase``: mark late tasks and send the reminders, chasers and escalations due now."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow

from flows.run_log import run_log
from yearwheel import usecases as R


@flow(name="chase", flow_run_name="chase {programme} {year}")
def chase(
    programme: str,
    year: int,
    milestone: Optional[str] = None,
    at: Optional[dt.datetime] = None,
    calendar_dir: Optional[str] = None,
    contacts: Optional[str] = None,
) -> dict[str, Any]:
    """Mark late tasks and send the reminders, chasers and escalations due now.

    Args:
        programme: the programme id.
        year: the programme year.
        milestone: only this milestone (default: all).
        at: the instant to act as of (default: now).
        calendar_dir: the calendar folder (default: $YEARWHEEL_CALENDAR_DIR or ./calendar).
        contacts: the contacts file (default: $YEARWHEEL_CONTACTS).
    """
    with run_log(), R.opened(calendar_dir, programme, contacts) as rt:
        return R.chase(rt, programme, year, R.to_instant(at), milestone).as_json()
