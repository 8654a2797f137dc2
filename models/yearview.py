"""One programme year as a coordinator sees it: every task in one of a few colours, the
milestones with their nominal and effective dates, targets, and what is late.

Pure reading of the ledger (no Prefect, no HTML): the dashboard artifacts and the HTML
year report are both drawn from a ``YearView``.

Colours follow the supervision practice of 红黄绿灯 (traffic lights): green — on track,
yellow — due soon, red — overdue; plus submitted on time (✅, blue in the report) and
submitted late (🟠).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from . import states as S
from .ledger import LoadedProgramme
from .rollup import Rollup, compute_rollup, year_tasks
from .tables import ProgrammeYear
from .timeline import WorkdayCalendar, local_day
from .timeline.plan import depends_on_provisional

DUE_SOON_WORKDAYS = 3  # an open task due within this many working days is "due soon"

# light → (label in Chinese, short mark for text tables)
ON_TIME, LATE, OVERDUE, DUE_SOON, ON_TRACK, NOT_OPEN, EXEMPTED = (
    "on_time",
    "late",
    "overdue",
    "due_soon",
    "on_track",
    "not_open",
    "exempted",
)
LIGHTS: dict[str, tuple[str, str]] = {
    ON_TIME: ("按时报送", "✅"),
    LATE: ("逾期报送", "🟠"),
    OVERDUE: ("逾期未报", "🔴"),
    DUE_SOON: ("临近截止", "🟡"),
    ON_TRACK: ("正常推进", "🟢"),
    NOT_OPEN: ("尚未开始", "⚪"),
    EXEMPTED: ("已豁免", "➖"),
}


@dataclass
class Cell:
    milestone: str
    participant: str
    state: str
    light: str
    due: dt.date
    submitted_at: dt.datetime | None
    workdays_left: int | None  # open tasks: working days until due (0: due today)
    workdays_late: int | None  # late or overdue: working days past due
    task_id: int | None = None  # the ledger's task (the console's page for it); None for a fan-out cell
    items: int = 0  # a fan-out milestone: the participant's items (0: one ordinary task)
    items_done: int = 0  # of them submitted

    @property
    def label(self) -> str:
        """A fan-out cell's count, e.g. 3/5."""
        return f"{self.items_done}/{self.items}" if self.items else ""


@dataclass
class MilestoneView:
    id: str
    title: str
    kind: str
    opens: dt.date | None
    nominal_due: dt.date
    due: dt.date
    assigned: int = 0
    submitted: int = 0
    exempted: int = 0
    lights: dict[str, int] = field(default_factory=dict)
    provisional: bool = False  # its dates depend on a provisional working-day year (暂定)

    @property
    def moved(self) -> bool:
        return self.nominal_due != self.due

    @property
    def is_open(self) -> bool:
        return any(self.lights.get(k) for k in (ON_TRACK, DUE_SOON, OVERDUE))

    @property
    def progress(self) -> float:
        """Percent of the tasks that count (exemptions excluded) submitted."""
        owed = self.assigned - self.exempted
        return round(100.0 * self.submitted / owed, 1) if owed else 100.0


@dataclass
class YearView:
    programme: str
    title: str
    year: int
    as_of: dt.datetime
    milestones: list[MilestoneView]
    participants: list[tuple[str, str]]  # (id, name), calendar order
    cells: dict[tuple[str, str], Cell]  # (participant, milestone)
    rollup: Rollup
    cal: WorkdayCalendar | None = field(default=None, repr=False, compare=False)  # to say why a date surprises
    workdays: dict[int, tuple[str, str]] = field(default_factory=dict)  # this year and the next: status, source
    workday_warning: str | None = None  # from November 1st: the programme runs into a year without data

    def lights(self) -> dict[str, int]:
        out: dict[str, int] = {k: 0 for k in LIGHTS}
        for c in self.cells.values():
            out[c.light] += 1
        return out

    def late_items(self) -> list[Cell]:
        """Overdue tasks first (longest first), then those submitted late."""
        late = [c for c in self.cells.values() if c.light in (OVERDUE, LATE)]
        return sorted(late, key=lambda c: (c.light != OVERDUE, -(c.workdays_late or 0), c.due, c.participant))

    def name(self, participant: str) -> str:
        return dict(self.participants).get(participant, participant)

    def milestone(self, milestone_id: str) -> MilestoneView:
        return next(m for m in self.milestones if m.id == milestone_id)


# the light a fan-out cell shows: its most urgent item's
WORST = (OVERDUE, LATE, DUE_SOON, ON_TRACK, NOT_OPEN, ON_TIME, EXEMPTED)


def light_of(
    state: str, on_time: bool | None, due: dt.date, today: dt.date, cal: WorkdayCalendar
) -> tuple[str, int | None, int | None]:
    """(light, working days left, working days late) of one task on ``today``."""
    if state == S.SUBMITTED:
        return (ON_TIME if on_time else LATE), None, None
    if state in S.NOT_OWED:  # exempted, or a fan-out task whose row left its source
        return EXEMPTED, None, None
    if state == S.WAITING:
        return NOT_OPEN, None, None
    if state == S.OVERDUE or due < today:
        return OVERDUE, None, _count(cal, due, today)
    left = _count(cal, today, due)
    return (DUE_SOON if left is not None and left <= DUE_SOON_WORKDAYS else ON_TRACK), left, None


