"""The annual evaluation (考评): every participant of a scorecard's cohorts scored from the
ledger, ranked within its cohort, every score explained down to the rows it came from.

What counts, as of the evaluation instant ``at``:

- an item is a task of the year that is **due by then** (or delivered by then) and not
  exempted: submitted (on time or late) or still missing — a version that arrived after
  ``at`` does not count, ratings entered after it neither; acceptances, returns and
  exemptions are taken as the ledger holds them when the evaluation is made;
- working days late: a late submission's, from the due date to the day its standing
  version arrived; a missing item's, to the evaluation day;
- first-time acceptance: accepted without ever being returned, over the items decided
  (accepted, or returned at least once);
- a target's contribution: the participant's measured value in the year's standing
  submissions, over its share of the year's goal (the goal ÷ the cohort's members);
- a rating: the latest a coordinator entered for the participant, year and indicator.

An indicator with nothing to measure (nothing was due yet, no rating) is left out of the
participant's total and the remaining weights count; the explanation says so. Ranks are
competition ranks on the total rounded to two decimals: equal totals share a rank and
are marked tied (并列), the next rank is skipped — never broken by name or order.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import states as S
from .forms import measure_value
from .fanout import titled
from .ledger import LoadedProgramme
from .messages import working_days_late
from .tables import MilestoneInstance, ProgrammeYear, Rating, StatusChange, Submission, Task
from .timeline import TZ, WorkdayCalendar, local_day
from .timeline.scorespec import PENALTY_MEASURES, Indicator, Scorecard

RATING_MIN, RATING_MAX = 0, 100
COMMENT_MAX = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not storable in Word or Excel files


class NoScorecard(LookupError):
    pass


@dataclass(frozen=True)
class Item:
    """One task as the evaluation sees it (the ledger row it came from: ``task_id``)."""

    task_id: int
    milestone: str
    title: str
    due: dt.date
    state: str
    submitted_at: dt.datetime | None
    on_time: bool | None
    days_late: int  # working days; 0 when on time
    returned: int  # times returned for revision
    accepted: bool

    @property
    def missing(self) -> bool:
        return self.state == S.OVERDUE

    @property
    def late(self) -> bool:
        return self.missing or (self.state == S.SUBMITTED and self.on_time is False)

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["due"] = self.due.isoformat()
        d["submitted_at"] = self.submitted_at.astimezone(TZ).isoformat() if self.submitted_at else None
        return d


@dataclass
class IndicatorScore:
    indicator: str
    label: str
    measure: str
    weight: float
    value: float | None  # the raw figure (a rate 0–1, days, a count, a rating)
    score: float | None  # 0–100; None: nothing to measure (left out of the total)
    explanation: str  # in Chinese: how the figure and the score were computed
    numerator: float | None = None
    denominator: float | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)  # the ledger rows it came from


@dataclass
class ParticipantScore:
    participant: str
    name: str
    cohort: str
    total: float | None
    rank: int | None = None
    tied: bool = False
    scores: list[IndicatorScore] = field(default_factory=list)

    @property
    def rank_text(self) -> str:
        if self.rank is None:
            return "不参与排名（无可考评事项）"
        return f"并列第{self.rank}名" if self.tied else f"第{self.rank}名"


@dataclass
class CohortResult:
    id: str
    title: str
    indicators: list[tuple[str, str, float]]  # (id, label, weight) of the indicators that apply
    rows: list[ParticipantScore]


@dataclass
class Evaluation:
    programme: str
    title: str
    year: int
    as_of: dt.datetime
    cohorts: list[CohortResult]

    def participant(self, pid: str) -> ParticipantScore | None:
        return next((r for c in self.cohorts for r in c.rows if r.participant == pid), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "programme": self.programme,
            "title": self.title,
            "year": self.year,
            "as_of": self.as_of.astimezone(TZ).isoformat(),
            "cohorts": [
                {
                    "id": c.id,
                    "title": c.title,
                    "indicators": [{"id": i, "label": lab, "weight": w} for i, lab, w in c.indicators],
                    "ranking": [
                        {
                            "participant": r.participant,
                            "name": r.name,
                            "total": r.total,
                            "rank": r.rank,
                            "tied": r.tied,
                            "rank_text": r.rank_text,
                            "scores": [asdict(x) for x in r.scores],
                        }
                        for r in c.rows
                    ],
                }
                for c in self.cohorts
            ],
        }


# --------------------------------------------------------------------------- ratings


def rate(
    session: Session,
    prog: LoadedProgramme,
    *,
    year: int,
    participant: str,
    indicator: str,
    score: int,
    comment: str,
    actor: str,
    at: dt.datetime,
) -> Rating:
    """Record a coordinator's rating; refuses what the scorecard does not rate."""
    sc = prog.spec.scorecard
    if sc is None:
        raise NoScorecard(f"{prog.id} has no scorecard: add `scorecard:` to its calendar")
    ind = next((i for i in sc.indicators if i.id == indicator), None)
    rated = [i.id for i in sc.indicators if i.measure == "rating"]
    if ind is None or ind.measure != "rating":
        raise ValueError(f"'{indicator}' is not a rating indicator of {prog.id}; rating indicators: {', '.join(rated) or '无'}")
    if participant not in cohort_of(prog.spec):
        raise ValueError(f"'{participant}' is not evaluated by {prog.id}'s scorecard (in none of its cohorts)")
    if year not in prog.spec.programme.years:
        raise ValueError(f"{year} is not a year of {prog.id}")
    if isinstance(score, bool) or not isinstance(score, int) or not RATING_MIN <= score <= RATING_MAX:
        raise ValueError(f"评分须为 {RATING_MIN}–{RATING_MAX} 的整数，收到 {score!r}")
    comment = comment.strip()
    if _CONTROL.search(comment):
        raise ValueError("评分说明含有不可见的控制字符（可能是从其他文档粘贴带入的），请删除后重新填写")
    if not comment:
        raise ValueError("请填写评分说明（comment）")
    if len(comment) > COMMENT_MAX:
        raise ValueError(f"评分说明最多 {COMMENT_MAX} 字，收到 {len(comment)} 字")
    row = Rating(
        programme=prog.id,
        year=year,
        participant=participant,
        indicator=indicator,
        score=score,
        comment=comment,
        rated_by=actor,
        rated_at=at,
    )
    session.add(row)
    session.flush()
    return row


