"""A programme's multi-year targets: what a calendar's ``targets:`` may say — the measure,
the bound, the period, where the achieved value is counted from and who is told while it
is behind. Part of :class:`models.timeline.spec.ProgrammeFile`; references are checked in
:mod:`models.timeline.checks`, values computed in ``models.rollup``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .fanspec import ItemCount
from .spec import FieldId, Id, NumberOrParam, Source, Strict, Text, Year


class Measure(Strict):
    """Where a target's achieved value comes from: a form field summed over submissions."""

    form: Id
    field: FieldId
    column: FieldId | None = Field(None, description="for a table field: the column to sum; omit to count rows")


class Target(Strict):
    id: Id
    title: Text
    measure: Literal["count", "rate"]
    at_least: NumberOrParam | None = None
    at_most: NumberOrParam | None = None
    unit: Text | None = None
    period: Literal["programme", "yearly"] = Field(
        "programme", description="programme: cumulative over the programme years; yearly: every year"
    )
    by_year: Year | None = Field(None, description="for period programme: the year it must be met by (default the last)")
    each: Id | None = Field(None, description="a group or participant: every member must reach the target")
    counted_from: Measure | None = Field(None, description="count targets: the form field that counts")
    count_items: ItemCount | None = Field(
        None, description="count targets: distinct items of a fan-out milestone that reached a state (instead of counted_from)"
    )
    numerator: Measure | None = Field(None, description="rate targets")
    denominator: Measure | None = Field(None, description="rate targets")
    path: dict[Year, NumberOrParam] | None = Field(
        None,
        description="count targets: the declared cumulative value expected by the end of each year "
        "(default: a straight line from the start to the deadline)",
    )
    owner: Id | None = Field(
        None,
        description="a role (its holder) or participant told, once a month, while the target is behind its pace; "
        "without one the pace is shown but nobody is told",
    )
    source: Source

    @model_validator(mode="after")
    def _shape(self) -> Target:
        if self.at_least is None and self.at_most is None:
            raise ValueError("a target needs at_least and/or at_most")
        if self.measure == "rate":
            if self.counted_from is not None:
                raise ValueError("a rate target is computed from 'numerator' and 'denominator', not 'counted_from'")
            if (self.numerator is None) != (self.denominator is None):
                raise ValueError("a rate target needs both 'numerator' and 'denominator' (or neither)")
        elif self.numerator is not None or self.denominator is not None:
            raise ValueError("'numerator'/'denominator' only apply to rate targets")
        if self.count_items is not None and (self.measure != "count" or self.counted_from is not None):
            raise ValueError("'count_items' is for count targets, instead of 'counted_from'")
        if self.by_year is not None and self.period != "programme":
            raise ValueError("'by_year' only applies to period: programme")
        if self.path is not None and (self.measure != "count" or self.at_least is None):
            raise ValueError("'path' only applies to count targets with at_least")
        return self
