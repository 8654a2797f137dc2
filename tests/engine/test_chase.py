"""The reminder schedule of one task (pure): when each step falls due and until when it
is still worth sending."""

from __future__ import annotations

import datetime as dt

from models.timeline import TZ, WorkdayCalendar
from models.timeline.chase import task_steps
from models.timeline.spec import ReminderPolicy

CAL = WorkdayCalendar()
POLICY = ReminderPolicy.model_validate(
    {
        "id": "p",
        "send_at": "09:00",
        "before_due": [5, 1, 0],
        "overdue": {"every_working_days": 2, "max_chasers": 2},
        "escalations": [{"after_working_days": 3, "to": ["unit-head"]}],
    }
)


def at(y, m, d, h=9, mi=0):
    return dt.datetime(y, m, d, h, mi, tzinfo=TZ)


def steps(due=dt.date(2023, 12, 25), opens=dt.date(2023, 12, 1), policy=POLICY):
    return {s.key: s for s in task_steps(policy, opens=opens, due=due, cal=CAL, year_start=dt.date(2023, 1, 1))}


def test_schedule_for_a_monday_due_date():
    s = steps()
    assert [(k, v.at) for k, v in s.items()] == [
        ("opened", at(2023, 12, 1)),
        ("before-5@2023-12-25", at(2023, 12, 18)),
        ("before-1@2023-12-25", at(2023, 12, 22)),
        ("due@2023-12-25", at(2023, 12, 25)),
        ("overdue-1@2023-12-25", at(2023, 12, 27)),
        ("escalate-3@2023-12-25", at(2023, 12, 28)),
        ("overdue-2@2023-12-25", at(2023, 12, 29)),
    ]


def test_each_reminder_goes_stale_when_the_next_one_is_due():
    s = steps()
    assert s["before-5@2023-12-25"].stale_at == at(2023, 12, 22)
    assert s["before-1@2023-12-25"].stale_at == at(2023, 12, 25)
    assert s["due@2023-12-25"].stale_at == at(2023, 12, 26, 0)
    assert s["overdue-1@2023-12-25"].stale_at == at(2023, 12, 29)
    # the last chaser stays worth sending for one more chasing interval
    assert s["overdue-2@2023-12-25"].stale_at == at(2024, 1, 3)
    assert s["escalate-3@2023-12-25"].stale_at is None  # an escalation never goes stale
    assert s["opened"].stale_at == at(2023, 12, 26, 0)


def test_steps_skip_holidays_and_use_adjusted_working_days():
    # due Mon 2023-10-09: Sat 10-07 and Sun 10-08 were working days (调休), so 1 working
    # day before is Sunday 10-08; 5 before skips National Day (09-29 … 10-06): Tue 09-26.
    s = steps(due=dt.date(2023, 10, 9), opens=dt.date(2023, 9, 1))
    assert s["before-1@2023-10-09"].at == at(2023, 10, 8)
    assert s["before-5@2023-10-09"].at == at(2023, 9, 26)


def test_no_reminder_before_the_task_opens():
    s = steps(opens=dt.date(2023, 12, 20))
    assert "before-5@2023-12-25" not in s
    assert "before-1@2023-12-25" in s


def test_keys_carry_the_due_date_so_reminders_follow_an_extension():
    moved = steps(due=dt.date(2024, 1, 5))
    assert "before-5@2024-01-05" in moved and "before-5@2023-12-25" not in moved


def test_no_policy_no_steps():
    assert task_steps(None, opens=None, due=dt.date(2023, 12, 25), cal=CAL, year_start=dt.date(2023, 1, 1)) == []


def test_steps_in_a_year_without_working_day_data_are_left_out_and_named():
    # 2027 is beyond chinese-calendar 1.11.0: the escalation 5 working days after
    # 2026-12-25 cannot be dated; the December steps still are.
    missing: set[int] = set()
    s = {
        x.key: x
        for x in task_steps(
            POLICY,
            opens=dt.date(2026, 12, 1),
            due=dt.date(2026, 12, 25),
            cal=CAL,
            year_start=dt.date(2026, 1, 1),
            missing=missing,
        )
    }
    assert missing == {2027}
    assert s["due@2026-12-25"].at == at(2026, 12, 25)
    assert s["overdue-1@2026-12-25"].at == at(2026, 12, 29) and s["escalate-3@2026-12-25"].at == at(2026, 12, 30)
    assert s["overdue-2@2026-12-25"].stale_at == at(2027, 1, 1, 0)  # the next chaser would be in 2027
    import pytest

    from models.timeline import MissingWorkdayData

    with pytest.raises(MissingWorkdayData):
        task_steps(POLICY, opens=dt.date(2026, 12, 1), due=dt.date(2026, 12, 25), cal=CAL, year_start=dt.date(2026, 1, 1))
