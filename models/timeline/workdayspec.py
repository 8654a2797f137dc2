"""A working-day year file (``calendar/workdays/cn-YYYY.yaml``): the State Council's holiday
notice for a year the chinese-calendar package does not know. Re-exported by
:mod:`models.timeline.spec`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from .spec import Strict, Text, Year


class HolidaySpan(Strict):
    name: Text
    first: dt.date
    last: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> HolidaySpan:
        if self.last < self.first:
            raise ValueError(f"last ({self.last}) is before first ({self.first})")
        return self


class WorkdaysFile(Strict):
    """One year's working-day calendar (the State Council holiday notice) for a year the
    chinese-calendar package does not know. Weekdays are working days and weekends rest
    days, except the listed holidays (rest) and adjusted working days (调休, work)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, title="Yearwheel working-day year")

    version: Literal[1]
    year: Year
    source: Text = Field(description="the notice, e.g. 国务院办公厅关于2027年部分节假日安排的通知")
    holidays: list[HolidaySpan] = Field(min_length=1)
    adjusted_workdays: list[dt.date] = Field(default_factory=list, description="weekend days that are working days")
    provisional: bool = Field(
        False,
        description="drafted before the State Council's notice (yearwheel workdays provisional): "
        "only programmes that opt in plan on it, every date depending on it is marked 暂定, nothing dated on it is sent",
    )
    guesses: list[Text] = Field(default_factory=list, description="what a provisional year guessed, in Chinese")

    @model_validator(mode="after")
    def _coherent(self) -> WorkdaysFile:
        for h in self.holidays:
            for d in (h.first, h.last):
                if d.year != self.year:
                    raise ValueError(f"holiday {h.name} date {d} is not in {self.year}")
        rest = {h.first + dt.timedelta(n) for h in self.holidays for n in range((h.last - h.first).days + 1)}
        for d in self.adjusted_workdays:
            if d.year != self.year:
                raise ValueError(f"adjusted working day {d} is not in {self.year}")
            if d.weekday() < 5:
                raise ValueError(f"adjusted working day {d} is a weekday; list only weekend days that become working days")
            if d in rest:
                raise ValueError(f"{d} is listed both as a holiday and as an adjusted working day")
        return self
