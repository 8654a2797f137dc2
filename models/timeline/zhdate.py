"""Dates as a Chinese reader expects them — the one place they are formatted.

``zh_date(d, cal)`` writes ``2023年4月23日（星期日，调休上班）``: the weekday always, and,
when a working-day calendar is given, why a surprising day is what it is — an adjusted
working weekend (调休上班) or a day inside a statutory break (``春节假期``). A bureau
reading "星期日" on a deadline would otherwise take it for a mistake.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from .clock import TZ, local_day

WEEKDAYS = "一二三四五六日"


class DayNotes(Protocol):
    def day_note(self, day: dt.date) -> str | None: ...


def weekday(d: dt.date, *, long: bool = True) -> str:
    return ("星期" if long else "周") + WEEKDAYS[d.weekday()]


def day_note(d: dt.date, cal: DayNotes | None) -> str | None:
    """What is unusual about ``d`` (None also when the calendar does not know its year)."""
    if cal is None:
        return None
    from .workdays import MissingWorkdayData

    try:
        return cal.day_note(d)
    except MissingWorkdayData:
        return None


def zh_date(d: dt.date, cal: DayNotes | None = None, *, long: bool = True) -> str:
    """``2023年12月25日（星期一）``; with ``cal``, ``2023年4月23日（星期日，调休上班）``."""
    note = day_note(d, cal)
    return f"{d.year}年{d.month}月{d.day}日（{weekday(d, long=long)}{'，' + note if note else ''}）"


def zh_date_short(d: dt.date) -> str:
    """``4月23日`` — for subjects and short texts, where the year is understood."""
    return f"{d.month}月{d.day}日"


def zh_datetime(t: dt.datetime, cal: DayNotes | None = None) -> str:
    """``2023年12月25日（星期一）09:00`` in Asia/Shanghai."""
    local = t.astimezone(TZ)
    return f"{zh_date(local.date(), cal)}{local:%H:%M}"


def iso_weekday(d: dt.date, cal: DayNotes | None = None, *, long: bool = False) -> str:
    """``2023-04-23（周日，调休上班）`` — compact, for tables and calendar descriptions
    (``long``: ``星期日``)."""
    note = day_note(d, cal)
    return f"{d.isoformat()}（{weekday(d, long=long)}{'，' + note if note else ''}）"


def zh_relative(t: dt.datetime | dt.date, now: dt.datetime) -> str:
    """How far ``t`` is from ``now``, as a summary says it (``5分钟后``, ``3周后``,
    ``2天前``; a day is compared with the day ``now`` falls on), by pendulum."""
    import pendulum

    if isinstance(t, dt.datetime):
        return pendulum.instance(t).diff_for_humans(pendulum.instance(now), locale="zh")
    today = local_day(now)
    named = {0: "今天", 1: "明天", -1: "昨天"}.get((t - today).days)
    if named:
        return named
    return pendulum.Date(t.year, t.month, t.day).diff_for_humans(pendulum.Date(today.year, today.month, today.day), locale="zh")
