"""The monthly bulletin (月度通报): what fell due in a month and how it went, as of the
month's end — figures, the late and missing items by unit, units late several months
running, and the targets' pace.

Every item is a task of the programme (any of its years) whose due date lies in the
month, exemptions left out. Its standing at the cut-off (the month's last moment, or the
instant asked for when that is earlier) comes from the submission rows: the latest
version received by then; on time when that version arrived on or before the due day
(the rule ``submissions.submit`` records). A task with no version by the cut-off whose
due day has passed is missing. Items of earlier months still missing at the cut-off are
listed too (往月逾期仍未报送). Every figure names the task ids it counts.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import states as S
from .fanout import titled
from .ledger import LoadedProgramme, find_programme_year
from .messages import working_days_late
from .rollup import TargetProgress, compute_rollup
from .tables import MilestoneInstance, ProgrammeYear, StatusChange, Submission, Task
from .timeline import TZ, WorkdayCalendar, local_day

ON_TIME, LATE, MISSING, NOT_DUE = "on_time", "late", "missing", "not_due"
STANDING_ZH = {ON_TIME: "按时报送", LATE: "逾期报送", MISSING: "未报送", NOT_DUE: "未到期"}


@dataclass(frozen=True)
class BulletinItem:
    task_id: int
    participant: str
    name: str
    milestone: str
    title: str
    due: dt.date
    standing: str  # ON_TIME | LATE | MISSING | NOT_DUE, at the cut-off
    received_at: dt.datetime | None
    days_late: int

    def as_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "participant": self.participant,
            "name": self.name,
            "milestone": self.milestone,
            "title": self.title,
            "due": self.due.isoformat(),
            "standing": self.standing,
            "received_at": self.received_at.astimezone(TZ).isoformat() if self.received_at else None,
            "days_late": self.days_late,
        }


@dataclass
class MonthBulletin:
    programme: str
    programme_title: str
    title: str
    year: int
    month: int
    cutoff: dt.datetime
    items: list[BulletinItem]  # due this month
    carried: list[BulletinItem]  # due earlier, still missing at the cut-off
    running: list[tuple[str, str]]  # (participant, name) late every month of the run
    months_running: int
    targets: list[TargetProgress] = field(default_factory=list)

    def count(self, standing: str) -> int:
        return sum(1 for i in self.items if i.standing == standing)

    @property
    def due(self) -> int:
        return sum(1 for i in self.items if i.standing != NOT_DUE)

    @property
    def flagged(self) -> list[BulletinItem]:
        """The late and missing items of the month, then those carried over, by unit."""
        own = [i for i in self.items if i.standing in (LATE, MISSING)]
        return sorted(own, key=lambda i: (i.participant, i.due, i.milestone)) + sorted(
            self.carried, key=lambda i: (i.participant, i.due, i.milestone)
        )

    def prose(self) -> list[str]:
        """The month's facts in sentences, as a bulletin states them."""
        cut = self.cutoff.astimezone(TZ)
        head = f"{self.month}月份，{self.programme_title}共有{self.due}项报送事项到期"
        if not self.due:
            paras = [f"{head}。"]
        else:
            rate = self.count(ON_TIME) / self.due
            paras = [
                f"{head}，按时报送{self.count(ON_TIME)}项，逾期报送{self.count(LATE)}项，"
                f"截至{cut.month}月{cut.day}日仍未报送{self.count(MISSING)}项，按时报送率{rate:.1%}。"
            ]
        if self.carried:
            units = len({i.participant for i in self.carried})
            paras.append(f"此前月份到期、截至本月底仍未报送的事项{len(self.carried)}项，涉及{units}个单位。")
        if self.running:
            names = "、".join(n for _, n in self.running)
            paras.append(f"连续{self.months_running}个月存在逾期或未报送事项的单位：{names}。请上述单位高度重视，限期整改。")
        else:
            paras.append(f"本月没有连续{self.months_running}个月逾期的单位。")
        behind = [t for t in self.targets if t.pace == "behind"]
        if self.targets:
            if behind:
                paras.append("目标进度滞后：" + "；".join(f"“{t.title}”" for t in behind) + "。")
            else:
                paras.append("各项目标进度正常。")
        return paras

    def as_json(self) -> dict[str, Any]:
        return {
            "programme": self.programme,
            "title": self.title,
            "year": self.year,
            "month": self.month,
            "cutoff": self.cutoff.astimezone(TZ).isoformat(),
            "due": self.due,
            "on_time": self.count(ON_TIME),
            "late": self.count(LATE),
            "missing": self.count(MISSING),
            "not_due": self.count(NOT_DUE),
            "items": [i.as_json() for i in self.items],
            "carried": [i.as_json() for i in self.carried],
            "late_months_running": [{"participant": p, "name": n} for p, n in self.running],
            "months_running": self.months_running,
            "targets": [
                {"target": t.target, "title": t.title, "value": t.value, "expected": t.expected, "pace": t.pace, "unit": t.unit}
                for t in self.targets
            ],
            "prose": self.prose(),
        }


