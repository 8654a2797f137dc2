"""The one place Yearwheel reads the clock. Everything else takes ``now`` as an argument."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# Programme dates are local to mainland China: UTC+8, no daylight saving.
TZ = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    """The current instant, timezone-aware, in Asia/Shanghai."""
    return dt.datetime.now(TZ)
