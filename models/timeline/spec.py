"""The calendar schema: what a programme YAML file may say.

Every model is frozen, strict (no silent coercion of ``"5"`` to ``5``) and forbids
unknown keys, so a typo in a calendar is an error with a file and line, never a
silently ignored setting. Cross-references (milestone → form, assignee →
participant, relative date → milestone) are checked in :mod:`models.timeline.checks`,
which reports them against the same source positions.

The JSON schema in ``calendar/schema/`` is generated from these models
(``yearwheel schema``); a test fails when it is stale.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

SCHEMA_VERSION = 1

# Years the engine is prepared to reason about at all; working-day data decides
# which of them can actually be planned.
MIN_YEAR, MAX_YEAR = 2000, 2100


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Id = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=1, max_length=64),
    Field(description="kebab-case identifier: lower-case letters, digits and single hyphens"),
]
FieldId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64),
    Field(description="snake_case form-field identifier"),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Month = Annotated[int, Field(ge=1, le=12, description="month of the year, 1–12")]
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR)]


class Source(Strict):
    """Where a rule comes from in the source document, and what had to be assumed."""

    clause: Text = Field(description="the clause of the source document, e.g. 三、（三）")
    quote: Text | None = Field(None, description="the words of the source, as printed")
    assumed: Text | None = Field(
        None,
        description="present wherever the source is illegible or silent: what was assumed and why;"
        " a coordinator should confirm or change it",
    )


# --------------------------------------------------------------------------- programme


class YearRange(Strict):
    first: Year
    last: Year

    @model_validator(mode="after")
    def _ordered(self) -> YearRange:
        if self.last < self.first:
            raise ValueError(f"last ({self.last}) is before first ({self.first})")
        return self

    def __contains__(self, year: object) -> bool:
        return isinstance(year, int) and self.first <= year <= self.last

    def __iter__(self):  # the programme's years, in order (not pydantic's fields)
        return iter(range(self.first, self.last + 1))


RestDayRule = Literal["next_workday", "previous_workday", "keep"]


class Defaults(Strict):
    rest_day_rule: RestDayRule = Field(
        "next_workday",
        description="what happens to a due date that falls on a rest day: next_workday (the"
        " rule of Chinese procedural law for periods), previous_workday, or keep",
    )
    reminder_policy: Id | None = Field(None, description="id of the reminder policy used by default")
    opens_before_due: int = Field(
        20,
        ge=0,
        le=250,
        description="a milestone with no 'opens' rule (and no window) opens this many working days before its"
        " (effective) due date; its opening notice goes out that morning",
    )
    compile_lead_days: int = Field(
        31,
        ge=0,
        le=366,
        description="a programme year enters the ledger this many days before January 1st (31: on December 1st"
        " of the year before), or earlier when one of its steps falls due earlier — so reminders for early-January"
        " deadlines are sent in December",
    )


class Programme(Strict):
    id: Id
    title: Text
    issuer: Text
    issued: dt.date | None = None
    document_number: Text | None = None
    in_force_from: dt.date | None = Field(
        None,
        description="milestones due before this date are not held (a plan issued in May"
        " cannot ask for a March announcement of the same year)",
    )
    years: YearRange
    timezone: Literal["Asia/Shanghai"] = "Asia/Shanghai"
    source: Source | None = None
    defaults: Defaults = Defaults()
    provisional_workdays: bool = Field(
        False,
        description="plan on a provisional working-day year (drafted by `yearwheel workdays provisional` before the"
        " State Council's notice): every date depending on it is marked 暂定 and nothing dated on it is sent until"
        " the notice is imported; without this, a provisional year counts as missing",
    )


# --------------------------------------------------------------------------- who


ParticipantKind = Literal[
    "province",  # the provincial department itself
    "division",  # 省厅处室
    "unit",  # 直属单位 / 事业单位
    "city",  # 地级市 bureau
    "prefecture",  # 州
    "management-area",  # e.g. 长白山
    "pilot-county-city",  # e.g. 梅河口
    "county",  # 县局
    "department",  # another government department
    "committee",  # e.g. a quality development committee office
    "third-party",  # contracted service provider
]


class Participant(Strict):
    id: Id
    name: Text
    kind: ParticipantKind
    parent: Id | None = Field(None, description="the participant this one reports to")
    assumed: Text | None = Field(None, description="set when the source does not name this participant")


class Group(Strict):
    id: Id
    name: Text
    members: list[Id] = Field(min_length=1, description="participant ids")


class Role(Strict):
    """A role that escalations go to."""

    id: Id
    title: Text
    holder: Id | None = Field(
        None,
        description="participant holding the role; omit for a role held inside each assignee's own"
        " organisation (e.g. the head of the late bureau)",
    )


class ParameterRef(Strict):
    parameter: Id


class Parameter(Strict):
    """A number the source fixes but which a coordinator may need to change (e.g. a lost digit)."""

    id: Id
    title: Text
    value: int
    minimum: int | None = None
    maximum: int | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _in_bounds(self) -> Parameter:
        if self.minimum is not None and self.value < self.minimum:
            raise ValueError(f"value {self.value} is below minimum {self.minimum}")
        if self.maximum is not None and self.value > self.maximum:
            raise ValueError(f"value {self.value} is above maximum {self.maximum}")
        return self


IntOrParam = Union[int, ParameterRef]
NumberOrParam = Union[int, float, ParameterRef]


# --------------------------------------------------------------------------- reminders

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class OverdueChase(Strict):
    every_working_days: int = Field(ge=1, le=60, description="chase a late task every N working days")
    max_chasers: int = Field(ge=0, le=50, description="stop chasing after this many overdue reminders")


class Escalation(Strict):
    after_working_days: int = Field(ge=1, le=250, description="working days after the due date")
    to: list[Id] = Field(min_length=1, description="role ids")


class ReminderPolicy(Strict):
    id: Id
    send_at: str = Field("09:00", description="local time (Asia/Shanghai) reminders go out, 'HH:MM' in quotes")
    before_due: list[Annotated[int, Field(ge=0, le=120)]] = Field(
        default_factory=list,
        description="working days before the due date a reminder is sent; 0 = on the due day",
    )
    overdue: OverdueChase | None = None
    escalations: list[Escalation] = Field(default_factory=list)
    escalation_digest: bool = Field(
        False,
        description="send escalations as one daily digest per recipient and channel (a table of every task escalated"
        " to them that day) instead of one message per late task",
    )

    @field_validator("send_at", mode="before")
    @classmethod
    def _time_text(cls, v: object) -> object:
        if isinstance(v, int):
            # YAML 1.1 reads an unquoted 9:30 as the sexagesimal number 570.
            raise ValueError("write the time in quotes, e.g. send_at: '09:30' (unquoted, YAML reads 9:30 as a number)")
        if isinstance(v, str) and not _HHMM.match(v):
            raise ValueError(f"expected a 24-hour time 'HH:MM' such as '09:00', got {v!r}")
        return v

    @property
    def send_time(self) -> dt.time:
        hh, mm = self.send_at.split(":")
        return dt.time(int(hh), int(mm))


# --------------------------------------------------------------------------- date rules


class FixedDay(Strict):
    """A fixed day of the year, e.g. 12月25日前 → {rule: fixed, month: 12, day: 25}."""

    rule: Literal["fixed"]
    month: Month
    day: Annotated[int, Field(ge=1, le=31)]

    @model_validator(mode="after")
    def _real_day(self) -> FixedDay:
        longest = _stdcal.monthrange(2024, self.month)[1]  # 2024 is a leap year: Feb has 29
        if self.day > longest:
            raise ValueError(f"{_stdcal.month_name[self.month]} has no day {self.day} (at most {longest})")
        return self


class EndOfMonth(Strict):
    """X月底前: the last day of month X."""

    rule: Literal["end_of_month"]
    month: Month


class StartOfMonth(Strict):
    """The first day of month X (typically an `opens` date)."""

    rule: Literal["start_of_month"]
    month: Month


class MidMonth(Strict):
    """X月中旬: the 11th–20th. As a due date, the 20th; as an opening date, the 11th."""

    rule: Literal["mid_month"]
    month: Month


class Window(Strict):
    """X–Y月份: from the first day of from_month to the last day of to_month."""

    rule: Literal["window"]
    from_month: Month
    to_month: Month

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.to_month < self.from_month:
            raise ValueError(f"to_month ({self.to_month}) is before from_month ({self.from_month})")
        return self


class _Relative(Strict):
    milestone: Id
    days: int = Field(ge=0, le=250, description="working days; 0 = the same day if it is a working day")
    of: Literal["due", "opens"] = Field("due", description="which date of the other milestone")


class WorkingDaysAfter(_Relative):
    """N working days after another milestone's (effective) date."""

    rule: Literal["working_days_after"]