def _count(cal: WorkdayCalendar, start: dt.date, end: dt.date) -> int | None:
    """Working days in (start, end]; None when a year lacks working-day data."""
    try:
        return cal.count_between(start, end)
    except Exception:  # noqa: BLE001 — a year without data: the colour still follows the date
        return None


def year_view(session: Session, prog: LoadedProgramme, py: ProgrammeYear, cal: WorkdayCalendar, at: dt.datetime) -> YearView:
    cal = cal.for_spec(prog.spec)
    today = local_day(at)
    rows = year_tasks(session, py)
    names = prog.names
    milestones: dict[str, MilestoneView] = {}
    cells: dict[tuple[str, str], Cell] = {}
    seen: set[str] = set()
    for mi, t in rows:
        m = milestones.setdefault(
            mi.milestone,
            MilestoneView(
                mi.milestone,
                mi.title,
                mi.kind,
                mi.opens,
                mi.nominal_due,
                mi.due,
                provisional=depends_on_provisional(cal, [mi.opens, mi.nominal_due, mi.due]),
            ),
        )
        if t.state == S.RETIRED:
            continue  # a fan-out task whose row left its source: not owed, not shown
        light, left, late = light_of(t.state, t.on_time, t.due, today, cal)
        if light == LATE and t.submitted_at is not None:
            late = _count(cal, t.due, local_day(t.submitted_at))
        cell = Cell(mi.milestone, t.participant, t.state, light, t.due, t.submitted_at, left, late, t.id)
        if t.item_key:  # fan-out: one cell per participant, its items counted, coloured by the worst
            prev = cells.get((t.participant, mi.milestone))
            cell.items, cell.items_done, cell.task_id = 1, int(t.state == S.SUBMITTED), None
            if prev is not None:
                worst = cell if WORST.index(cell.light) < WORST.index(prev.light) else prev
                cell = replace(worst, items=prev.items + 1, items_done=prev.items_done + cell.items_done, task_id=None)
        cells[(t.participant, mi.milestone)] = cell
        m.assigned += 1
        m.submitted += t.state == S.SUBMITTED
        m.exempted += t.state == S.EXEMPTED
        m.lights[light] = m.lights.get(light, 0) + 1
        seen.add(t.participant)
    order = [p.id for p in prog.spec.participants if p.id in seen] + sorted(seen - set(names))
    return YearView(
        programme=py.programme,
        title=prog.spec.programme.title,
        year=py.year,
        as_of=at,
        milestones=list(milestones.values()),
        participants=[(p, names.get(p, p)) for p in order],
        cells=cells,
        rollup=compute_rollup(session, prog, py, at, rows),
        cal=cal,
        workdays={y: cal.status(y) for y in (py.year, py.year + 1)},
        workday_warning=workday_warning(prog, py.year, cal, today),
    )


def workdays_text(status: dict[int, tuple[str, str]]) -> str:
    """``2023年 正式（…） · 2024年 缺失`` — where each year's working days stand (the
    report and the console say it the same way)."""
    words = {"official": "正式（{}）", "provisional": "暂定（推算，国务院尚未公布）", "invalid": "文件有误", "missing": "缺失"}
    return " · ".join(f"{y}年 {words.get(state, '缺失').format(detail)}" for y, (state, detail) in status.items())


WARN_FROM = (11, 1)  # the State Council's notice comes out between late October and mid December


def workday_warning(prog: LoadedProgramme, year: int, cal: WorkdayCalendar, today: dt.date) -> str | None:
    """From November 1st of ``year``: a warning when the programme runs into next year and
    next year's working days are not in (missing, or a broken file)."""
    nxt = year + 1
    if nxt not in prog.spec.programme.years or (today.year, today.month, today.day) < (year, *WARN_FROM):
        return None
    state, detail = cal.status(nxt)
    if state == "official":
        return None
    what = {"missing": "尚未导入", "provisional": "只是暂定的推算"}.get(state, "文件有误")
    return (
        f"{prog.spec.programme.title}将进入{nxt}年，但{nxt}年的工作日安排{what}：国务院办公厅通知发布后，"
        f"运行 yearwheel workdays import 通知.txt 生成 calendar/workdays/cn-{nxt}.yaml（{nxt}年的截止日期和提醒在此之前无法确定）"
    )


def light_condition(light: str, today: dt.date, cal: WorkdayCalendar):
    """The tasks of one colour on ``today``, as a SQL condition on ``Task`` — the same
    colours as ``light_of`` (a board filters thousands of bureaus without loading them)."""
    from sqlalchemy import and_, false, or_

    from .tables import Task

    pending = Task.state.in_((S.OPEN, S.RETURNED))
    try:  # due soon: at most DUE_SOON_WORKDAYS working days left, i.e. before the next one after them
        soon = cal.add(today, DUE_SOON_WORKDAYS + 1)
    except Exception:  # noqa: BLE001 — a year without data: colour by calendar days, like light_of
        soon = today + dt.timedelta(days=DUE_SOON_WORKDAYS + 1)
    return {
        ON_TIME: and_(Task.state == S.SUBMITTED, Task.on_time.is_(True)),
        LATE: and_(Task.state == S.SUBMITTED, or_(Task.on_time.is_(False), Task.on_time.is_(None))),
        EXEMPTED: Task.state == S.EXEMPTED,
        NOT_OPEN: Task.state == S.WAITING,
        OVERDUE: or_(Task.state == S.OVERDUE, and_(pending, Task.due < today)),
        DUE_SOON: and_(pending, Task.due >= today, Task.due < soon),
        ON_TRACK: and_(pending, Task.due >= soon),
    }.get(light, false())
