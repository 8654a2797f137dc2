"""Target pacing: how much of a target should be achieved by a given day, and whether the
achieved value is ahead of, on or behind that pace.

- A count target with ``at_least: G`` runs from its window's first day (January 1st of the
  year for a yearly target; the programme's start for a programme target) to December 31st
  of its deadline year. Expected by day d: G × (days elapsed, d included) / (days in the
  window), a straight line — or, with a declared ``path`` (cumulative values at the end of
  given years), the straight line between those points.
- A rate target (or a count limit, ``at_most`` only) has no path: the threshold holds every
  day, so the expected value is the threshold itself.
- Status: ``ahead`` at ≥ 110 % of the expected value (or reached before the window ends),
  ``behind`` under 90 %, ``on_pace`` between; nothing expected yet (day one) is on pace.
  A rate with no data is unknown (None); a count with no data has achieved 0.

Pure: dates and numbers in, no database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Status = Literal["ahead", "on_pace", "behind"]
TOLERANCE = 0.10


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date  # inclusive

    def fraction(self, day: dt.date) -> float:
        """Share of the window elapsed at the end of ``day`` (0 before it, 1 after it)."""
        if day < self.start:
            return 0.0
        if day >= self.end:
            return 1.0
        return ((day - self.start).days + 1) / ((self.end - self.start).days + 1)


@dataclass(frozen=True)
class Pace:
    expected: float | None
    status: Status | None


def straight_line(goal: float, window: Window, day: dt.date) -> float:
    return goal * window.fraction(day)


def along_path(points: dict[int, float], window: Window, day: dt.date) -> float:
    """Cumulative path: (window start, 0) then (Dec 31 of each year, value), linear between."""
    knots = [(window.start - dt.timedelta(days=1), 0.0)] + [(dt.date(y, 12, 31), float(v)) for y, v in sorted(points.items())]
    if day <= knots[0][0]:
        return 0.0
    for (d0, v0), (d1, v1) in zip(knots, knots[1:], strict=False):
        if day <= d1:
            return v0 + (v1 - v0) * (day - d0).days / (d1 - d0).days
    return knots[-1][1]


def status_of(
    achieved: float | None,
    expected: float | None,
    *,
    goal: float | None,
    limit: float | None,
    rate: bool,
    window: Window,
    day: dt.date,
) -> Status | None:
    if rate or goal is None:  # thresholds: met or not, every day
        if achieved is None:
            return None
        ok = (goal is None or achieved >= goal) and (limit is None or achieved <= limit)
        return "on_pace" if ok else "behind"
    value = achieved or 0.0
    if limit is not None and value > limit:
        return "behind"
    if value >= goal:
        return "ahead" if day < window.end else "on_pace"
    if not expected:
        return "on_pace"
    if value >= expected * (1 + TOLERANCE):
        return "ahead"
    if value < expected * (1 - TOLERANCE):
        return "behind"
    return "on_pace"


def pace(
    achieved: float | None,
    *,
    goal: float | None,
    limit: float | None,
    rate: bool,
    window: Window,
    day: dt.date,
    path: dict[int, float] | None = None,
) -> Pace:
    if rate or goal is None:
        expected = goal if goal is not None else limit
    elif path:
        expected = round(along_path(path, window, day), 2)
    else:
        expected = round(straight_line(goal, window, day), 2)
    return Pace(expected, status_of(achieved, expected, goal=goal, limit=limit, rate=rate, window=window, day=day))
