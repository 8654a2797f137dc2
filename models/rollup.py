"""Roll the ledger up: on-time rates per milestone and participant, counts from the
submitted forms, progress against the programme's targets.

Rates are computed from their counts (numerator and denominator summed over
submissions), never as averages of averages. Only the latest version of a submission
that stands (task ``submitted``) counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from . import states as S
from .forms import measure_value
from .ledger import LoadedProgramme
from .pacing import Window, pace
from .tables import MilestoneInstance, ProgrammeYear, RollupValue, Submission, Task
from .timeline import TZ, local_day


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


@dataclass
class MilestoneRollup:
    milestone: str
    title: str
    due: str
    assigned: int = 0
    submitted: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    awaiting: int = 0
    exempted: int = 0
    on_time_rate: float | None = None  # on time / (submitted + overdue), exemptions excluded


@dataclass
class ParticipantRollup:
    participant: str
    name: str
    counted: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0  # overdue, not yet submitted
    on_time_rate: float | None = None


@dataclass
class TargetProgress:
    target: str
    title: str
    measure: str
    period: str
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    unit: str | None = None
    met: bool | None = None  # None: no data yet
    by_participant: dict[str, float | None] = field(default_factory=dict)
    expected: float | None = None  # by the rollup's day, on the target's path (models.pacing)
    pace: str | None = None  # ahead | on_pace | behind (None: a rate with no data yet)
    deadline: str | None = None  # the last day of the target's window


@dataclass
class Rollup:
    programme: str
    year: int
    as_of: str
    on_time_rate: float | None
    milestones: list[MilestoneRollup]
    participants: list[ParticipantRollup]
    targets: list[TargetProgress]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def year_tasks(session: Session, py: ProgrammeYear) -> list[tuple[MilestoneInstance, Task]]:
    """Every (milestone instance, task) of a programme year, by due date."""
    return list(
        session.execute(
            select(MilestoneInstance, Task)
            .join(Task, Task.milestone_instance_id == MilestoneInstance.id)
            .where(MilestoneInstance.programme_year_id == py.id)
            .order_by(MilestoneInstance.due, MilestoneInstance.milestone, Task.participant)
        )
    )


def compute_rollup(
    session: Session,
    prog: LoadedProgramme,
    py: ProgrammeYear,
    at: dt.datetime,
    rows: list[tuple[MilestoneInstance, Task]] | None = None,
) -> Rollup:
    """``rows``: the year's tasks when the caller has read them already (``year_tasks``)."""
    names = prog.names
    rows = year_tasks(session, py) if rows is None else rows
    ms: dict[str, MilestoneRollup] = {}
    ps: dict[str, ParticipantRollup] = {}
    for mi, t in rows:
        m = ms.setdefault(mi.milestone, MilestoneRollup(mi.milestone, mi.title, mi.due.isoformat()))
        if t.state == S.RETIRED:
            continue  # a fan-out task whose row left its source: never owed
        p = ps.setdefault(t.participant, ParticipantRollup(t.participant, names.get(t.participant, t.participant)))
        m.assigned += 1
        if t.state == S.EXEMPTED:
            m.exempted += 1
            continue
        if t.state == S.SUBMITTED:
            m.submitted += 1
            p.counted += 1
            if t.on_time:
                m.on_time += 1
                p.on_time += 1
            else:
                m.late += 1
                p.late += 1
        elif t.state == S.OVERDUE:
            m.overdue += 1
            p.counted += 1
            p.missing += 1
        else:  # waiting, open or returned
            m.awaiting += 1
    for m in ms.values():
        m.on_time_rate = _rate(m.on_time, m.submitted + m.overdue)
    for p in ps.values():
        p.on_time_rate = _rate(p.on_time, p.counted)
    total_on_time = sum(m.on_time for m in ms.values())
    total_counted = sum(m.submitted + m.overdue for m in ms.values())
    return Rollup(
        programme=py.programme,
        year=py.year,
        as_of=at.astimezone(TZ).isoformat(),
        on_time_rate=_rate(total_on_time, total_counted),
        milestones=list(ms.values()),
        participants=sorted(ps.values(), key=lambda p: list(names).index(p.participant) if p.participant in names else 1e9),
        targets=_targets(session, prog, py, at),
    )


