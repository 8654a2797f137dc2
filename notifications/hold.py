"""Quiet hours and rest days: SMS and chat wait for the next working morning.

Email may go at any time (it waits in an inbox); a text message at 23:00 or on a Sunday
wakes someone, so those channels are held until the quiet hours end on a working day.
"""

from __future__ import annotations

import datetime as dt

from models.timeline import TZ, WorkdayCalendar

from .contacts import HELD_CHANNELS, QuietHours


def release_time(channel: str, at: dt.datetime, cal: WorkdayCalendar, quiet: QuietHours | None) -> dt.datetime:
    """The first instant at or after ``at`` when a message on ``channel`` may go."""
    if channel not in HELD_CHANNELS:
        return at
    quiet = quiet or QuietHours()
    local = at.astimezone(TZ)
    start, end = quiet.end_time, quiet.start_time  # working hours: [end of quiet, start of quiet)
    if cal.is_workday(local.date()) and start <= local.time() < end:
        return at
    day = local.date()
    if cal.is_workday(day):
        # before the morning: today; after the evening: the next working day
        day = day if local.time() < start else cal.add(day, 1)
    else:
        day = cal.on_or_after(day)
    return dt.datetime.combine(day, start, tzinfo=TZ)
