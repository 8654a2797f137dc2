"""The one place Yearwheel reads the clock, and the one place instants from outside are
turned into timezone-aware values. Everything else takes ``now`` as an argument.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

# Programme dates are local to mainland China: UTC+8, no daylight saving.
TZ = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    """The current instant, timezone-aware, in Asia/Shanghai."""
    return dt.datetime.now(TZ)


class InstantInvalid(ValueError):
    """A typed instant that cannot be read."""


def to_instant(value: str | dt.datetime | dt.date | None) -> dt.datetime:
    """An instant from whatever an entry point was given — the CLI's ``--at``, a Prefect
    parameter, a web form: None is now; a naive date-time or a date is Asia/Shanghai
    local time (a date: its first minute); text is ISO 8601 (``2023-12-25T09:00``,
    ``2023-12-25 09:00+08:00``, ``2023-12-25``), read by pendulum. Always aware, as a plain
    ``datetime`` in Asia/Shanghai (or the offset given)."""
    if value is None:
        return now()
    if isinstance(value, str):
        import pendulum

        text = value.strip()
        try:
            parsed: Any = pendulum.parse(text, tz="Asia/Shanghai", strict=False)
        except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
            raise InstantInvalid(
                f"{value!r} is not a date-time; write it like 2023-12-25T09:00 (Asia/Shanghai unless an offset is given)"
            ) from exc
        if not isinstance(parsed, dt.datetime):  # a bare date, a time or a duration
            if isinstance(parsed, dt.date):
                parsed = dt.datetime.combine(parsed, dt.time(), TZ)
            else:
                raise InstantInvalid(f"{value!r} is not a date-time; write it like 2023-12-25T09:00")
        value = parsed
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return dt.datetime(
                value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=TZ
            )
        offset = value.utcoffset() or dt.timedelta(0)
        tz: dt.tzinfo = TZ if offset == dt.timedelta(hours=8) else dt.timezone(offset)
        return dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=tz
        )
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), TZ)
    raise InstantInvalid(f"expected an instant, got {type(value).__name__}")
