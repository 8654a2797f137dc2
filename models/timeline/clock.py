"""The one place Yearwheel reads the clock, the one place instants from outside are turned
into timezone-aware values, and the one place instants are turned into the local day and
minute a reader sees. Everything else takes ``now`` as an argument.

pendulum is the instant layer: it reads what people type (``--at``, a web form) and
words the spans between instants (``in 5 minutes``; in Chinese, ``models.timeline.zhdate``).
It is imported when first needed, so that commands which never touch it start fast.
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


def local_day(t: dt.datetime) -> dt.date:
    """The day ``t`` falls on in Asia/Shanghai — the day every deadline is judged by."""
    return t.astimezone(TZ).date()


def minute(t: dt.datetime) -> str:
    """``2023-12-25 09:00``, Asia/Shanghai: an instant in a log line, a run name, a table."""
    return f"{t.astimezone(TZ):%Y-%m-%d %H:%M}"


def span(length: dt.timedelta, *, locale: str = "en") -> str:
    """A length of time in words (``10 minutes``, ``1 hour 5 minutes``; locale ``zh``:
    ``10分钟``), to the second, by pendulum."""
    import pendulum

    seconds = max(int(round(length.total_seconds())), 0)
    return pendulum.duration(seconds=seconds).in_words(locale=locale) if seconds else ("0秒" if locale == "zh" else "0 seconds")


class InstantInvalid(ValueError):
    """A typed instant that cannot be read."""


def to_instant(value: str | dt.datetime | dt.date | None) -> dt.datetime:
    """An instant from whatever an entry point was given — the CLI's ``--at``, a Prefect
    parameter, a web form: None is now; a naive date-time or a date is Asia/Shanghai
    local time (a date: its first minute); text is ISO 8601 (``2023-12-25T09:00``,
    ``2023-12-25 09:00+08:00``, ``2023-12-25``), read by pendulum — ISO only, and a bare time
    (``09:00``) is refused rather than taken as today. Always aware, as a plain
    ``datetime`` in Asia/Shanghai (or the offset given)."""
    if value is None:
        return now()
    if isinstance(value, str):
        import pendulum

        text = value.strip()
        try:
            # strict ISO 8601 only (``25/12/2023`` could be read two ways), and exactly what
            # was typed: a bare time is refused, not read as that time today
            parsed: Any = pendulum.parse(text, tz="Asia/Shanghai", exact=True)
        except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
            raise InstantInvalid(
                f"{value!r} is not a date-time; write it like 2023-12-25T09:00 (Asia/Shanghai unless an offset is given)"
            ) from exc
        if not isinstance(parsed, dt.datetime):  # a bare date, a time or a duration
            if isinstance(parsed, dt.date):
                parsed = dt.datetime.combine(parsed, dt.time(), TZ)
            else:
                what = "has no date" if isinstance(parsed, dt.time) else "is not a date-time"
                raise InstantInvalid(f"{value!r} {what}; write it like 2023-12-25T09:00")
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
