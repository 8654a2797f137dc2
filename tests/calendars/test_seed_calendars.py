"""The five seed programmes: each validates, plans every year with hand-checked dates, and
simulates a year end to end (issue 6)."""

from __future__ import annotations

import json

import pytest

# (programme, year) → (milestones, distinct assignees, first due, last due)
PLANS = {
    ("gansu-quality-keypoints-2023", 2023): (24, 19, "2023-03-15", "2023-12-29"),
    ("xuancheng-quality-1256-2022-2025", 2022): (17, 18, "2022-12-09", "2022-12-30"),
    ("xuancheng-quality-1256-2022-2025", 2023): (18, 18, "2023-12-08", "2023-12-29"),
    ("xuancheng-quality-1256-2022-2025", 2024): (17, 18, "2024-12-10", "2024-12-31"),
    ("xuancheng-quality-1256-2022-2025", 2025): (18, 18, "2025-12-10", "2025-12-31"),
    ("jilin-standards-2020-2022", 2020): (8, 14, "2020-09-30", "2020-12-31"),
    ("jilin-standards-2020-2022", 2021): (8, 14, "2021-03-15", "2021-12-20"),
    ("jilin-standards-2020-2022", 2022): (8, 14, "2022-03-15", "2022-12-20"),
    ("city-product-quality-2023-2025", 2023): (5, 8, "2023-12-08", "2023-12-29"),
    ("city-product-quality-2023-2025", 2024): (4, 8, "2024-12-10", "2024-12-20"),
    ("city-product-quality-2023-2025", 2025): (4, 8, "2025-12-10", "2025-12-19"),
    ("jilin-quality-2022-2024", 2022): (22, 22, "2022-06-30", "2022-12-30"),  # + the two fan-out milestones
    ("jilin-quality-2022-2024", 2023): (27, 22, "2023-03-31", "2023-12-29"),
    ("jilin-quality-2022-2024", 2024): (24, 22, "2024-04-01", "2024-12-31"),
}


def plan(cli, programme: str, year: int) -> dict:
    r = cli("plan", programme, "--year", str(year), "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_every_calendar_validates(cli):
    r = cli("validate")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "5 file(s) valid" in r.stdout + r.stderr


@pytest.mark.parametrize(("programme", "year"), sorted(PLANS))
def test_plan_summary(cli, programme, year):
    ms = plan(cli, programme, year)["milestones"]
    dues = sorted(m["due"] for m in ms)
    assignees = {a for m in ms for a in m["assignees"]}
    assert (len(ms), len(assignees), dues[0], dues[-1]) == PLANS[(programme, year)]


def by_id(cli, programme: str, year: int) -> dict:
    return {m["id"]: m for m in plan(cli, programme, year)["milestones"]}


def test_dates_that_rest_days_move(cli):
    g = by_id(cli, "gansu-quality-keypoints-2023", 2023)
    # 3·15 and China Brand Day are the days themselves (keep), whatever the weekday
    assert (g["consumer-day"]["due"], g["brand-day"]["due"]) == ("2023-03-15", "2023-05-10")
    # Quality Month ends Sat 30 Sep 2023, inside the National Day break: its last working day, Thu 28 Sep
    assert (g["quality-month"]["nominal_due"], g["quality-month"]["due"]) == ("2023-09-30", "2023-09-28")
    # …and its report is 10 working days later: 7, 8 (make-up weekend), 9–13, 16–18 Oct → Wed 18 Oct
    assert g["quality-month-report"]["due"] == "2023-10-18"
    # "within the year" duties stay in 2023: Sun 31 Dec → Fri 29 Dec
    assert (g["platform-onboarding"]["nominal_due"], g["platform-onboarding"]["due"]) == ("2023-12-31", "2023-12-29")
    # a plain end-of-September date in the break moves forward to the first working day, Sat 7 Oct (调休)
    assert g["local-implementation-plans"]["due"] == "2023-10-07"

    x = by_id(cli, "xuancheng-quality-1256-2022-2025", 2023)
    assert x["t10-metrology-2023"]["due"] == "2023-12-29"  # end of 2023 (Sunday) kept inside the year
    assert "t10-metrology-2023" not in by_id(cli, "xuancheng-quality-1256-2022-2025", 2024)
    assert "t14-trademark-density-2025" in by_id(cli, "xuancheng-quality-1256-2022-2025", 2025)
    assert x["t01-progress"]["due"] == "2023-12-20"  # a Wednesday

    j = by_id(cli, "jilin-standards-2020-2022", 2020)
    assert "consumer-day" not in j  # 15 March 2020 is before the plan (2 July 2020)
    assert j["quality-month"]["due"] == "2020-09-30"  # a working day in 2020 (the break began 1 Oct)

    c = by_id(cli, "city-product-quality-2023-2025", 2025)
    assert c["standards-report"]["due"] == "2025-12-19"  # Sat 20 Dec 2025 → Fri 19 Dec


def test_lead_and_cooperating_units_in_xuancheng(cli):
    x = by_id(cli, "xuancheng-quality-1256-2022-2025", 2023)
    assert set(x["t07-progress"]["assignees"]) == {"market-regulation", "transport", "ecology", "culture-tourism", "agriculture"}
    assert x["t09-progress"]["assignees"] == ["justice"]


@pytest.mark.parametrize(
    ("programme", "year"),
    [
        ("gansu-quality-keypoints-2023", 2023),
        ("xuancheng-quality-1256-2022-2025", 2023),
        ("jilin-standards-2020-2022", 2021),
        ("city-product-quality-2023-2025", 2024),
    ],
)
@pytest.mark.slow
def test_a_simulated_year_rolls_up(cli, tmp_path, programme, year):
    r = cli("simulate", programme, "--year", str(year), "--no-prefect", "--workdir", tmp_path, "--json", "--seed", "3")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    s = out["summary"]
    assert s["emails_sent"] == s["emails_received_by_smtp"] > 0 and s["delivery_failures"] == 0
    assert s["submissions"] > 0
    targets = out["rollup"]["targets"]
    assert targets and all(t["pace"] in ("ahead", "on_pace", "behind", None) for t in targets)
    assert all(t["expected"] is not None for t in targets if t["measure"] == "count" and t["at_least"] is not None)
