"""Statutory working days in mainland China (State Council holiday notices, with 调休).

Two sources, in this order:

1. year files ``calendar/workdays/cn-YYYY.yaml`` (a coordinator types in the notice for a
   year the package below does not know yet, or corrects one);
2. the ``chinese-calendar`` package, which carries the notices for 2004–2026.

A year in neither raises :class:`MissingWorkdayData`: we never guess whether a day is a
working day, because a wrong guess moves a deadline.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from pathlib import Path
from collections.abc import Iterable
from typing import Any

import chinese_calendar

from .spec import WorkdaysFile

ONE_DAY = dt.timedelta(days=1)

# The package's coverage, read from the package itself so an upgrade widens it.
PACKAGE_FIRST_YEAR = min(chinese_calendar.holidays).year
PACKAGE_LAST_YEAR = max(max(chinese_calendar.holidays), max(chinese_calendar.workdays)).year


class MissingWorkdayData(Exception):
    """No working-day data for a year that planning needs."""

    def __init__(self, year: int, directory: Path | None, message: str | None = None):
        self.year = year
        where = f"{directory}/cn-{year}.yaml" if directory else f"calendar/workdays/cn-{year}.yaml"
        self.where = where
        super().__init__(
            message
            or f"no working-day data for {year}: the chinese-calendar package covers "
            f"{PACKAGE_FIRST_YEAR}–{PACKAGE_LAST_YEAR} and there is no {where}. "
            f"Add {where} with the State Council's holiday notice for {year} "
            f"(its holidays and its adjusted working days, 调休); "
            f"calendar/workdays/README.md shows the format."
        )


class ProvisionalNotAllowed(MissingWorkdayData):
    """The year's data is provisional and the programme has not opted in."""

    def __init__(self, year: int, directory: Path | None):
        where = f"{directory}/cn-{year}.yaml" if directory else f"calendar/workdays/cn-{year}.yaml"
        super().__init__(
            year,
            directory,
            f"the working days of {year} are provisional ({where}, drafted before the State Council's notice): "
            f"import the notice with `yearwheel workdays import`, or set programme.provisional_workdays: true "
            f"in the calendar to plan on them (dates marked 暂定, nothing dated on them sent)",
        )


class WorkdayDataInvalid(MissingWorkdayData):
    """The year's file exists but is broken: the year cannot be planned until it is fixed.
    Only programmes that need that year are stopped."""

    def __init__(self, year: int, directory: Path | None, problems: list):
        self.problems = problems
        first = str(problems[0]) if problems else "unreadable"
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(year, directory, f"the working-day file for {year} is invalid: {first}{more}")


# chinese-calendar names its festivals in English; a coordinator reads them in Chinese.
FESTIVALS_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}

_FILE_NAME = re.compile(r"^cn-(\d{4})\.yaml$")


def exceptions_from(rest: Iterable[dt.date], work: Iterable[dt.date], year: int) -> frozenset[dt.date]:
    """The days of ``year`` whose status is not what their weekday says — weekday rest days
    and worked weekend days — from a year's rest days and worked days: what decides every
    working-day count. (A weekend day inside a break is rest either way; sources differ on
    whether they list it.)"""
    return frozenset({d for d in rest if d.year == year and d.weekday() < 5} | {d for d in work if d.year == year})


