"""Statutory working days in mainland China (State Council holiday notices, with 调休).

Two sources, in this order:

1. year files ``calendar/workdays/cn-YYYY.yaml`` (a coordinator types in the notice for a
   year the package below does not know yet, or corrects one);
2. the ``chinese-calendar`` package, which carries the notices for 2004–2026.

A year in neither raises :class:`MissingWorkdayData`: we never guess whether a day is a
working day, because a wrong guess moves a deadline.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar

from .spec import WorkdaysFile

ONE_DAY = dt.timedelta(days=1)

# The package's coverage, read from the package itself so an upgrade widens it.
PACKAGE_FIRST_YEAR = min(chinese_calendar.holidays).year
PACKAGE_LAST_YEAR = max(max(chinese_calendar.holidays), max(chinese_calendar.workdays)).year


class MissingWorkdayData(Exception):
    """No working-day data for a year that planning needs."""

    def __init__(self, year: int, directory: Path | None):
        self.year = year
        where = f"{directory}/cn-{year}.yaml" if directory else f"calendar/workdays/cn-{year}.yaml"
        super().__init__(
            f"no working-day data for {year}: the chinese-calendar package covers "
            f"{PACKAGE_FIRST_YEAR}–{PACKAGE_LAST_YEAR} and there is no {where}. "
            f"Add {where} with the State Council's holiday notice for {year} "
            f"(its holidays and its adjusted working days, 调休); "
            f"calendar/workdays/README.md shows the format."
        )


class WorkdayCalendar:
    """Answers "is this a working day?" and counts working days, loudly refusing unknown years."""

    def __init__(self, years: dict[int, WorkdaysFile] | None = None, directory: Path | None = None):
        self._files = dict(years or {})
        self._directory = directory
        self._cache: dict[int, frozenset[dt.date]] = {}  # year → rest days that are weekdays, or working weekend days

    @classmethod
    def from_directory(cls, directory: Path | None) -> WorkdayCalendar:
        """Load every ``cn-YYYY.yaml`` in ``directory`` (which may be absent)."""
        from .loader import load_workdays_file

        years: dict[int, WorkdaysFile] = {}
        if directory is not None and directory.is_dir():
            for f in sorted(directory.glob("cn-*.yaml")):
                spec = load_workdays_file(f)
                years[spec.year] = spec
        return cls(years, directory)

    def covers(self, year: int) -> bool:
        return year in self._files or PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR

    def require(self, year: int) -> None:
        """Raise MissingWorkdayData unless ``year`` can be planned."""
        if not self.covers(year):
            raise MissingWorkdayData(year, self._directory)

    def source(self, year: int) -> str:
        if year in self._files:
            return self._files[year].source
        self.require(year)
        return f"chinese-calendar {chinese_calendar.__version__}"

    def _exceptions(self, year: int) -> frozenset[dt.date]:
        """Days whose status is the opposite of what the weekday says."""
        if year not in self._cache:
            if year in self._files:
                f = self._files[year]
                rest = {h.first + n * ONE_DAY for h in f.holidays for n in range((h.last - h.first).days + 1)}
                flips = {d for d in rest if d.weekday() < 5} | set(f.adjusted_workdays)
            elif PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR:
                flips = {d for d in chinese_calendar.holidays if d.year == year and d.weekday() < 5}
                flips |= {d for d in chinese_calendar.workdays if d.year == year and d.weekday() >= 5}
            else:
                raise MissingWorkdayData(year, self._directory)
            self._cache[year] = frozenset(flips)
        return self._cache[year]

    def is_workday(self, day: dt.date) -> bool:
        weekday = day.weekday() < 5
        return weekday != (day in self._exceptions(day.year))

    def on_or_after(self, day: dt.date) -> dt.date:
        while not self.is_workday(day):
            day += ONE_DAY
        return day

    def on_or_before(self, day: dt.date) -> dt.date:
        while not self.is_workday(day):
            day -= ONE_DAY
        return day

    def add(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day`` (n > 0), before it (n < 0); for n == 0, ``day``
        itself if it is a working day, else the next one."""
        if n == 0:
            return self.on_or_after(day)
        step = ONE_DAY if n > 0 else -ONE_DAY
        left = abs(n)
        while left:
            day += step
            if self.is_workday(day):
                left -= 1
        return day

    def count_between(self, start: dt.date, end: dt.date) -> int:
        """Working days d with start < d <= end."""
        n, d = 0, start
        while d < end:
            d += ONE_DAY
            n += self.is_workday(d)
        return n