def latest_ratings(session: Session, programme: str, year: int, at: dt.datetime) -> dict[tuple[str, str], Rating]:
    """(participant, indicator) → the latest rating entered by ``at``."""
    out: dict[tuple[str, str], Rating] = {}
    for r in session.scalars(
        select(Rating)
        .where(Rating.programme == programme, Rating.year == year, Rating.rated_at <= at)
        .order_by(Rating.rated_at, Rating.id)
    ):
        out[(r.participant, r.indicator)] = r
    return out


# --------------------------------------------------------------------------- the evaluation


def cohort_of(spec) -> dict[str, str]:
    """Participant → the cohort it is ranked in (validated: at most one)."""
    out: dict[str, str] = {}
    for c in spec.scorecard.cohorts if spec.scorecard else ():
        for p in spec.expand(c.members):
            out.setdefault(p, c.id)
    return out


def year_items(session: Session, py: ProgrammeYear, cal: WorkdayCalendar, at: dt.datetime) -> dict[str, list[Item]]:
    """Participant → the year's items due by ``at`` (exemptions left out)."""
    today = local_day(at)
    returned = dict(
        session.execute(
            select(StatusChange.task_id, func.count())
            .join(Task, Task.id == StatusChange.task_id)
            .where(Task.programme_year_id == py.id, StatusChange.to_state == S.RETURNED)
            .group_by(StatusChange.task_id)
        ).all()
    )
    out: dict[str, list[Item]] = {}
    rows = session.execute(
        select(Task, MilestoneInstance.milestone, MilestoneInstance.title)
        .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
        .where(Task.programme_year_id == py.id)
        .order_by(Task.due, MilestoneInstance.milestone)
    ).all()
    for t, milestone, title in rows:
        delivered = t.state == S.SUBMITTED and (t.submitted_at is None or t.submitted_at <= at)
        if t.state in S.NOT_OWED or (not delivered and t.due >= today):
            continue  # released, or not due yet (and not delivered early)
        if delivered:
            late = 0 if t.on_time else working_days_late(cal, t.due, t.submitted_at or at)
        else:  # overdue, or delivered only after ``at``: missing as of then
            late = working_days_late(cal, t.due, at)
        out.setdefault(t.participant, []).append(
            Item(
                task_id=t.id,
                milestone=milestone,
                title=titled(title, t),
                due=t.due,
                state=S.SUBMITTED if delivered else S.OVERDUE,
                submitted_at=t.submitted_at if delivered else None,
                on_time=t.on_time if delivered else None,
                days_late=late,
                returned=returned.get(t.id, 0),
                accepted=t.accepted_at is not None,
            )
        )
    return out