def _standing_submissions(session: Session, prog: LoadedProgramme, years: list[int]) -> list[tuple[str, str, dict]]:
    """(form, participant, payload) of the latest version of every standing submission."""
    latest = select(Submission.task_id, func.max(Submission.version).label("v")).group_by(Submission.task_id).subquery()
    q = (
        select(MilestoneInstance.form, Task.participant, Submission.payload)
        .join(Task, Task.milestone_instance_id == MilestoneInstance.id)
        .join(ProgrammeYear, ProgrammeYear.id == MilestoneInstance.programme_year_id)
        .join(latest, latest.c.task_id == Task.id)
        .join(Submission, (Submission.task_id == Task.id) & (Submission.version == latest.c.v))
        .where(ProgrammeYear.programme == prog.id, ProgrammeYear.year.in_(years), Task.state == S.SUBMITTED)
    )
    return [(f, p, payload) for f, p, payload in session.execute(q) if f]


def _targets(session: Session, prog: LoadedProgramme, py: ProgrammeYear, at: dt.datetime) -> list[TargetProgress]:
    spec = prog.spec
    first = spec.programme.years.first
    cache: dict[tuple[int, ...], list[tuple[str, str, dict]]] = {}
    out: list[TargetProgress] = []
    for t in spec.targets:
        years = (py.year,) if t.period == "yearly" else tuple(range(first, py.year + 1))
        if years not in cache:
            cache[years] = _standing_submissions(session, prog, list(years))
        tp = _progress(spec, t, cache[years])
        if t.count_items is not None:
            tp.value = float(count_items(session, prog, t.count_items, list(years)))
            lo, hi = tp.at_least, tp.at_most
            tp.met = (lo is None or tp.value >= lo) and (hi is None or tp.value <= hi)
        window = target_window(spec, t, py.year)
        day = min(local_day(at), dt.date(py.year, 12, 31))  # a past year is judged at its end
        path = {y: float(spec.parameter_value(v) or 0) for y, v in (t.path or {}).items()} or None
        p = pace(
            tp.value,
            goal=tp.at_least if t.measure == "count" else tp.at_least,
            limit=tp.at_most,
            rate=t.measure == "rate",
            window=window,
            day=day,
            path=path,
        )
        tp.expected, tp.pace, tp.deadline = p.expected, p.status, window.end.isoformat()
        out.append(tp)
    return out


