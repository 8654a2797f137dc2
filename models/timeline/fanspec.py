"""Milestones that fan out from what was submitted, as a calendar says it: ``for_each`` on a
milestone (one task per row of an earlier milestone's table) and ``count_items`` on a
target (distinct items that reached a state). Part of
:class:`models.timeline.spec.ProgrammeFile`; checked in :mod:`models.timeline.fanoutcheck`,
carried out by :mod:`models.fanout`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .spec import FieldId, Id, Strict


class ItemAssignee(Strict):
    """Who owes a fan-out task: the participant a column of the row names (its id or its
    name, as a bureau writes it), or the experts the programme's expert draw (双随机) assigned
    to the row's enterprise — one task per drawn expert per enterprise."""

    column: FieldId | None = Field(None, description="the table column naming the participant (id or name)")
    draw: Id | None = Field(
        None,
        description="the milestone whose expert draw (calendar/experts/<programme>.yaml, `yearwheel experts draw`) "
        "assigns the experts: each drawn expert owes a task for each enterprise assigned to them",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ItemAssignee:
        if (self.column is None) == (self.draw is None):
            raise ValueError("give exactly one of column (a column naming the participant) or draw (the expert draw)")
        return self


class ForEach(Strict):
    """A milestone that fans out from what was submitted (multi-instance): one task per row
    of a table field in an earlier milestone's standing submissions — e.g. one feedback
    task per measure of the task sheets (任务交办单), owed by the division the row names."""

    milestone: Id = Field(description="the earlier milestone whose submissions hold the rows")
    field: FieldId = Field(description="a table field of that milestone's form")
    key: FieldId = Field(description="the column identifying an item (e.g. credit_code); rows with the same key are one item")
    name: FieldId | None = Field(None, description="the column naming the item in messages (default: the key)")
    keep: list[FieldId] = Field(
        default_factory=list, description="further columns kept with each task as its snapshot (e.g. city, industry)"
    )
    standing: Literal["accepted", "submitted"] = Field(
        "accepted",
        description="which versions give the rows: accepted by the coordinator (default), or the latest submitted",
    )
    assignee: ItemAssignee | None = Field(
        None, description="the column naming who owes each row; omit for one task per row for each of the milestone's assignees"
    )


class ItemCount(Strict):
    """A count of distinct items that reached a state in a fan-out milestone, across the
    programme's years — e.g. the enterprises that went through the clinic."""

    milestone: Id = Field(description="a fan-out milestone (with for_each)")
    state: Literal["accepted", "submitted"] = "accepted"
    distinct: FieldId | None = Field(
        None, description="count distinct values of this kept column instead of distinct item keys (e.g. credit_code)"
    )
