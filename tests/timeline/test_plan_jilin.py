"""The shipped Jilin calendar, planned for each of its years, against dates checked by hand
on the State Council holiday notices for 2022–2024."""

from __future__ import annotations

import datetime as dt

import pytest

from models.timeline import WorkdayCalendar, load_programme_file, plan_year
from tests.conftest import JILIN, plan_json

CLINIC = [
    "clinic-industries-announced",
    "clinic-recommendations",
    "clinic-plan-issued",
    "clinic-visits",
    "clinic-feedback-meeting",
    "clinic-task-sheets",
    "clinic-feedback-forms",
]
CITY_BUREAUS = [
    "changchun",
    "jilin-city",
    "siping",
    "liaoyuan",
    "tonghua",
    "baishan",
    "songyuan",
    "baicheng",
    "yanbian",
    "changbaishan",
    "meihekou",
]


@pytest.fixture(scope="module")
def plans():
    spec = load_programme_file(JILIN)
    cal = WorkdayCalendar()
    return {y: {m.id: m for m in plan_year(spec, y, cal).milestones} for y in (2022, 2023, 2024)}


# (year, milestone, nominal_due, due, opens) — each line checked against that year's notice.
KNOWN = [
    # 2023: end of April is in the Labour Day break (04-29..05-03) → first working day after.
    (2023, "clinic-plan-issued", "2023-04-30", "2023-05-04", "2023-04-23"),
    # no `opens`: 20 working days before the due date (the programme default opens_before_due)
    (2023, "clinic-industries-announced", "2023-03-31", "2023-03-31", "2023-03-03"),
    # 15 working days after Friday 03-31, skipping Qingming (04-05), ending on Sunday 04-23, a 调休 working day.
    (2023, "clinic-recommendations", "2023-04-23", "2023-04-23", "2023-03-31"),
    (2023, "clinic-visits", "2023-07-31", "2023-07-31", "2023-06-01"),
    (2023, "clinic-feedback-meeting", "2023-08-31", "2023-08-31", "2023-08-03"),
    (2023, "clinic-task-sheets", "2023-11-30", "2023-11-30", "2023-09-01"),
    (2023, "clinic-feedback-forms", "2023-12-25", "2023-12-25", "2023-11-01"),
    # Saturday 09-30 is inside the National Day break; previous_workday is chosen for Quality Month.
    (2023, "policy-website-update", "2023-09-30", "2023-09-28", "2023-08-31"),
    (2023, "annual-evaluation", "2023-12-31", "2023-12-29", "2023-12-01"),
    # 2024: 03-31 is a Sunday → Monday 04-01; 08-31 a Saturday → Monday 09-02.
    (2024, "clinic-industries-announced", "2024-03-31", "2024-04-01", "2024-03-04"),
    # opens when recommendations are due: 15 working days after 04-01, skipping Qingming 04-04..06, counting Sunday 04-07.
    (2024, "clinic-plan-issued", "2024-04-30", "2024-04-30", "2024-04-23"),
    (2024, "clinic-feedback-meeting", "2024-08-31", "2024-09-02", "2024-08-05"),
    (2024, "city-plans-reviewed", "2024-04-20", "2024-04-22", "2024-04-02"),
    (2024, "policy-website-update", "2024-09-30", "2024-09-30", "2024-09-02"),
    (2024, "clinic-feedback-forms", "2024-12-25", "2024-12-25", "2024-11-01"),
    # 2022: the plan is in force from 05-26; 07-31 is a Sunday → 08-01; 12-25 a Sunday → 12-26.
    (2022, "clinic-visits", "2022-07-31", "2022-08-01", "2022-06-01"),
    (2022, "clinic-feedback-forms", "2022-12-25", "2022-12-26", "2022-11-01"),
    (2022, "cloud-lectures", "2022-10-31", "2022-10-31", "2022-05-26"),
    (2022, "benchmark-rules-issued", "2022-09-30", "2022-09-30", "2022-09-01"),
]


@pytest.mark.parametrize(("year", "mid", "nominal", "due", "opens"), KNOWN)
def test_known_dates(plans, year, mid, nominal, due, opens):
    m = plans[year][mid]
    assert (m.nominal_due.isoformat(), m.due.isoformat()) == (nominal, due)
    assert (m.opens.isoformat() if m.opens else None) == opens


