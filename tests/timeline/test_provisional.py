"""Provisional working-day years (models.timeline.provisional): drafted from the rules in
force since 2025, marked, planned on only by a programme that opts in, every dependent
date marked 暂定."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lunardate import LunarDate

from models.timeline import WorkdayCalendar, load_programme_file, load_workdays_file, plan_year
from models.timeline.provisional import draft_breaks, provisional_year_text
from models.timeline.workdays import MissingWorkdayData, ProvisionalNotAllowed
from tests.engine.conftest import HERE

ONE = dt.timedelta(days=1)


def write_draft(folder: Path, year: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cn-{year}.yaml"
    path.write_text(provisional_year_text(year), encoding="utf-8")
    return path


def test_the_draft_of_2025_is_what_was_announced(tmp_path):
    """The first year under the new rules: the draft gives exactly the announced days."""
    write_draft(tmp_path, 2025)
    cal = WorkdayCalendar.from_directory(tmp_path)
    cal.allow_provisional = True
    assert cal.exceptions(2025) == WorkdayCalendar().exceptions(2025)


def test_the_draft_of_2026_differs_where_the_notice_made_a_special_case(tmp_path):
    """2026's Spring Festival was nine days (from 2月15日, with 2月14日 and 28日 worked) and
    Labour Day's make-up day came after it: the guesses the file lists, and nothing else."""
    write_draft(tmp_path, 2026)
    cal = WorkdayCalendar.from_directory(tmp_path)
    cal.allow_provisional = True
    wrong = cal.exceptions(2026) ^ WorkdayCalendar().exceptions(2026)
    assert wrong == {dt.date(2026, 2, 14), dt.date(2026, 2, 15), dt.date(2026, 4, 26), dt.date(2026, 5, 9)}


@pytest.mark.parametrize("year", range(2027, 2041))
def test_every_statutory_day_is_off_and_every_make_up_day_is_a_weekend_day(year, tmp_path):
    eve = LunarDate(year, 1, 1).to_solar_date() - ONE
    statutory = {
        dt.date(year, 1, 1),
        *(eve + n * ONE for n in range(4)),  # 除夕 to 正月初三
        dt.date(year, 5, 1),
        dt.date(year, 5, 2),
        LunarDate(year, 5, 5).to_solar_date(),
        LunarDate(year, 8, 15).to_solar_date(),
        *(dt.date(year, 10, d) for d in (1, 2, 3)),
    }
    spec = load_workdays_file(write_draft(tmp_path, year))
    assert spec.provisional and spec.guesses and "暂定" in spec.source
    rest = {h.first + n * ONE for h in spec.holidays for n in range((h.last - h.first).days + 1)}
    assert statutory <= rest
    breaks = draft_breaks(year)
    for b in breaks:
        assert all(d.weekday() >= 5 for d in b.workdays) and len(b.workdays) <= 2
        assert not set(b.workdays) & {d for x in breaks for d in x.days()}
    lengths = {b.name: (b.last - b.first).days + 1 for b in breaks}
    assert lengths["春节"] == 8 and lengths["劳动节"] == 5
    assert lengths.get("国庆节", 0) == 7 or lengths.get("国庆节、中秋节") == 8
    for name in ("元旦", "清明节", "端午节", "中秋节"):
        if name in lengths:
            day = next(b for b in breaks if b.name == name)
            assert lengths[name] == (1 if day.first == day.last and day.first.weekday() == 2 else 3)


def demo_spec(tmp_path: Path, *, opted: bool):
    text = (HERE / "engine-demo.yaml").read_text(encoding="utf-8")
    text = text.replace("years: {first: 2023, last: 2024}", "years: {first: 2026, last: 2027}")
    if opted:
        text = text.replace(
            "  years: {first: 2026, last: 2027}\n", "  years: {first: 2026, last: 2027}\n  provisional_workdays: true\n"
        )
    path = tmp_path / "demo.yaml"
    path.write_text(text.replace("id: engine-demo", "id: demo", 1), encoding="utf-8")
    return load_programme_file(path)


def test_a_programme_that_has_not_opted_in_treats_a_provisional_year_as_missing(tmp_path):
    write_draft(tmp_path / "workdays", 2027)
    cal = WorkdayCalendar.from_directory(tmp_path / "workdays")
    with pytest.raises(ProvisionalNotAllowed, match="provisional_workdays: true") as exc:
        plan_year(demo_spec(tmp_path, opted=False), 2027, cal)
    assert isinstance(exc.value, MissingWorkdayData)  # stops that programme like a missing year
    assert not cal.covers(2027) and cal.status(2027)[0] == "provisional"


def test_an_opted_in_programme_plans_on_it_and_every_dependent_date_says_so(tmp_path):
    from models.timeline.ics import plan_to_ics

    write_draft(tmp_path / "workdays", 2027)
    cal = WorkdayCalendar.from_directory(tmp_path / "workdays")
    spec = demo_spec(tmp_path, opted=True)
    plan27 = plan_year(spec, 2027, cal)
    assert all(m.provisional for m in plan27.milestones) and plan27.as_json()["milestones"][0]["provisional"]
    plan26 = plan_year(spec, 2026, cal)  # 2026-12-25 and its reminders never read 2027
    assert not any(m.provisional for m in plan26.milestones)
    ics = plan_to_ics(spec, plan27, stamp=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), cal=cal.for_spec(spec)).decode()
    assert "SUMMARY:截止（暂定）：" in ics and "暂定：日期按推算的工作日安排计算" in ics.replace("\r\n ", "")
    assert (
        "SUMMARY:截止（暂定）" not in plan_to_ics(spec, plan26, stamp=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)).decode()
    )


def test_the_cli_drafts_only_years_without_official_data(cli, tmp_path):
    folder = tmp_path / "workdays"
    r = cli("workdays", "provisional", "2027", "--dir", folder)
    assert r.exit_code == 0 and "（暂定，7 项推算）" in r.stdout and "provisional_workdays: true" in r.stdout
    assert load_workdays_file(folder / "cn-2027.yaml").provisional
    r = cli("workdays", "provisional", "2026", "--dir", folder)
    assert r.exit_code == 1 and "2026年已有正式安排" in r.stderr
    # the notice replaces the draft without --replace, and says so
    from tests.timeline.test_workdays_import import NOTICE_2027

    notice = tmp_path / "notice.txt"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    r = cli("workdays", "import", notice, "--dir", folder)
    assert r.exit_code == 0 and "现为暂定安排" in r.stdout
    assert not load_workdays_file(folder / "cn-2027.yaml").provisional
    r = cli("workdays", "provisional", "2027", "--dir", folder)
    assert r.exit_code == 1 and "已有正式安排" in r.stderr  # never over an official year
