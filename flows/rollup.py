"""Prefect flow ``rollup``: recompute on-time rates, form counts and target progress."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from prefect import flow

from flows import runtime as R


@flow(name="rollup", flow_run_name="rollup {programme} {year}")
def rollup(
    programme: str,
    year: int,
    at: Optional[dt.datetime] = None,
    calendar_dir: Optional[str] = None,
) -> dict[str, Any]:
    with R.opened(calendar_dir, programme) as rt:
        found = R.rollup_current(rt, at or R.parse_instant(None), year=year)
    if not found:
        raise LookupError(f"{programme} {year} is not in the ledger: run advance first")
    return found[0].as_json()
