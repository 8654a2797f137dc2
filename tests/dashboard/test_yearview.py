"""The coordinator's view: traffic lights counted in working days, drawn from a real ledger."""

from __future__ import annotations

import datetime as dt

import pytest

from models.timeline import WorkdayCalendar, catalog
from models.yearview import DUE_SOON, EXEMPTED, LATE, NOT_OPEN, ON_TIME, ON_TRACK, OVERDUE, light_of
from tests.engine.conftest import PROGRAMME, at, coordinator, submit

CAL = WorkdayCalendar.from_directory(catalog.workdays_dir(catalog.calendar_dir(None)))
D = dt.date


@pytest.mark.parametrize(
    ("state", "on_time", "due", "today", "expected"),
    [
        # National Day 2023: Sep 29 – Oct 6 off, Sat Oct 7 and Sun Oct 8 are make-up working days.
        # Eleven calendar days but three working days (7th, 8th, 9th): due soon.
        ("open", None, D(2023, 10, 9), D(2023, 9, 28), (DUE_SOON, 3, None)),
        # Four working days (Mon 11th .. Thu 14th): on track.
        ("open", None, D(2023, 12, 14), D(2023, 12, 8), (ON_TRACK, 4, None)),
        ("open", None, D(2023, 12, 13), D(2023, 12, 8), (DUE_SOON, 3, None)),
        ("open", None, D(2023, 12, 8), D(2023, 12, 8), (DUE_SOON, 0, None)),
        ("returned", None, D(2023, 12, 25), D(2023, 12, 1), (ON_TRACK, 16, None)),
        # Past due but not yet marked by advance: already red. Due Thu 28 Sep 2023 seen on
        # Mon 9 Oct: the 29th is a holiday, the 7th, 8th and 9th are working days → 3 late.
        ("open", None, D(2023, 9, 28), D(2023, 10, 9), (OVERDUE, None, 3)),
        ("overdue", None, D(2023, 12, 25), D(2023, 12, 27), (OVERDUE, None, 2)),
        ("submitted", True, D(2023, 12, 25), D(2023, 12, 27), (ON_TIME, None, None)),
        ("submitted", False, D(2023, 12, 25), D(2023, 12, 27), (LATE, None, None)),
        ("exempted", None, D(2023, 12, 25), D(2023, 12, 27), (EXEMPTED, None, None)),
        ("waiting", None, D(2023, 12, 25), D(2023, 11, 1), (NOT_OPEN, None, None)),
    ],
)
def test_light_of(state, on_time, due, today, expected):
    assert light_of(state, on_time, due, today, CAL) == expected


def test_year_view_from_the_ledger(world):
    """punctual-city submits on time, exempt-city is exempted, late-city never submits."""
    from yearwheel import usecases as R

    world.advance("2023-12-01T09:00")
    submit(world, "2023-12-20T10:00", "punctual-city", {"enterprises_served": 12, "summary": "按期完成"})
    coordinator(world, "exempt", "2023-12-21T10:00", "exempt-city", reason="机构改革")
    rt = world.runtime()
    soon = R.year_view(rt, PROGRAMME, 2023, at("2023-12-21T11:00"))
    assert {c.participant: c.light for c in soon.cells.values()} == {
        "punctual-city": ON_TIME,
        "late-city": DUE_SOON,
        "exempt-city": EXEMPTED,
    }
    assert soon.cells[("late-city", "results-submitted")].workdays_left == 2  # Fri 22nd, Mon 25th

    world.advance("2023-12-28T09:00")
    view = R.year_view(rt, PROGRAMME, 2023, at("2023-12-28T09:00"))
    m = view.milestone("results-submitted")
    assert (m.assigned, m.submitted, m.exempted, m.progress) == (3, 1, 1, 50.0)
    assert m.lights == {ON_TIME: 1, OVERDUE: 1, EXEMPTED: 1}
    (late,) = view.late_items()
    assert (late.participant, late.light, late.workdays_late) == ("late-city", OVERDUE, 3)
    assert view.participants[0] == ("punctual-city", "准时市市场监督管理局")
    assert view.rollup.on_time_rate == 0.5
    assert R.year_view(rt, PROGRAMME, 2022, at("2023-12-28T09:00")) is None


def test_the_run_summary_names_the_next_deadline_and_the_first_retry(world):
    """The advance summary a coordinator reads in Prefect says, in Chinese, the nearest
    deadline still owed, how far off it is, how many units still owe it, and when the first
    failed message is tried again; once nothing is owed, it says so."""
    from flows.artifacts import advance_summary
    from yearwheel import usecases as R

    world.smtp.defer.add("office@late.example.gov.cn")
    out = world.advance("2023-12-01T09:00")
    rt = world.runtime()
    view = R.year_view(rt, PROGRAMME, 2023, at("2023-12-01T09:00"))
    text = advance_summary(out.as_json(), [(view, "report.html")], at("2023-12-01T09:00"))
    assert "暂时失败待重试 **1**（最早一条5分钟后重试，2023-12-01 09:05）" in text
    assert "⏭ 下一个截止：提交年度提升成效表 2023年12月25日（星期一），3周后，尚有 3 个单位未报送" in text

    world.smtp.defer.clear()
    submit(world, "2023-12-22T10:00", "punctual-city", {"enterprises_served": 12, "summary": "按期完成"})
    coordinator(world, "exempt", "2023-12-22T10:00", "exempt-city", reason="机构改革")
    out = world.advance("2023-12-24T09:00")
    view = R.year_view(rt, PROGRAMME, 2023, at("2023-12-24T09:00"))
    text = advance_summary(out.as_json(), [(view, "report.html")], at("2023-12-24T09:00"))
    assert "尚有 1 个单位未报送" in text and "明天" in text and "最早一条" not in text
    coordinator(world, "exempt", "2023-12-24T10:00", "late-city", reason="并入他市")
    view = R.year_view(rt, PROGRAMME, 2023, at("2023-12-24T10:00"))
    assert "⏭ 本年度已无待报送的截止事项" in advance_summary(out.as_json(), [(view, "r.html")], at("2023-12-24T10:00"))


def test_the_run_summary_links_to_the_console_when_it_is_known(world):
    from flows.artifacts import advance_summary
    from yearwheel import usecases as R

    out = world.advance("2023-12-01T09:00").as_json()
    view = R.year_view(world.runtime(), PROGRAMME, 2023, at("2023-12-01T09:00"))
    text = advance_summary(out, [(view, "report.html")], at("2023-12-01T09:00"), "https://yw.example.gov.cn")
    assert "[工作台看板](https://yw.example.gov.cn/console/p/engine-demo/2023)" in text
    assert "工作台" not in advance_summary(out, [(view, "report.html")], at("2023-12-01T09:00"))
