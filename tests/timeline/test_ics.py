"""`yearwheel ics`: the year plan as a subscribable RFC 5545 calendar, read back with icalendar."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar

from models.timeline.loader import load_programme_file
from models.timeline.plan import plan_year
from models.timeline.workdays import WorkdayCalendar
from tests.conftest import JILIN, JILIN_ID, plan_json

UTC = dt.timezone.utc


def parse(data: bytes | str) -> Calendar:
    return Calendar.from_ical(data)


def events(cal: Calendar) -> dict[str, object]:
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


def export(cli, year: int, *extra: str) -> Calendar:
    result = cli("ics", JILIN_ID, "--year", str(year), *extra)
    assert result.exit_code == 0, result.stderr
    return parse(result.stdout_bytes)


@pytest.mark.parametrize("year", [2022, 2023, 2024])
def test_one_event_per_milestone_on_its_effective_due_with_an_alarm_per_reminder(cli, year):
    plan = plan_json(cli, year)
    cal = export(cli, year)
    evs = events(cal)
    assert len(evs) == len(plan["milestones"])
    for m in plan["milestones"]:
        ev = evs[f"{JILIN_ID}-{year}-{m['id']}@yearwheel"]
        start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
        assert not isinstance(start, dt.datetime)  # all-day event
        assert start.isoformat() == m["due"]
        assert end - start == dt.timedelta(days=1)
        triggers = sorted(a.decoded("TRIGGER") for a in ev.walk("VALARM"))
        expected = sorted(dt.datetime.fromisoformat(r).astimezone(UTC) for r in m["reminders"])
        assert triggers == expected
        assert str(ev["SUMMARY"]).startswith("截止：")


def test_calendar_headers(cli):
    cal = export(cli, 2023)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == "-//Yearwheel//yearwheel//ZH"
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert "2023" in str(cal["X-WR-CALNAME"])


def test_a_deadline_on_a_rest_day_says_where_it_moved(cli):
    # December 25, 2022 is a Sunday: the summary forms are due Monday the 26th.
    ev = events(export(cli, 2022))[f"{JILIN_ID}-2022-clinic-feedback-forms@yearwheel"]
    assert ev.decoded("DTSTART") == dt.date(2022, 12, 26)
    description = str(ev["DESCRIPTION"])
    assert "2022-12-25（周日）" in description and "顺延至下一工作日" in description
    assert "截止：2022-12-26（周一）" in description


def test_uids_are_stable_across_exports_so_subscribers_update_in_place(cli):
    first = events(export(cli, 2023))
    second = events(export(cli, 2023))
    assert first.keys() == second.keys()
    assert len(first) == len(set(first))


def test_participant_calendar_holds_only_that_participants_milestones(cli):
    plan = plan_year(load_programme_file(JILIN), 2023, WorkdayCalendar())
    cal = export(cli, 2023, "--participant", "changchun")
    evs = events(cal)
    assert "长春市市场监督管理局" in str(cal["X-WR-CALNAME"])
    involved = {m.id for m in plan.milestones if "changchun" in m.assignees + m.cooperating}
    assert "clinic-recommendations" in involved
    assert "internal-training" not in involved  # the province's own work
    got = {uid.removeprefix(f"{JILIN_ID}-2023-").removesuffix("-changchun@yearwheel") for uid in evs}
    assert got == involved
    assert all(uid.endswith("-changchun@yearwheel") for uid in evs)


def test_unknown_participant_is_refused_with_the_known_ids(cli):
    result = cli("ics", JILIN_ID, "--year", "2023", "--participant", "harbin")
    assert result.exit_code == 1
    assert "unknown participant 'harbin'" in result.stderr and "changchun" in result.stderr
    assert result.stdout == ""


def test_output_file_is_written_whole(cli, tmp_path):
    out = tmp_path / "jilin-2023.ics"
    result = cli("ics", JILIN_ID, "--year", "2023", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert len(events(parse(out.read_bytes()))) == len(plan_json(cli, 2023)["milestones"])
    assert [p.name for p in tmp_path.iterdir()] == ["jilin-2023.ics"]


def test_missing_working_day_year_exits_2_before_writing(cli, tmp_path):
    out = tmp_path / "x.ics"
    result = cli("ics", JILIN_ID, "--year", "2027", "-o", out)
    assert result.exit_code == 2
    assert "cn-2027.yaml" in result.stderr
    assert not out.exists()
