"""Prefect flow ``chase``: mark late tasks and send the reminders, chasers and escalations due now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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
    rt = R.open_runtime(calendar_dir=Path(calendar_dir) if calendar_dir else None, programme=programme,
                        contacts=Path(contacts) if contacts else None)
    try:
        return R.chase(rt, programme, year, at or R.parse_instant(None), milestone).as_json()
    finally:
        rt.close()
