"""Prefect flow ``chase``: mark late tasks and send the reminders, chasers and escalations due now."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow

from flows import runtime as R


@flow(name="chase", flow_run_name="chase {programme} {year}")
def chase(
    programme: str,
    year: int,
    milestone: Optional[str] = None,
    at: Optional[dt.datetime] = None,
    calendar_dir: Optional[str] = None,
    contacts: Optional[str] = None,
) -> dict[str, Any]:
    with R.opened(calendar_dir, programme, contacts) as rt:
        return R.chase(rt, programme, year, at or R.parse_instant(None), milestone).as_json()