class WorkingDaysBefore(_Relative):
    """N working days before another milestone's (effective) date."""

    rule: Literal["working_days_before"]


DateRule = Annotated[
    Union[FixedDay, EndOfMonth, StartOfMonth, MidMonth, Window, WorkingDaysAfter, WorkingDaysBefore],
    Field(discriminator="rule"),
]
RELATIVE_RULES = (WorkingDaysAfter, WorkingDaysBefore)


# --------------------------------------------------------------------------- what happens

MilestoneKind = Literal["announcement", "submission", "window", "meeting", "review"]


class Milestone(Strict):
    id: Id
    title: Text
    kind: MilestoneKind
    assignees: list[Id] | None = Field(
        None,
        min_length=1,
        description="participants or groups; each participant owes one task. Defaults to the workstream's lead",
    )
    cooperating: list[Id] | None = Field(
        None, description="participants or groups copied on reminders. Defaults to the workstream's"
    )
    opens: DateRule | None = Field(
        None, description="when tasks open; defaults to a window's start, else opens_before_due working days before due"
    )
    opens_before_due: int | None = Field(
        None,
        ge=0,
        le=250,
        description="with no 'opens' rule: open this many working days before the due date (overrides the programme default)",
    )
    due: DateRule
    rest_day_rule: RestDayRule | None = Field(None, description="overrides the programme default")
    years: list[Year] | None = Field(
        None, min_length=1, description="the programme years this milestone is held; default every year"
    )
    form: Id | None = Field(None, description="the deliverable form each assignee submits")
    reminder_policy: Id | None = Field(None, description="overrides the programme default")
    for_each: ForEach | None = Field(
        None, description="fan out: one task per row of an earlier milestone's standing submissions (see ForEach)"
    )
    source: Source
    note: Text | None = None
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        None,
        description="what the task is for, in plain text (at most 500 characters): shown to the bureau on the"
        " intake page above the form; without it the page quotes the source clause",
    )