def count_items(session: Session, prog: LoadedProgramme, ci: Any, years: list[int]) -> int:
    """Distinct items of a fan-out milestone that reached ``ci.state`` in ``years`` (their
    keys, or the values of a kept column such as the enterprise's credit code)."""
    q = (
        select(Task.item_key, Task.item)
        .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
        .join(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
        .where(
            ProgrammeYear.programme == prog.id,
            ProgrammeYear.year.in_(years),
            MilestoneInstance.milestone == ci.milestone,
            Task.state == S.SUBMITTED,
            Task.item_key != "",
        )
    )
    if ci.state == "accepted":
        q = q.where(Task.accepted_at.is_not(None))
    seen: set[str] = set()
    for key, item in session.execute(q):
        value = key if ci.distinct is None else str((item or {}).get(ci.distinct) or "").strip()
        if value:
            seen.add(value)
    return len(seen)


def target_window(spec, t, year: int) -> Window:
    """The days a target's value is built over (see models.pacing)."""
    if t.period == "yearly":
        start = dt.date(year, 1, 1)
        if spec.programme.in_force_from and spec.programme.in_force_from.year == year:
            start = spec.programme.in_force_from
        return Window(start, dt.date(year, 12, 31))
    first = spec.programme.years.first
    start = max(dt.date(first, 1, 1), spec.programme.in_force_from or dt.date(first, 1, 1))
    return Window(start, dt.date(t.by_year or spec.programme.years.last, 12, 31))


def _sum(spec, subs: list[tuple[str, str, dict]], meas, who: set[str] | None) -> tuple[float, int]:
    """Total of ``meas`` over the submissions of ``who`` (everyone: None), and how many counted."""
    total, n = 0.0, 0
    for form, participant, payload in subs:
        if form == meas.form and (who is None or participant in who):
            total += measure_value(spec, form, payload, meas.field, meas.column)
            n += 1
    return total, n


def _value(spec, t, subs, who: set[str] | None) -> tuple[float | None, float | None, float | None]:
    """(value, numerator, denominator) of target ``t`` over ``who``'s submissions."""
    if t.measure == "rate":
        if t.numerator is None:
            return None, None, None
        num, _ = _sum(spec, subs, t.numerator, who)
        den, _ = _sum(spec, subs, t.denominator, who)
        r = _rate(num, den)
        return (round(r * 100, 2) if r is not None and (t.unit or "").strip() == "%" else r), num, den
    if t.counted_from is None:
        return None, None, None  # (count_items: counted in _targets, from the ledger's items)
    v, n = _sum(spec, subs, t.counted_from, who)
    return (v if n else None), None, None


def _progress(spec, t, subs: list[tuple[str, str, dict]]) -> TargetProgress:
    lo, hi = spec.parameter_value(t.at_least), spec.parameter_value(t.at_most)

    def reached(value: float | None) -> bool | None:
        if value is None:
            return None
        return (lo is None or value >= lo) and (hi is None or value <= hi)

    tp = TargetProgress(t.id, t.title, t.measure, t.period, None, at_least=lo, at_most=hi, unit=t.unit)
    if t.each:
        tp.by_participant = {m: _value(spec, t, subs, {m})[0] for m in sorted(spec.expand([t.each]))}
        known = [v for v in tp.by_participant.values() if v is not None]
        tp.value = min(known) if known else None
        # a member with nothing submitted has not reached it (yet); with no data at all, unknown
        tp.met = None if not known else all(reached(v) is True for v in tp.by_participant.values())
    else:
        tp.value, tp.numerator, tp.denominator = _value(spec, t, subs, None)
        tp.met = reached(tp.value)
    return tp


def store_rollup(session: Session, py: ProgrammeYear, rollup: Rollup, at: dt.datetime) -> int:
    """Replace the stored figures of this programme year with ``rollup``'s."""
    rows: list[dict[str, Any]] = []

    def put(scope: str, metric: str, subject: str, value, num=None, den=None) -> None:
        rows.append(
            {
                "programme_year_id": py.id,
                "scope": scope,
                "metric": metric,
                "subject": subject,
                "value": value,
                "numerator": num,
                "denominator": den,
                "computed_at": at,
            }
        )

    put("programme", "on_time_rate", "*", rollup.on_time_rate)
    for m in rollup.milestones:
        put("programme", "on_time_rate", m.milestone, m.on_time_rate, m.on_time, m.submitted + m.overdue)
        put("programme", "submitted", m.milestone, m.submitted, None, m.assigned - m.exempted)
    for p in rollup.participants:
        put(p.participant, "on_time_rate", "*", p.on_time_rate, p.on_time, p.counted)
    for t in rollup.targets:
        put("programme", "target", t.target, t.value, t.numerator, t.denominator)
        for who, v in t.by_participant.items():
            put(who, "target", t.target, v)
    # Two runs rolling up the same year at once (two advances, or advance and the nightly
    # rollup): the row lock makes the second wait and replace the first's figures
    # instead of colliding with them (PostgreSQL; SQLite serialises writers anyway).
    session.execute(select(ProgrammeYear.id).where(ProgrammeYear.id == py.id).with_for_update())
    session.execute(delete(RollupValue).where(RollupValue.programme_year_id == py.id))
    if rows:
        session.execute(insert(RollupValue), rows)
    return len(rows)