class WorkdayCalendar:
    """Answers "is this a working day?" and counts working days, loudly refusing unknown years.

    Year files are read when a year is first needed, not up front: a mistake in next
    year's file drafted early stops only what needs next year (``WorkdayDataInvalid``)."""

    def __init__(
        self, years: dict[int, WorkdaysFile] | None = None, directory: Path | None = None, paths: dict[int, Path] | None = None
    ):
        self._files: dict[int, WorkdaysFile] = dict(years or {})
        self._paths = dict(paths or {})
        self._broken: dict[int, WorkdayDataInvalid] = {}
        self._directory = directory
        self._cache: dict[int, frozenset[dt.date]] = {}  # year → rest days that are weekdays, or working weekend days
        self._provisional: set[int] = set()  # years whose cached days come from a provisional draft
        self.allow_provisional = False  # a programme opts in (programme.provisional_workdays): see for_spec

    @property
    def data_id(self) -> int:
        """The same for every view of one calendar's data (``for_spec``): a cache key."""
        return id(self._files)

    def for_spec(self, spec: Any) -> WorkdayCalendar:
        """This calendar as ``spec``'s programme may read it: provisional years only if it
        opted in. The view shares what has been read."""
        allowed = bool(getattr(getattr(spec, "programme", None), "provisional_workdays", False))
        if allowed == self.allow_provisional:
            return self
        view = copy.copy(self)
        view.allow_provisional = allowed
        return view

    def is_provisional(self, year: int) -> bool:
        """The year's data is a provisional draft (whether or not this view may read it)."""
        try:
            f = self._load(year)
        except WorkdayDataInvalid:
            return False
        return f is not None and f.provisional

    @classmethod
    def from_directory(cls, directory: Path | None) -> WorkdayCalendar:
        """Find every ``cn-YYYY.yaml`` in ``directory`` (which may be absent); each is read
        when its year is first needed."""
        paths: dict[int, Path] = {}
        if directory is not None and directory.is_dir():
            for f in sorted(directory.glob("cn-*.yaml")):
                m = _FILE_NAME.match(f.name)
                if m:
                    paths[int(m.group(1))] = f
        return cls(None, directory, paths)

    def _file(self, year: int) -> WorkdaysFile | None:
        f = self._load(year)
        if f is not None and f.provisional and not self.allow_provisional:
            raise ProvisionalNotAllowed(year, self._directory)
        return f

    def _load(self, year: int) -> WorkdaysFile | None:
        if year in self._files:
            return self._files[year]
        if year in self._broken:
            raise self._broken[year]
        path = self._paths.get(year)
        if path is None:
            return None
        from .loader import CalendarInvalid, load_workdays_file

        try:
            spec = load_workdays_file(path)
        except CalendarInvalid as exc:
            self._broken[year] = WorkdayDataInvalid(year, self._directory, exc.problems)
            raise self._broken[year] from None
        self._files[year] = spec
        return spec

    def covers(self, year: int) -> bool:
        try:
            return self._file(year) is not None or PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR
        except (WorkdayDataInvalid, ProvisionalNotAllowed):
            return False

    def require(self, year: int) -> None:
        """Raise MissingWorkdayData (or WorkdayDataInvalid) unless ``year`` can be planned."""
        if self._file(year) is None and not PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR:
            raise MissingWorkdayData(year, self._directory)

    def status(self, year: int) -> tuple[str, str]:
        """Where ``year``'s working days stand, for the views: ("official", the notice or
        package it comes from), ("provisional", the draft), ("invalid", what is wrong
        with its file) or ("missing", the file to add)."""
        if self.is_provisional(year):
            return "provisional", self._load(year).source  # type: ignore[union-attr]
        try:
            return "official", self.source(year)
        except WorkdayDataInvalid as exc:
            return "invalid", str(exc)
        except MissingWorkdayData as exc:
            return "missing", exc.where

    def source(self, year: int) -> str:
        f = self._file(year)
        if f is not None:
            return f.source
        self.require(year)
        return f"chinese-calendar {chinese_calendar.__version__}"

    def fingerprint(self, year: int) -> str:
        """What the working days of ``year`` come from, as a short text that changes when
        they do (a new or corrected year file): compiled ledgers are re-projected on change."""
        path = self._paths.get(year)
        if path is not None:
            try:
                return "file:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            except OSError:
                return "file:unreadable"
        if year in self._files:
            f = self._files[year]
            return "spec:" + hashlib.sha256(f.model_dump_json().encode()).hexdigest()[:16]
        if PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR:
            return f"chinese-calendar {chinese_calendar.__version__}"
        return "none"

    def exceptions(self, year: int) -> frozenset[dt.date]:
        """Days of ``year`` whose status is the opposite of what the weekday says: weekday
        rest days and worked weekend days (MissingWorkdayData for an unknown year)."""
        return self._exceptions(year)

    def _exceptions(self, year: int) -> frozenset[dt.date]:
        """Days whose status is the opposite of what the weekday says."""
        if year in self._provisional and not self.allow_provisional:  # the cache is shared with views
            raise ProvisionalNotAllowed(year, self._directory)
        if year not in self._cache:
            f = self._file(year)
            if f is not None:
                rest = {h.first + n * ONE_DAY for h in f.holidays for n in range((h.last - h.first).days + 1)}
                flips = set(exceptions_from(rest, f.adjusted_workdays, year))
            elif PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR:
                flips = {d for d in chinese_calendar.holidays if d.year == year and d.weekday() < 5}
                flips |= {d for d in chinese_calendar.workdays if d.year == year and d.weekday() >= 5}
            else:
                raise MissingWorkdayData(year, self._directory)
            if f is not None and f.provisional:
                self._provisional.add(year)
            self._cache[year] = frozenset(flips)
        return self._cache[year]

    def holiday_name(self, day: dt.date) -> str | None:
        """The statutory break ``day`` belongs to (in Chinese), if it is a rest day of one."""
        f = self._file(day.year)
        if f is not None:
            return next((h.name for h in f.holidays if h.first <= day <= h.last), None)
        if PACKAGE_FIRST_YEAR <= day.year <= PACKAGE_LAST_YEAR:
            if day in chinese_calendar.holidays:
                name = chinese_calendar.holidays[day]
                return FESTIVALS_ZH.get(getattr(name, "value", name), str(getattr(name, "value", name)))
            return None
        raise MissingWorkdayData(day.year, self._directory)

    def day_note(self, day: dt.date) -> str | None:
        """Why a day is not what its weekday suggests: ``调休上班`` for a working weekend day,
        ``春节假期`` for a rest day inside a break; None for an ordinary day."""
        if self.is_workday(day):
            return "调休上班" if day.weekday() >= 5 else None
        name = self.holiday_name(day)
        if name:
            return name if name.endswith("假期") else f"{name}假期"
        return None if day.weekday() >= 5 else "休息日"

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