class Workstream(Strict):
    id: Id
    title: Text
    lead: list[Id] | None = Field(None, min_length=1, description="lead units (牵头单位)")
    cooperating: list[Id] | None = Field(None, description="cooperating units (配合单位)")
    source: Source | None = None
    milestones: list[Milestone] = Field(min_length=1)


# --------------------------------------------------------------------------- the file


class ProgrammeFile(Strict):
    """A programme calendar: one YAML file in calendar/."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, title="Yearwheel programme calendar")

    version: Literal[1] = Field(description="schema version; this engine reads version 1")
    programme: Programme
    roles: list[Role] = Field(default_factory=list)
    participants: list[Participant] = Field(min_length=1)
    groups: list[Group] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    forms: list[Form] = Field(default_factory=list)
    reminder_policies: list[ReminderPolicy] = Field(default_factory=list)
    workstreams: list[Workstream] = Field(min_length=1)
    targets: list[Target] = Field(default_factory=list)
    scorecard: Scorecard | None = Field(None, description="the annual evaluation (考评): `yearwheel evaluate`")
    bulletin: Bulletin | None = Field(None, description="the monthly bulletin (月度通报): `yearwheel bulletin`")
    overdue_alert: OverdueAlert | None = Field(
        None, description="tell the coordinator when a year's overdue tasks reach a threshold (a Prefect Automation)"
    )

    # ----- lookups used by the planner (validated by checks.py before planning)

    def milestones(self) -> list[tuple[Workstream, Milestone]]:
        return [(w, m) for w in self.workstreams for m in w.milestones]

    def milestone(self, milestone_id: str) -> Milestone:
        for _, m in self.milestones():
            if m.id == milestone_id:
                return m
        raise KeyError(milestone_id)

    def expand(self, ids: list[str] | None) -> tuple[str, ...]:
        """Participant ids named directly or through groups, in declaration order, once each."""
        wanted: set[str] = set()
        groups = {g.id: g for g in self.groups}
        for i in ids or ():
            wanted.update(groups[i].members if i in groups else (i,))
        return tuple(p.id for p in self.participants if p.id in wanted)

    def holders(self, refs: list[str]) -> list[str]:
        """The participants ``refs`` reach: a role's holder, a group's members, a participant;
        in order, once each (a role held inside each unit reaches nobody here)."""
        roles = {r.id: r for r in self.roles}
        out: list[str] = []
        for ref in refs:
            for p in [roles[ref].holder] if ref in roles else self.expand([ref]):
                if p and p not in out:
                    out.append(p)
        return out

    def parameter_value(self, v: NumberOrParam | None) -> int | float | None:
        if isinstance(v, ParameterRef):
            return next(p.value for p in self.parameters if p.id == v.parameter)
        return v


from .fanspec import ForEach  # noqa: E402 — they build on the types above
from .targetspec import Measure, Target  # noqa: E402, F401 — re-exported: importers name them here
from .formspec import FieldType, Form, FormField  # noqa: E402, F401 — re-exported: importers name them here
from .scorespec import Bulletin, OverdueAlert, Scorecard  # noqa: E402
from .workdayspec import HolidaySpan, WorkdaysFile  # noqa: E402, F401

Milestone.model_rebuild()
Target.model_rebuild()
ProgrammeFile.model_rebuild()
