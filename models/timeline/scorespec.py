"""The calendar's annual evaluation (考评) and monthly bulletin (月度通报): what a programme
YAML may say about them. Part of :class:`models.timeline.spec.ProgrammeFile`; the
references (cohort members, targets, roles) are checked in :mod:`models.timeline.checks`.

A scorecard ranks each **cohort** (cities, divisions, third parties) separately; each
**indicator** is computed from the ledger (``models.evaluation``), scored 0–100, and
weighted within the cohorts it applies to.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .spec import Id, Source, Strict, Text

IndicatorMeasure = Literal[
    "on_time_rate",  # 按时报送率: on time / (submitted + still missing), exemptions excluded
    "first_time_acceptance",  # 一次通过率: accepted without ever being returned / decided (accepted or returned)
    "days_late_mean",  # 平均逾期工作日: over the late and missing items
    "days_late_worst",  # 最长逾期工作日
    "missing",  # 未报送事项数: owed items still not submitted
    "target_contribution",  # 目标贡献: the participant's share of a target, from its forms' measured fields
    "rating",  # 协调人评分: 0–100 entered in the workbench, with a comment
]
# measures where more is worse: scored 100 at 0, falling linearly to 0 at ``zero_at``
PENALTY_MEASURES = ("days_late_mean", "days_late_worst", "missing")
MEASURE_TITLES: dict[str, str] = {
    "on_time_rate": "按时报送率",
    "first_time_acceptance": "一次通过率",
    "days_late_mean": "平均逾期工作日",
    "days_late_worst": "最长逾期工作日",
    "missing": "未报送事项数",
    "target_contribution": "目标贡献",
    "rating": "协调人评分",
}
DEFAULT_ZERO_AT = {"days_late_mean": 20.0, "days_late_worst": 40.0, "missing": 5.0}

Weight = Annotated[Union[int, float], Field(gt=0, le=1000, description="relative weight within a cohort")]


class Cohort(Strict):
    """Participants ranked together (a city is not ranked against a division)."""

    id: Id
    title: Text = Field(description="the table's heading, e.g. 市（州）局")
    members: list[Id] = Field(min_length=1, description="participants or groups")


class Indicator(Strict):
    id: Id
    title: Text | None = Field(None, description="default: the measure's Chinese name")
    measure: IndicatorMeasure
    weight: Weight
    cohorts: list[Id] | None = Field(None, min_length=1, description="cohorts it applies to; default every cohort")
    zero_at: Union[int, float] | None = Field(
        None,
        gt=0,
        description="days_late_mean / days_late_worst / missing: the value that scores 0 (100 at none, linear between;"
        " defaults 20, 40 and 5)",
    )
    target: Id | None = Field(None, description="target_contribution: the target whose measured field counts")
    source: Source | None = None

    @model_validator(mode="after")
    def _shape(self) -> Indicator:
        if self.zero_at is not None and self.measure not in PENALTY_MEASURES:
            raise ValueError(f"'zero_at' only applies to {', '.join(PENALTY_MEASURES)}, not {self.measure}")
        if (self.target is None) == (self.measure == "target_contribution"):
            raise ValueError("a target_contribution indicator needs 'target' (and only it takes one)")
        return self

    @property
    def label(self) -> str:
        return self.title or MEASURE_TITLES[self.measure]

    @property
    def zero(self) -> float:
        return float(self.zero_at if self.zero_at is not None else DEFAULT_ZERO_AT.get(self.measure, 1.0))


class Scorecard(Strict):
    """The annual evaluation (seed 000, item 8 监督考评)."""

    cohorts: list[Cohort] = Field(min_length=1)
    indicators: list[Indicator] = Field(min_length=1)
    source: Source | None = Field(None, description="the clause it comes from; 'assumed' where the weights are not given")


class OverdueAlert(Strict):
    """Tell the coordinator when a programme year's overdue tasks reach ``threshold``: once,
    on the run that marks the task making the count cross it (the Prefect event
    ``yearwheel.programme-year.overdue-threshold``, on which the shipped Automation
    notifies the coordinator's channel; see ``yearwheel prefect apply``); again only
    after the count has fallen below and crosses it anew."""

    threshold: int = Field(ge=1, le=1_000_000, description="overdue tasks in one programme year that call for the coordinator")
    to: list[Id] = Field(min_length=1, description="roles (their holders) or participants the alert is for")
    source: Source | None = None


class Bulletin(Strict):
    """The monthly bulletin (月度通报): produced on the first working day of each month
    about the month before, and sent to ``to``."""

    to: list[Id] = Field(min_length=1, description="roles (their holders) or participants it is sent to")
    title: Text | None = Field(None, description="default: <programme title>工作月度通报")
    late_months_running: int = Field(3, ge=2, le=12, description="units late this many months running are named")
    source: Source | None = None