def _standing(session: Session, py: ProgrammeYear) -> list[tuple[int, str, str | None, dict]]:
    """(submission id, participant, form, payload) of the year's standing versions."""
    latest = select(Submission.task_id, func.max(Submission.version).label("v")).group_by(Submission.task_id).subquery()
    q = (
        select(Submission.id, Task.participant, MilestoneInstance.form, Submission.payload)
        .join(Task, Task.id == Submission.task_id)
        .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
        .join(latest, (latest.c.task_id == Task.id) & (latest.c.v == Submission.version))
        .where(Task.programme_year_id == py.id, Task.state == S.SUBMITTED)
    )
    return [(i, p, f, payload) for i, p, f, payload in session.execute(q)]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _num(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def _clamp(x: float) -> float:
    return round(max(0.0, min(100.0, x)), 2)


def yearly_goal(spec, target, year: int) -> tuple[float | None, str]:
    """What the programme expects of ``target`` within ``year`` (and how that was derived)."""
    lo = spec.parameter_value(target.at_least)
    if target.measure == "rate":
        return (float(lo) if lo is not None else None), "比率目标"
    if lo is None:
        return None, "目标无下限"
    if target.period == "yearly":
        return float(lo), f"年度目标 {_num(float(lo))}"
    if target.path:
        path = {y: float(spec.parameter_value(v) or 0) for y, v in target.path.items()}
        before = max((v for y, v in path.items() if y < year), default=0.0)
        if year in path:
            return path[year] - before, f"路径 {year} 年累计 {_num(path[year])} − 上年 {_num(before)}"
    first = spec.programme.years.first
    last = target.by_year or spec.programme.years.last
    n = max(last - first + 1, 1)
    if year > last:
        return None, f"目标期限 {last} 年已过"
    return float(lo) / n, f"{first}–{last} 年总目标 {_num(float(lo))} ÷ {n} 年"


def _score_indicator(
    ind: Indicator,
    items: list[Item],
    *,
    rating: Rating | None,
    contribution: tuple[float | None, list[dict[str, Any]]] | None,
    share: tuple[float | None, str],
    spec,
) -> IndicatorScore:
    w = float(ind.weight)
    base = IndicatorScore(ind.id, ind.label, ind.measure, w, None, None, "")
    m = ind.measure
    if m == "rating":
        if rating is None:
            base.explanation = "尚未评分，不计入总分"
            return base
        base.value = base.score = float(rating.score)
        base.explanation = f"{rating.rated_by} 于 {rating.rated_at.astimezone(TZ):%Y-%m-%d} 评分 {rating.score}：{rating.comment}"
        base.evidence = [{"rating_id": rating.id, "score": rating.score, "comment": rating.comment, "rated_by": rating.rated_by}]
        return base
    if m == "target_contribution":
        assert contribution is not None
        value, evidence = contribution
        goal, how = share
        base.value, base.evidence = value, evidence
        if value is None:
            base.explanation = "比率的分母为 0（无可计算的数据），不计入总分"
            return base
        if goal is None or goal <= 0:
            base.explanation = f"实际 {_num(value)}；无可比较的年度目标（{how}），不计入总分"
            return base
        target = next(t for t in spec.targets if t.id == ind.target)
        if target.measure == "rate":
            base.score = _clamp(100 * value / goal)
            base.explanation = f"实际 {_num(value)} ÷ 目标 {_num(goal)} × 100 = {base.score:g}（封顶100）"
        else:
            base.score = _clamp(100 * value / goal)
            base.explanation = f"实际 {_num(value)} ÷ 应承担份额 {_num(goal)}（{how}）× 100 = {base.score:g}（封顶100）"
        return base
    base.evidence = [i.as_json() for i in items]
    if not items:
        base.explanation = "本年度尚无到期事项，不计入总分"
        return base
    if m == "on_time_rate":
        on_time = sum(1 for i in items if i.state == S.SUBMITTED and i.on_time)
        base.numerator, base.denominator = on_time, len(items)
        base.value = on_time / len(items)
        base.score = _clamp(100 * base.value)
        base.explanation = f"按时报送 {on_time} 项 ÷ 应报 {len(items)} 项 = {_pct(base.value)}，得 {base.score:g} 分"
        return base
    if m == "first_time_acceptance":
        decided = [i for i in items if i.accepted or i.returned]
        base.evidence = [i.as_json() for i in decided]
        if not decided:
            base.explanation = "尚无已审核（通过或退回）的事项，不计入总分"
            return base
        first = sum(1 for i in decided if i.accepted and not i.returned)
        base.numerator, base.denominator = first, len(decided)
        base.value = first / len(decided)
        base.score = _clamp(100 * base.value)
        base.explanation = f"一次通过 {first} 项 ÷ 已审核 {len(decided)} 项 = {_pct(base.value)}，得 {base.score:g} 分"
        return base
    late = [i for i in items if i.late]
    zero = ind.zero
    if m == "missing":
        missing = [i for i in items if i.missing]
        base.evidence = [i.as_json() for i in missing]
        base.value = float(len(missing))
        what = f"尚未报送 {len(missing)} 项"
    elif m == "days_late_mean":
        base.evidence = [i.as_json() for i in late]
        total = sum(i.days_late for i in late)
        base.numerator, base.denominator = total, len(late)
        base.value = round(total / len(late), 2) if late else 0.0
        what = f"逾期 {len(late)} 项共 {total} 个工作日，平均 {_num(base.value)} 个工作日" if late else "无逾期事项"
    else:  # days_late_worst
        worst = max(late, key=lambda i: i.days_late, default=None)
        base.evidence = [worst.as_json()] if worst else []
        base.value = float(worst.days_late) if worst else 0.0
        what = f"最长逾期 {_num(base.value)} 个工作日（{worst.title}）" if worst else "无逾期事项"
    assert m in PENALTY_MEASURES
    base.score = _clamp(100 * (1 - base.value / zero))
    base.explanation = f"{what}；100 × (1 − {_num(base.value)} ÷ {_num(zero)}) = {base.score:g} 分（{_num(zero)} 及以上得 0 分）"
    return base


def evaluate(session: Session, prog: LoadedProgramme, py: ProgrammeYear, cal: WorkdayCalendar, at: dt.datetime) -> Evaluation:
    """Score and rank every cohort of ``prog``'s scorecard for ``py`` as of ``at``."""
    spec = prog.spec
    sc: Scorecard | None = spec.scorecard
    if sc is None:
        raise NoScorecard(f"{prog.id} has no scorecard: add `scorecard:` to its calendar (see calendar/schema)")
    cal = cal.for_spec(spec)
    items = year_items(session, py, cal, at)
    ratings = latest_ratings(session, prog.id, py.year, at)
    standing = _standing(session, py) if any(i.measure == "target_contribution" for i in sc.indicators) else []
    targets = {t.id: t for t in spec.targets}
    cohorts: list[CohortResult] = []
    for c in sc.cohorts:
        members = list(spec.expand(c.members))
        applies = [i for i in sc.indicators if i.cohorts is None or c.id in i.cohorts]
        rows: list[ParticipantScore] = []
        for pid in members:
            scores = []
            for ind in applies:
                contribution = None
                share: tuple[float | None, str] | None = None
                if ind.measure == "target_contribution":
                    t = targets[ind.target or ""]
                    contribution = _contribution(spec, t, standing, pid)
                    goal, how = yearly_goal(spec, t, py.year)
                    if t.measure == "count" and goal is not None and not t.each:
                        share = (goal / len(members), f"{how}，÷ {c.title} {len(members)} 家")
                    else:
                        share = (goal, how)
                scores.append(
                    _score_indicator(
                        ind,
                        items.get(pid, []),
                        rating=ratings.get((pid, ind.id)),
                        contribution=contribution,
                        share=share or (None, ""),
                        spec=spec,
                    )
                )
            counted = [s for s in scores if s.score is not None]
            weights = sum(s.weight for s in counted)
            total = round(sum(s.weight * (s.score or 0) for s in counted) / weights, 2) if weights else None
            rows.append(ParticipantScore(pid, prog.names.get(pid, pid), c.id, total, scores=scores))
        _rank(rows)
        cohorts.append(CohortResult(c.id, c.title, [(i.id, i.label, float(i.weight)) for i in applies], rows))
    return Evaluation(prog.id, py.title, py.year, at, cohorts)


def _contribution(spec, target, standing, pid: str) -> tuple[float | None, list[dict[str, Any]]]:
    """The participant's measured value of ``target`` in the year's standing submissions."""
    evidence: list[dict[str, Any]] = []

    def total(meas) -> float:
        s = 0.0
        for sid, p, form, payload in standing:
            if p == pid and form == meas.form:
                v = measure_value(spec, form, payload, meas.field, meas.column)
                s += v
                evidence.append({"submission_id": sid, "form": form, "field": meas.field, "value": v})
        return s

    if target.measure == "rate":
        num, den = total(target.numerator), total(target.denominator)
        if not den:
            return None, evidence  # nothing to take a rate of: not measured, not zero
        value = num / den
        if (target.unit or "").strip() == "%":
            value *= 100
        return round(value, 4), evidence
    return total(target.counted_from), evidence


def _rank(rows: list[ParticipantScore]) -> None:
    """Competition ranks by total (two decimals), ties shared and marked; unscored last."""
    scored = sorted((r for r in rows if r.total is not None), key=lambda r: -round(r.total or 0, 2))
    rank = 0
    for i, r in enumerate(scored):
        if i == 0 or round(r.total or 0, 2) != round(scored[i - 1].total or 0, 2):
            rank = i + 1
        r.rank = rank
    counts: dict[int, int] = {}
    for r in scored:
        counts[r.rank or 0] = counts.get(r.rank or 0, 0) + 1
    for r in scored:
        r.tied = counts[r.rank or 0] > 1
    rows[:] = scored + [r for r in rows if r.total is None]