def month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, _stdcal.monthrange(year, month)[1])


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def month_cutoff(year: int, month: int, at: dt.datetime) -> dt.datetime:
    """The month's last moment (local), or ``at`` when that is earlier."""
    end = dt.datetime.combine(month_span(year, month)[1], dt.time(23, 59, 59), TZ)
    return min(end, at)


def _items(
    session: Session,
    prog: LoadedProgramme,
    cal: WorkdayCalendar,
    first: dt.date,
    last: dt.date,
    cutoff: dt.datetime,
    *,
    only_missing=False,
) -> list[BulletinItem]:
    rows = session.execute(
        select(Task, MilestoneInstance.milestone, MilestoneInstance.title)
        .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
        .join(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
        .where(ProgrammeYear.programme == prog.id, Task.due >= first, Task.due <= last, Task.state.not_in(S.NOT_OWED))
        .order_by(Task.due, MilestoneInstance.milestone, Task.participant)
    ).all()
    if not rows:
        return []
    ids = [t.id for t, _, _ in rows]
    received: dict[int, dt.datetime] = {}
    for i in range(0, len(ids), 5000):
        for task_id, at in session.execute(
            select(Submission.task_id, Submission.received_at)
            .where(Submission.task_id.in_(ids[i : i + 5000]), Submission.received_at <= cutoff)
            .order_by(Submission.task_id, Submission.version)
        ):
            received[task_id] = at  # the latest version by the cut-off
        # a version returned for revision by the cut-off no longer stands
        for task_id, returned in session.execute(
            select(StatusChange.task_id, func.max(StatusChange.at))
            .where(StatusChange.task_id.in_(ids[i : i + 5000]), StatusChange.to_state == S.RETURNED, StatusChange.at <= cutoff)
            .group_by(StatusChange.task_id)
        ):
            if task_id in received and returned >= received[task_id]:
                del received[task_id]
    out = []
    for t, milestone, title in rows:
        got = received.get(t.id)
        if got is not None:
            standing = ON_TIME if local_day(got) <= t.due else LATE
            late = 0 if standing == ON_TIME else working_days_late(cal, t.due, got)
        elif cutoff >= dt.datetime.combine(t.due, dt.time(23, 59, 59), TZ):  # the due day is over
            standing, late = MISSING, working_days_late(cal, t.due, cutoff)
        else:
            standing, late = NOT_DUE, 0
        if only_missing and standing != MISSING:
            continue
        out.append(
            BulletinItem(
                t.id,
                t.participant,
                prog.names.get(t.participant, t.participant),
                milestone,
                titled(title, t),
                t.due,
                standing,
                got,
                late,
            )
        )
    return out


def month_bulletin(
    session: Session, prog: LoadedProgramme, cal: WorkdayCalendar, year: int, month: int, at: dt.datetime
) -> MonthBulletin:
    """The bulletin of ``month`` of ``year`` as the ledger shows it at ``at``."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1–12, got {month}")
    spec = prog.spec
    cal = cal.for_spec(spec)
    cutoff = month_cutoff(year, month, at)
    first, last = month_span(year, month)
    items = _items(session, prog, cal, first, last, cutoff)
    carried = _items(session, prog, cal, dt.date.min, first - dt.timedelta(days=1), cutoff, only_missing=True)
    k = spec.bulletin.late_months_running if spec.bulletin else 3
    # a unit is late in a month when something due that month was late or missing at its end,
    # or something of an earlier month was still missing then
    late_sets: list[set[str]] = [{i.participant for i in items + carried if i.standing in (LATE, MISSING)}]
    y, m = year, month
    for _ in range(k - 1):
        y, m = previous_month(y, m)
        f, l_ = month_span(y, m)
        c = month_cutoff(y, m, at)
        late = {i.participant for i in _items(session, prog, cal, f, l_, c) if i.standing in (LATE, MISSING)}
        late |= {i.participant for i in _items(session, prog, cal, dt.date.min, f - dt.timedelta(days=1), c, only_missing=True)}
        late_sets.append(late)
    running_ids = set.intersection(*late_sets)
    running = [(p.id, p.name) for p in spec.participants if p.id in running_ids]
    py = find_programme_year(session, prog.id, year)
    targets = compute_rollup(session, prog, py, cutoff).targets if py is not None else []
    title = (spec.bulletin.title if spec.bulletin and spec.bulletin.title else None) or f"{spec.programme.title}工作月度通报"
    return MonthBulletin(prog.id, spec.programme.title, title, year, month, cutoff, items, carried, running, k, targets)
