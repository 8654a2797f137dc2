"""When a task's notices, reminders, chasers and escalations fall due — pure date maths.

``task_steps`` is the one function that says what a task will be sent and when: the
planner shows its result (``plan``, the ICS alarms) and the engine queues exactly it.

Each step says when it falls due and until when it is still worth sending
(``stale_at``): a reminder "5 working days left" is pointless once the "1 working day
left" one is due, so a run after days of downtime sends only the latest of them, never a
burst. Opening notices are worth sending until the due day ends; escalations for as long
as the task is late.

Pre-due reminders (``before_due: N``) fall on the N-th working day before the due date.
Two rules keep a bureau from getting two messages in the same minute, and both are shown
by the planner instead of happening silently:

* several ``before_due`` values that land on the same working day give one reminder (the
  one nearest the due date; ``Step.covers`` lists every N it stands for) — this happens
  when a due date is kept on a rest day, where ``0`` means the last working day before it;
* a reminder that falls on the opening day is carried by the opening notice.

A reminder on the last working day before a due date that lies on a rest day (``keep``)
is of its own kind, ``last_workday``: it must never say "today is the deadline".

Step keys are stable and carry the due date they were computed for (``before-5@2023-12-25``):
when an extension moves the due date, reminders follow the new date as new steps, and the
ones already sent stay recorded against the old date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..vocabulary import DUE_TODAY, ESCALATION, LAST_WORKDAY, OPENED, OVERDUE, UPCOMING
from .clock import TZ
from .spec import ReminderPolicy
from .workdays import MissingWorkdayData, WorkdayCalendar

__all__ = ["DUE_TODAY", "ESCALATION", "LAST_WORKDAY", "OPENED", "OVERDUE", "UPCOMING", "Step", "shift_workdays", "task_steps"]


@dataclass(frozen=True)
class Step:
    key: str
    kind: str
    at: dt.datetime  # aware, Asia/Shanghai
    stale_at: dt.datetime | None  # None: worth sending whenever the task still awaits it
    working_days: int | None = None  # left (upcoming) or late (overdue, escalation)
    number: int | None = None  # the chaser's number (overdue)
    roles: tuple[str, ...] = ()  # escalation: the role ids it goes to
    covers: tuple[int, ...] = ()  # the before_due values this step stands for (merged ones included)


def shift_workdays(base: dt.date, days: int, direction: int, cal: WorkdayCalendar) -> dt.date:
    """``days`` working days after (direction +1) or before (-1) ``base``; 0 days means
    ``base`` itself when it is a working day, else the nearest working day in ``direction``."""
    if days == 0:
        return cal.on_or_after(base) if direction > 0 else cal.on_or_before(base)
    return cal.add(base, direction * days)


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, t, tzinfo=TZ)


def _midnight_after(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=TZ)


def pre_due_days(
    due: dt.date, before_due: list[int], opened_day: dt.date, cal: WorkdayCalendar
) -> tuple[list[tuple[dt.date, tuple[int, ...]]], tuple[int, ...]]:
    """The days pre-due reminders fall on, each with the ``before_due`` values it stands
    for (nearest the due date first), and the values carried by the opening notice.
    Values whose day is before the opening are dropped: the task does not exist yet."""
    by_day: dict[dt.date, list[int]] = {}
    for n in sorted(set(before_due)):
        by_day.setdefault(shift_workdays(due, n, -1, cal), []).append(n)
    days = [(day, tuple(ns)) for day, ns in sorted(by_day.items()) if day > opened_day]
    on_opening = tuple(n for day, ns in by_day.items() if day == opened_day for n in ns)
    return days, on_opening


def task_steps(
    policy: ReminderPolicy | None,
    *,
    opens: dt.date | None,
    due: dt.date,
    cal: WorkdayCalendar,
    year_start: dt.date,
    missing: set[int] | None = None,
) -> list[Step]:
    """Every step for one task, in time order. ``opens`` None (ledgers compiled before
    openings were always dated) means open from ``year_start``.

    Chasers and escalations can fall in the next year. When that year has no working-day
    data, those steps are left out (never guessed) and the year is added to ``missing`` so
    the caller can say which file to add; every step that can be dated still is."""
    if policy is None:
        return []
    t = policy.send_time
    opened_day = cal.on_or_after(opens or year_start)
    steps: list[Step] = []
    days, on_opening = pre_due_days(due, policy.before_due, opened_day, cal)
    if opened_day <= due:
        steps.append(Step("opened", OPENED, _at(opened_day, t), _midnight_after(due), covers=on_opening))
    due_is_workday = cal.is_workday(due)
    for i, (day, ns) in enumerate(days):
        nxt = _at(days[i + 1][0], t) if i + 1 < len(days) else _midnight_after(due)
        left = cal.count_between(day, due)
        key = f"due@{due}" if ns[0] == 0 else f"before-{ns[0]}@{due}"
        if day == due:
            kind = DUE_TODAY
        elif left == 0 and not due_is_workday:
            kind = LAST_WORKDAY  # the due date is a rest day: today is the last working day before it
        else:
            kind = UPCOMING
        steps.append(Step(key, kind, _at(day, t), nxt, working_days=left, covers=ns))

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
        chaser_days = [after(due, every * k) for k in range(1, count + 1)]
        for k, chase_day in enumerate(chaser_days, start=1):
            if chase_day is None:
                break
            following = chaser_days[k] if k < len(chaser_days) else after(chase_day, every)
            # the next chaser is in an undated year: this one stays worth sending to year end
            stale = _at(following, t) if following else _midnight_after(dt.date(chase_day.year, 12, 31))
            steps.append(Step(f"overdue-{k}@{due}", OVERDUE, _at(chase_day, t), stale, working_days=every * k, number=k))
    for esc in policy.escalations:
        esc_day = after(due, esc.after_working_days)
        if esc_day is None:
            continue
        steps.append(
            Step(
                f"escalate-{esc.after_working_days}@{due}",
                ESCALATION,
                _at(esc_day, t),
                None,
                working_days=esc.after_working_days,
                roles=tuple(esc.to),
            )
        )
    steps.sort(key=lambda s: (s.at, s.key))
    return steps