def test_clinic_spine_is_held_in_2023_and_2024_in_order(plans):
    for year in (2023, 2024):
        dues = [plans[year][mid].due for mid in CLINIC]
        assert dues == sorted(dues), f"{year}: the clinic steps must follow each other"


def test_2022_skips_what_came_before_the_plan_was_issued(plans):
    held = set(plans[2022])
    assert {"clinic-industries-announced", "clinic-recommendations", "clinic-plan-issued", "city-plans-submitted"} & held == set()
    assert {
        "clinic-visits",
        "clinic-feedback-meeting",
        "clinic-feedback-forms",
        "expert-library-phase-one",
        "leading-group-formed",
    } <= held


def test_once_only_milestones_appear_only_in_their_year(plans):
    assert "policy-guidance-volume" in plans[2023] and "policy-guidance-volume" not in plans[2022] | plans[2024]
    assert "expert-library-phase-one" in plans[2022] and "expert-library-phase-one" not in plans[2023]
    assert "policy-website-update" not in plans[2022]  # "以后，每年" — from the year after volume 1


def test_assignees_expand_groups(plans):
    m = plans[2023]["clinic-recommendations"]
    assert list(m.assignees) == CITY_BUREAUS
    assert len(plans[2023]["clinic-feedback-forms"].assignees) == 9
    assert plans[2023]["clinic-industries-announced"].assignees == ("quality-division",)
    assert "changchun" in plans[2023]["clinic-industries-announced"].cooperating


def test_every_effective_due_respects_its_rule_and_reminders_fall_on_working_days(plans):
    cal = WorkdayCalendar()
    for year, milestones in plans.items():
        for m in milestones.values():
            if m.rest_day_rule != "keep":
                assert cal.is_workday(m.due), (year, m.id)
            assert list(m.reminders) == sorted(set(m.reminders))
            for r in m.reminders:
                assert r.utcoffset() == dt.timedelta(hours=8)
                assert cal.is_workday(r.date()) and r.date() <= m.due
                assert m.opens is None or r.date() >= m.opens, (year, m.id)


def test_reminders_count_working_days_back_from_the_due_date(plans):
    m = plans[2023]["clinic-feedback-forms"]  # due Monday 2023-12-25; policy before_due [10, 5, 1, 0]
    assert [r.isoformat() for r in m.reminders] == [
        "2023-12-11T09:00:00+08:00",
        "2023-12-18T09:00:00+08:00",
        "2023-12-22T09:00:00+08:00",
        "2023-12-25T09:00:00+08:00",
    ]
    # 5 working days before Friday 2023-06-30 is Sunday 06-25, a 调休 working day after Dragon Boat.
    assert plans[2023]["internal-training"].reminders[0].date() == dt.date(2023, 6, 25)


def test_plan_json_has_exactly_the_documented_shape(cli):
    data = plan_json(cli, 2023)
    assert set(data) == {"programme", "year", "milestones"}
    assert data["programme"] == "jilin-quality-2022-2024" and data["year"] == 2023
    keys = {
        "id",
        "title",
        "opens",
        "nominal_due",
        "due",
        "rest_day_rule",
        "assignees",
        "form",
        "notice",
        "reminders",
        "steps",
        "merged",
        "provisional",
        "fan_out",
    }
    for m in data["milestones"]:
        assert set(m) == keys
        dt.date.fromisoformat(m["due"])
        dt.date.fromisoformat(m["nominal_due"])
        for r in m["reminders"]:
            assert r.endswith("+08:00") and len(r) == len("2023-12-11T09:00:00+08:00")
        assert (m["fan_out"] is not None) == (m["id"] in ("clinic-visit-reports", "clinic-measure-feedback"))
    ids = [m["id"] for m in data["milestones"]]
    assert set(CLINIC) <= set(ids)
    assert [m["due"] for m in data["milestones"]] == sorted(m["due"] for m in data["milestones"])
    plan_issued = next(m for m in data["milestones"] if m["id"] == "clinic-plan-issued")
    assert (plan_issued["nominal_due"], plan_issued["due"]) == ("2023-04-30", "2023-05-04")
