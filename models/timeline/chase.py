"""When a task's reminders, chasers and escalations fall due — pure date maths.

``task_steps`` lists every step of a task's reminder policy for its (effective) opening
and due date. Each step says when it falls due and until when it is still worth sending
(``stale_at``): a reminder "5 working days left" is pointless once the "1 working day
left" one is due, so a run after days of downtime sends only the latest of them, never a
burst. Opening notices are worth sending until the due day ends; escalations for as long
as the task is late.

Step keys are stable and carry the due date they were computed for (``before-5@2023-12-25``):
when an extension moves the due date, reminders follow the new date as new steps, and the
ones already sent stay recorded against the old date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .clock import TZ
from .plan import shift_workdays
from .spec import ReminderPolicy
from .workdays import MissingWorkdayData, WorkdayCalendar

OPENED, UPCOMING, DUE_TODAY, OVERDUE, ESCALATION = "opened", "upcoming", "due_today", "overdue", "escalation"


@dataclass(frozen=True)
class Step:
    key: str
    kind: str
    at: dt.datetime  # aware, Asia/Shanghai
    stale_at: dt.datetime | None  # None: worth sending whenever the task still awaits it
    working_days: int | None = None  # left (upcoming) or late (overdue, escalation)
    number: int | None = None  # the chaser's number (overdue)
    roles: tuple[str, ...] = ()  # escalation: the role ids it goes to


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, t, tzinfo=TZ)


def _midnight_after(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=TZ)


def task_steps(
    policy: ReminderPolicy | None,
    *,
    opens: dt.date | None,
    due: dt.date,
    cal: WorkdayCalendar,
    year_start: dt.date,
    missing: set[int] | None = None,
) -> list[Step]:
    """Every step for one task, in time order. ``opens`` None means open from
    ``year_start`` (the programme year's first day, or its in-force date).

    Chasers and escalations can fall in the next year. When that year has no working-day
    data, those steps are left out (never guessed) and the year is added to ``missing`` so
    the caller can say which file to add; every step that can be dated still is."""
    if policy is None:
        return []
    t = policy.send_time
    first = opens or year_start
    opened_day = cal.on_or_after(first)
    steps: list[Step] = []
    if opened_day <= due:
        steps.append(Step("opened", OPENED, _at(opened_day, t), _midnight_after(due)))

    # before_due: N-th working day before due (0: due itself, or the working day before a
    # due date kept on a rest day). Skip days before the task opens.
    pre: list[tuple[int, dt.date]] = []
    for n in sorted(set(policy.before_due), reverse=True):
        day = shift_workdays(due, n, -1, cal)  # the same days the plan shows
        if day >= opened_day:
            pre.append((n, day))
    for i, (n, day) in enumerate(pre):
        nxt = _at(pre[i + 1][1], t) if i + 1 < len(pre) else _midnight_after(due)
        if n == 0:
            steps.append(Step(f"due@{due}", DUE_TODAY, _at(day, t), _midnight_after(due), working_days=0))
        else:
            steps.append(Step(f"before-{n}@{due}", UPCOMING, _at(day, t), nxt, working_days=n))

    def after(day: dt.date, n: int) -> dt.date | None:
        try:
            return cal.add(day, n)
        except MissingWorkdayData as exc:
            if missing is None:
                raise
            missing.add(exc.year)
            return None

    if policy.overdue:
        every, count = policy.overdue.every_working_days, policy.overdue.max_chasers
        days = [after(due, every * k) for k in range(1, count + 1)]
        for k, day in enumerate(days, start=1):
            if day is None:
                break
            following = days[k] if k < len(days) else after(day, every)
            # the next chaser is in an undated year: this one stays worth sending to year end
            stale = _at(following, t) if following else _midnight_after(dt.date(day.year, 12, 31))
            steps.append(Step(f"overdue-{k}@{due}", OVERDUE, _at(day, t), stale, working_days=every * k, number=k))
    for esc in policy.escalations:
        day = after(due, esc.after_working_days)
        if day is None:
            continue
        steps.append(
            Step(
                f"escalate-{esc.after_working_days}@{due}",
                ESCALATION,
                _at(day, t),
                None,
                working_days=esc.after_working_days,
                roles=tuple(esc.to),
            )
        )
    steps.sort(key=lambda s: (s.at, s.key))
    return steps
