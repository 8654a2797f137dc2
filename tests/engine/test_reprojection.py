"""A year's working days change under a running year (a corrected or new year file, a
mid-year change such as the 2020 Spring Festival extension): the next ``advance`` moves
the deadlines, keeps each task's history, sends each affected bureau exactly one
截止日期调整 on each of its channels, moves the reminders, and the ICS keeps its UIDs and
raises SEQUENCE. Real SMTP server; SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.tables import MilestoneInstance, StatusChange, Task
from models.timeline.notice import read_notice, year_file_text
from tests.engine.conftest import PROGRAMME, ledger, submit, tasks_of
from tests.timeline.test_notice import text

pytestmark = pytest.mark.slow  # a real SMTP server and several runs

EXTRA = '  - {name: "测试调整", first: 2023-12-25, last: 2023-12-25}\n'


def year_file(world, extra: str = "") -> None:
    """calendar/workdays/cn-2023.yaml from the real 2023 notice, perhaps with one more break."""
    body = year_file_text(read_notice(text(2023)))
    if extra:
        body = body.replace("adjusted_workdays:", extra + "adjusted_workdays:", 1)
    folder = world.calendar_dir / "workdays"
    folder.mkdir(exist_ok=True)
    (folder / "cn-2023.yaml").write_text(body, encoding="utf-8")


def due_changed(world) -> list:
    return [m for m in world.smtp.messages if "截止日期调整" in m["Subject"]]


def ics(cli, world, monkeypatch) -> str:
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    r = cli("ics", PROGRAMME, "--year", "2023", "--calendar-dir", world.calendar_dir)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def event(calendar: str) -> dict[str, str]:
    (block,) = re.findall(r"BEGIN:VEVENT\r?\n(.*?)END:VEVENT", calendar, re.S)
    return dict(line.split(":", 1) for line in block.splitlines() if ":" in line and not line.startswith(" "))


def test_a_changed_year_file_moves_deadlines_tells_each_bureau_once_and_updates_the_ics(world, cli, monkeypatch):
    year_file(world)
    world.advance("2023-12-01T09:00")  # the year runs: three bureaus told of the 12-25 deadline
    submit(world, "2023-12-01T10:00", "punctual-city", {"enterprises_served": 12, "summary": "按期完成"})
    first = event(ics(cli, world, monkeypatch))
    assert first["DTSTART;VALUE=DATE"] == "20231225" and "SEQUENCE" not in first

    # December 25th becomes a day off: the deadline (a fixed date, moved to the next working day) is 12-26
    year_file(world, EXTRA)
    pending = event(ics(cli, world, monkeypatch))  # before any run: the plan already moved, and says so
    assert (pending["UID"], pending["DTSTART;VALUE=DATE"], pending["SEQUENCE"]) == (first["UID"], "20231226", "1")

    sent_before = len(world.smtp.messages)
    r = world.advance("2023-12-04T09:00")
    assert len(r.reconcile.moved) == 2  # the two bureaus still owing it; the one that submitted keeps its record
    notes = due_changed(world)
    assert len(notes) == 2 == len(world.smtp.messages) - sent_before
    assert sorted(m["To"] for m in notes) == ["office@exempt.example.gov.cn", "office@late.example.gov.cn"]
    for m in notes:
        body = m.get_body().get_content()
        assert "由2023年12月25日" in body and "调整为2023年12月26日" in body
        assert "调整原因：2023年工作日安排调整（国务院办公厅关于2023年部分节假日安排的通知" in body
    with ledger(world) as s:
        tasks = {t.participant: t for t in s.scalars(tasks_of())}
        assert {p: str(t.due) for p, t in tasks.items()} == {
            "punctual-city": "2023-12-25",
            "late-city": "2023-12-26",
            "exempt-city": "2023-12-26",
        }
        reasons = list(s.scalars(select(StatusChange.reason).where(StatusChange.task_id == tasks["late-city"].id)))
        assert any(r and "2023-12-25 → 2023-12-26" in r and "2023年工作日安排调整" in r for r in reasons)
        # 2024 is compiled too (from December 1st); its milestone did not move
        seq = dict(s.execute(select(MilestoneInstance.nominal_due, MilestoneInstance.sequence)).all())
        assert {str(d): n for d, n in seq.items()} == {"2023-12-25": 1, "2024-12-25": 0}

    # the same instant again, and a later run: nothing more is said about it
    world.advance("2023-12-04T09:00")
    world.advance("2023-12-05T09:00")
    assert len(due_changed(world)) == 2
    after = event(ics(cli, world, monkeypatch))
    assert (after["UID"], after["DTSTART;VALUE=DATE"], after["SEQUENCE"]) == (first["UID"], "20231226", "1")

    # the reminders follow the new date: 5 working days before 12-26 (12-25 now off) is
    # 12-18, and the reminder names 12-26; one working day before is 12-22, not 12-25
    count = len(world.smtp.messages)
    world.advance("2023-12-18T09:00")
    upcoming = world.smtp.messages[count:]
    assert sorted(m["To"] for m in upcoming) == ["office@exempt.example.gov.cn", "office@late.example.gov.cn"]
    # the letter states the new date, and why the calendar's 12-25 is not it
    assert all(
        "截止日期：2023年12月26日（星期二）（文件规定为2023年12月25日（星期一，测试调整假期）" in m.get_body().get_content()
        for m in upcoming
    )
    count = len(world.smtp.messages)
    world.advance("2023-12-22T09:00")
    assert len(world.smtp.messages) == count + 2

    # the correction is withdrawn: back to 12-25, one more note each, SEQUENCE 2
    year_file(world)
    world.advance("2023-12-22T10:00")
    back = due_changed(world)[2:]
    assert len(back) == 2 and all("调整为2023年12月25日" in m.get_body().get_content() for m in back)
    final = event(ics(cli, world, monkeypatch))
    assert (final["UID"], final["DTSTART;VALUE=DATE"], final["SEQUENCE"]) == (first["UID"], "20231225", "2")


def test_a_bureau_not_yet_told_the_date_gets_no_change_note(world):
    """Tasks not open yet move silently: their opening notice will carry the new date."""
    year_file(world)
    world.advance("2023-11-20T09:00")  # compiled, nothing open (opens December 1st)
    year_file(world, EXTRA)
    r = world.advance("2023-11-21T09:00")
    assert len(r.reconcile.moved) == 3 and due_changed(world) == []
    world.advance("2023-12-01T09:00")
    opened = [m.get_body().get_content() for m in world.smtp.messages]
    assert len(opened) == 3 and all("2023年12月26日" in b for b in opened)
    with ledger(world) as s:
        assert {str(t.due) for t in s.scalars(select(Task))} >= {"2023-12-26"}
