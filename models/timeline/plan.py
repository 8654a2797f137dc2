"""Compile a programme calendar for one year into dated milestones.

Pure: a function of (calendar spec, year, working-day calendar). No clock, no I/O.

Definitions a coordinator can rely on (all dates local, Asia/Shanghai):

* ``nominal_due`` — the date as the document states it (end of March → 03-31).
* ``due`` — after the milestone's rest-day rule: ``next_workday`` (default; Chinese
  procedural law: a period ending on a statutory rest day ends on the first working day
  after it), ``previous_workday``, or ``keep``.
* ``opens`` — when tasks open: the milestone's ``opens`` rule, else a window's first day,
  else ``opens_before_due`` working days before ``due`` (the milestone's, else the
  programme default, 20); never before the programme is in force. The opening can fall in
  the year before (a January deadline opens in December).
* Relative rules count working days from another milestone's *effective* date (for
  ``of: opens``, the opening after clamping to ``in_force_from``).
* ``notice`` and ``reminders`` — what each assignee is sent before the due date, computed
  by ``chase.task_steps``, the same function the engine queues from: the opening notice,
  then for each ``before_due: N`` of the reminder policy, at ``send_at`` on the N-th
  working day before ``due`` (0: ``due`` itself, or the last working day before it when
  ``due`` was kept on a rest day). Values landing on the same working day give one
  reminder, and one on the opening day is carried by the opening notice (``merged`` says
  which); none before the task opens.
* A milestone whose date counts from a milestone not held that year (``years:``, or due
  before the programme came into force) cannot be dated: the plan refuses it.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .spec import (
    EndOfMonth,
    FixedDay,
    MidMonth,
    Milestone,
    ProgrammeFile,
    StartOfMonth,
    Window,
    WorkingDaysAfter,
    WorkingDaysBefore,
)
from .chase import DUE_TODAY, LAST_WORKDAY, OPENED, UPCOMING, Step, shift_workdays, task_steps
from .workdays import WorkdayCalendar


class YearNotInProgramme(ValueError):
    pass


@dataclass(frozen=True)
class PlanIssue:
    milestone: str
    field: str  # "opens" | "due"
    message: str


class PlanInconsistent(Exception):
    """The calendar is valid YAML but its dates contradict themselves in a year."""

    def __init__(self, year: int, issues: list[PlanIssue]):
        self.year = year
        self.issues = issues
        super().__init__("; ".join(f"{i.milestone}.{i.field}: {i.message}" for i in issues))


@dataclass(frozen=True)
class PlannedMilestone:
    id: str
    title: str
    workstream: str
    kind: str
    opens: dt.date | None
    nominal_due: dt.date
    due: dt.date
    rest_day_rule: str
    assignees: tuple[str, ...]
    cooperating: tuple[str, ...]
    form: str | None
    reminders: tuple[dt.datetime, ...]
    assumed: str | None = None
    notice: dt.datetime | None = None  # the opening notice
    steps: tuple[Step, ...] = ()  # every step before the due date (notice and reminders), as the engine sends them
    merged: tuple[str, ...] = ()  # before_due values that share a day, said in words
    provisional: bool = False  # a date of it depends on a provisional working-day year (暂定)
    fan_out: str | None = None  # a fan-out milestone: whose rows give its tasks, in words

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "opens": self.opens.isoformat() if self.opens else None,
            "nominal_due": self.nominal_due.isoformat(),
            "due": self.due.isoformat(),
            "rest_day_rule": self.rest_day_rule,
            "assignees": list(self.assignees),
            "form": self.form,
            "notice": self.notice.isoformat() if self.notice else None,
            "reminders": [r.isoformat() for r in self.reminders],
            "steps": [{"kind": s.kind, "at": s.at.isoformat(), "before_due": list(s.covers)} for s in self.steps],
            "merged": list(self.merged),
            "provisional": self.provisional,
            "fan_out": self.fan_out,
        }


@dataclass(frozen=True)
class YearPlan:
    programme: str
    title: str
    year: int
    milestones: tuple[PlannedMilestone, ...]
    not_held: tuple[tuple[str, str], ...] = field(default=())  # (milestone id, why)

    def as_json(self) -> dict[str, Any]:
        return {"programme": self.programme, "year": self.year, "milestones": [m.as_json() for m in self.milestones]}


# --------------------------------------------------------------------------- rules


def calendar_span(rule: Any, year: int) -> tuple[dt.date, dt.date]:
    """(first, last) day a calendar (non-relative) rule names in ``year``."""
    if isinstance(rule, FixedDay):
        day = dt.date(year, rule.month, rule.day)  # Feb 29 in a common year is refused by checks
        return day, day
    if isinstance(rule, EndOfMonth):
        day = dt.date(year, rule.month, _stdcal.monthrange(year, rule.month)[1])
        return day, day
    if isinstance(rule, StartOfMonth):
        day = dt.date(year, rule.month, 1)
        return day, day
    if isinstance(rule, MidMonth):
        return dt.date(year, rule.month, 11), dt.date(year, rule.month, 20)
    if isinstance(rule, Window):
        return dt.date(year, rule.from_month, 1), dt.date(year, rule.to_month, _stdcal.monthrange(year, rule.to_month)[1])
    raise TypeError(f"not a calendar rule: {rule!r}")


def apply_rest_day_rule(day: dt.date, rule: str, cal: WorkdayCalendar) -> dt.date:
    if rule == "next_workday":
        return cal.on_or_after(day)
    if rule == "previous_workday":
        return cal.on_or_before(day)
    if rule == "keep":
        return day
    raise ValueError(f"unknown rest-day rule {rule!r}")


# --------------------------------------------------------------------------- the year


class _Dates:
    """Memoised (milestone, opens|due) → (nominal, effective) for one year."""

    def __init__(self, spec: ProgrammeFile, year: int, cal: WorkdayCalendar):
        self.spec, self.year, self.cal = spec, year, cal
        self.memo: dict[tuple[str, str], tuple[dt.date | None, dt.date | None]] = {}
        self.by_id = {m.id: m for _, m in spec.milestones()}

    def rest_rule(self, m: Milestone) -> str:
        return m.rest_day_rule or self.spec.programme.defaults.rest_day_rule

    def get(self, mid: str, which: str) -> tuple[dt.date | None, dt.date | None]:
        key = (mid, which)
        if key not in self.memo:
            self.memo[key] = self._compute(self.by_id[mid], which)
        return self.memo[key]

    def _relative(self, rule: WorkingDaysAfter | WorkingDaysBefore) -> dt.date:
        _, base = self.get(rule.milestone, rule.of)
        if base is None:  # refused by checks; defensive
            raise ValueError(f"milestone {rule.milestone!r} has no {rule.of} date")
        return shift_workdays(base, rule.days, 1 if isinstance(rule, WorkingDaysAfter) else -1, self.cal)

    def _compute(self, m: Milestone, which: str) -> tuple[dt.date | None, dt.date | None]:
        if which == "due":
            if isinstance(m.due, (WorkingDaysAfter, WorkingDaysBefore)):
                nominal = self._relative(m.due)
            else:
                nominal = calendar_span(m.due, self.year)[1]
            return nominal, apply_rest_day_rule(nominal, self.rest_rule(m), self.cal)
        rule = m.opens
        if rule is None:
            if isinstance(m.due, Window):
                start = calendar_span(m.due, self.year)[0]
                return start, self._in_force(start)
            # the implicit opening: N working days before the effective due date
            _, due = self.get(m.id, "due")
            assert due is not None
            n = m.opens_before_due if m.opens_before_due is not None else self.spec.programme.defaults.opens_before_due
            day = shift_workdays(due, n, -1, self.cal)
            return day, self._in_force(day)
        if isinstance(rule, (WorkingDaysAfter, WorkingDaysBefore)):
            day = self._relative(rule)
        else:
            day = calendar_span(rule, self.year)[0]
        return day, self._in_force(day)

    def _in_force(self, day: dt.date) -> dt.date:
        """Nothing opens before the programme exists; rules counting from ``of: opens``
        count from this effective opening."""
        start = self.spec.programme.in_force_from
        return start if start is not None and day < start else day


def held_in(spec: ProgrammeFile, m: Milestone, year: int) -> bool:
    return m.years is None or year in m.years


def plan_year(spec: ProgrammeFile, year: int, cal: WorkdayCalendar) -> YearPlan:
    """Every milestone held in ``year`` with its dates, assignees and reminder instants,
    ordered by due date. Raises YearNotInProgramme, PlanInconsistent, MissingWorkdayData."""
    prog = spec.programme
    cal = cal.for_spec(spec)  # a provisional year only for a programme that opted in
    if year not in prog.years:
        raise YearNotInProgramme(f"{prog.id} runs {prog.years.first}–{prog.years.last}; {year} is not one of its years")
    dates = _Dates(spec, year, cal)
    policies = {p.id: p for p in spec.reminder_policies}
    planned: list[tuple[tuple, PlannedMilestone]] = []
    not_held: dict[str, str] = {}
    issues: list[PlanIssue] = []
    for _, m in spec.milestones():
        if not held_in(spec, m, year):
            not_held[m.id] = f"held only in {', '.join(map(str, m.years or ()))}"
    for _, m in spec.milestones():
        if m.id in not_held:
            continue
        _, due = dates.get(m.id, "due")
        assert due is not None
        if prog.in_force_from is not None and due < prog.in_force_from:
            not_held[m.id] = f"due {due} is before the programme came into force on {prog.in_force_from}"
    for order, (w, m) in enumerate(spec.milestones()):
        if m.id in not_held:
            continue
        for which in ("due", "opens"):
            rule = getattr(m, which)
            if isinstance(rule, (WorkingDaysAfter, WorkingDaysBefore)) and rule.milestone in not_held:
                issues.append(
                    PlanIssue(
                        m.id,
                        which,
                        f"counts from '{rule.milestone}', which is not held in {year} "
                        f"({not_held[rule.milestone]}); limit this milestone's 'years' or count from another milestone",
                    )
                )
        nominal, due = dates.get(m.id, "due")
        _, opens = dates.get(m.id, "opens")
        assert nominal is not None and due is not None
        if m.for_each is not None and m.for_each.milestone not in not_held:
            _, source_due = dates.get(m.for_each.milestone, "due")
            if source_due is not None and source_due > due:
                issues.append(
                    PlanIssue(
                        m.id,
                        "for_each",
                        f"fans out from '{m.for_each.milestone}', due {source_due} in {year}, after this milestone's due date {due}",
                    )
                )
        if opens is not None and opens > due:
            issues.append(PlanIssue(m.id, "opens", f"in {year} it opens on {opens}, after its due date {due}"))
            continue
        policy_id = m.reminder_policy or prog.defaults.reminder_policy
        steps: tuple[Step, ...] = ()
        if policy_id is not None:
            steps = tuple(
                s
                for s in task_steps(policies[policy_id], opens=opens, due=due, cal=cal, year_start=opens or due, missing=set())
                if s.at.date() <= due and s.kind in PRE_DUE_STEPS
            )
        notice = next((s.at for s in steps if s.kind == OPENED), None)
        assignees = spec.expand(m.assignees if m.assignees is not None else w.lead)
        if m.for_each is not None and m.for_each.assignee is not None:
            assignees = ()  # each row names its own
        cooperating = tuple(
            p for p in spec.expand(m.cooperating if m.cooperating is not None else w.cooperating) if p not in assignees
        )
        pm = PlannedMilestone(
            id=m.id,
            title=m.title,
            workstream=w.id,
            kind=m.kind,
            opens=opens,
            nominal_due=nominal,
            due=due,
            rest_day_rule=dates.rest_rule(m),
            assignees=assignees,
            cooperating=cooperating,
            form=m.form,
            reminders=tuple(s.at for s in steps if s.kind != OPENED),
            assumed=m.source.assumed,
            notice=notice,
            steps=steps,
            merged=_merged(steps),
            provisional=depends_on_provisional(cal, [nominal, due, opens, *(s.at.date() for s in steps)]),
            fan_out=fan_out_text(spec, m),
        )
        planned.append(((due, opens or due, order), pm))
    if issues:
        raise PlanInconsistent(year, issues)
    planned.sort(key=lambda x: x[0])
    return YearPlan(prog.id, prog.title, year, tuple(p for _, p in planned), tuple(not_held.items()))


def fan_out_text(spec: ProgrammeFile, m) -> str | None:
    """A fan-out milestone's tasks in words: 按“发放任务交办单”的“交办任务”每行一项，由“承办处室”所列单位承担."""
    fe = m.for_each
    if fe is None:
        return None
    src = spec.milestone(fe.milestone)
    form = next((f for f in spec.forms if f.id == src.form), None)
    table = next((f for f in form.fields if f.id == fe.field), None) if form else None
    label = {c.id: c.label for c in (table.columns or ())} if table else {}
    text = f"按“{src.title}”的“{table.label if table else fe.field}”每行一项（按{label.get(fe.key, fe.key)}区分）"
    if fe.assignee is not None and fe.assignee.draw is not None:
        text += f"，由“{spec.milestone(fe.assignee.draw).title}”双随机抽取的专家承担（每名专家各报所分配企业）"
    elif fe.assignee is not None and fe.assignee.column is not None:
        text += f"，由“{label.get(fe.assignee.column, fe.assignee.column)}”所填单位承担"
    return text


def depends_on_provisional(cal: WorkdayCalendar, days: list[dt.date | None]) -> bool:
    """A date counted between these days read a provisional year's working days: the years
    they span (counting between two dates reads every year from one to the other)."""
    years = [d.year for d in days if d is not None]
    return bool(years) and any(cal.is_provisional(y) for y in range(min(years), max(years) + 1))


PRE_DUE_STEPS = (OPENED, UPCOMING, DUE_TODAY, LAST_WORKDAY)


def _merged(steps: tuple[Step, ...]) -> tuple[str, ...]:
    out = []
    for s in steps:
        day = f"{s.at:%Y-%m-%d}"
        if s.kind == OPENED and s.covers:
            out.append(
                f"before_due {', '.join(map(str, s.covers))} falls on the opening day {day}: the opening notice stands for it"
            )
        elif len(s.covers) > 1:
            out.append(f"before_due {' and '.join(map(str, s.covers))} fall on the same working day {day}: one reminder is sent")
    return tuple(out)
