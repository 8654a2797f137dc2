"""Prefect flow ``rollup``: recompute on-time rates, form counts and target progress."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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
    rt = R.open_runtime(calendar_dir=Path(calendar_dir) if calendar_dir else None, programme=programme)
    try:
        (r,) = R.rollup_current(rt, at or R.parse_instant(None), year=year) or (None,)
        if r is None:
            raise LookupError(f"{programme} {year} is not in the ledger: run advance first")
        return r.as_json()
    finally:
        rt.close()
