"""The plan is the promise: every step ``plan`` shows (the opening notice, each reminder)
is sent by ``advance`` at exactly that instant, to every assignee — including reminders
that fall in December for a January deadline, a deadline kept on a rest day, and a
milestone with no ``opens`` rule.

A calendar written for these edges (2024–2025, working days from chinese-calendar):
- ``jan-report`` due January 2nd with reminders 10, 5, 1 and 0 working days before: in
  2025 they fall on 2024-12-18, 12-25, 12-31 and 2025-01-02 — before the year begins;
- ``festival-return`` due January 30th, kept on the rest day: 2025-01-30 is inside the
  Spring Festival break, so "0 working days before" is the last working day before it
  (Monday 01-27, 除夕 01-28 being a holiday since 2025) and "1" lands on the same day;
- ``year-end`` due December 25th with no ``opens``: it opens 20 working days before.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from models.tables import OutboxMessage
from models.timeline import TZ, WorkdayCalendar, load_programme_file, plan_year
from tests.engine.conftest import World, ledger

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

PROMISE = "promise-demo"
CALENDAR = """version: 1
programme:
  id: promise-demo
  title: 承诺测试计划
  issuer: 测试厅
  years: {first: 2024, last: 2025}
  defaults: {reminder_policy: standard}
participants:
  - {id: province, name: 测试省市场监管厅, kind: province}
  - {id: city-a, name: 甲市市场监督管理局, kind: city}
  - {id: city-b, name: 乙市市场监督管理局, kind: city}
groups:
  - {id: cities, name: 各市, members: [city-a, city-b]}
forms:
  - id: note
    title: 情况说明
    fields: [{id: summary, label: 工作总结, type: text}]
reminder_policies:
  - id: standard
    send_at: "09:00"
    before_due: [10, 5, 1, 0]
workstreams:
  - id: ws
    title: 工作
    lead: [cities]
    milestones:
      - id: jan-report
        title: 报送年初情况
        kind: submission
        form: note
        due: {rule: fixed, month: 1, day: 2}
        source: {clause: 测试}
      - id: festival-return
        title: 春节前报送
        kind: submission
        form: note
        rest_day_rule: keep
        reminder_policy: close
        due: {rule: fixed, month: 1, day: 30}
        source: {clause: 测试}
      - id: year-end
        title: 年终总结
        kind: submission
        form: note
        due: {rule: fixed, month: 12, day: 25}
        source: {clause: 测试}
"""
# festival-return uses a policy whose 1 and 0 meet on the same working day
CALENDAR = CALENDAR.replace(
    """    before_due: [10, 5, 1, 0]
""",
    """    before_due: [10, 5, 1, 0]
  - id: close
    send_at: "09:00"
    before_due: [1, 0]
""",
)
CONTACTS = """version: 1
email: {{host: 127.0.0.1, port: {port}, sender: "测试厅 <noreply@example.gov.cn>", security: none}}
participants:
  city-a: {{email: [a@example.gov.cn]}}
  city-b: {{email: [b@example.gov.cn]}}
"""


@pytest.fixture
def promise(tmp_path, database_url, smtp_server):
    w = World(
        tmp_path, database_url, smtp_server, calendar=CALENDAR, programme=PROMISE, contacts=CONTACTS.format(port=smtp_server.port)
    )
    yield w
    w.close()


def test_the_plan_shows_what_a_bureau_expects():
    spec_path = _write(CALENDAR)
    spec = load_programme_file(spec_path)
    plan = {m.id: m for m in plan_year(spec, 2025, WorkdayCalendar()).milestones}
    jan = plan["jan-report"]
    # opens 20 working days before 2025-01-02 (New Year's Day is a holiday): in December 2024
    assert jan.opens == dt.date(2024, 12, 4)
    assert [r.date() for r in jan.reminders] == [
        dt.date(2024, 12, 18),
        dt.date(2024, 12, 25),
        dt.date(2024, 12, 31),
        dt.date(2025, 1, 2),
    ]
    festival = plan["festival-return"]
    assert festival.due == dt.date(2025, 1, 30)  # kept inside the break
    (step,) = [s for s in festival.steps if s.kind != "opened"]
    assert (step.kind, step.at.date(), step.covers) == ("last_workday", dt.date(2025, 1, 27), (0, 1))
    assert festival.merged == ("before_due 0 and 1 fall on the same working day 2025-01-27: one reminder is sent",)
    year_end = plan["year-end"]
    assert year_end.opens == dt.date(2025, 11, 27)  # 20 working days before Thursday 12-25
    assert year_end.notice == dt.datetime(2025, 11, 27, 9, 0, tzinfo=TZ)


def _write(text: str):
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp()) / "calendar"
    d.mkdir()
    path = d / f"{PROMISE}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_advance_at_each_planned_instant_sends_exactly_that_step(promise):
    spec = load_programme_file(promise.calendar_dir / f"{PROMISE}.yaml")
    cal = WorkdayCalendar()
    promised: Counter = Counter()
    instants: set[dt.datetime] = set()
    for year in (2024, 2025):
        for m in plan_year(spec, year, cal).milestones:
            for s in m.steps:
                for who in m.assignees:
                    promised[(f"{year}/{m.id}", s.kind, s.at.isoformat(), who)] += 1
                instants.add(s.at)
    assert len(instants) > 10
    for when in sorted(instants):
        if when.date() > dt.date(2025, 12, 31):
            break
        r = promise.advance(when.astimezone(TZ).replace(tzinfo=None).isoformat())
        assert r.reconcile.failures == {}
    with ledger(promise) as s:
        rows = s.execute(
            select(
                OutboxMessage.key,
                OutboxMessage.kind,
                OutboxMessage.due_at,
                OutboxMessage.recipient,
                OutboxMessage.state,
                OutboxMessage.sent_at,
            )
        ).all()
    sent: Counter = Counter()
    for key, kind, due_at, recipient, state, _sent_at in rows:
        assert state == "sent", (key, state)
        year, milestone = key.split("/")[1:3]
        sent[(f"{year}/{milestone}", kind, due_at.astimezone(TZ).isoformat(), recipient)] += 1
    assert sent == promised  # every promised step, once each, and nothing else
    # the December reminders of a January deadline were among them
    assert promised[("2025/jan-report", "upcoming", "2024-12-18T09:00:00+08:00", "city-a")] == 1
    # and no message says "today" on a day that is not the due day
    for m in promise.smtp.messages:
        if "春节前报送" in m["Subject"] and "2025年1月30日" in m.get_body().get_content():
            text = m["Subject"] + m.get_body().get_content()
            assert not any(w in text for w in ("今日截止", "今天截止", "今天（", "今日下班前")), text
    last = [m for m in promise.smtp.messages if "截止前最后一个工作日" in m["Subject"]]
    assert len(last) == 2 and all("2025年1月30日（星期四，春节假期）" in m.get_body().get_content() for m in last)
    assert len(promise.smtp.messages) == sum(promised.values())


def test_the_next_year_is_compiled_from_december_first(promise):
    r = promise.advance("2024-11-30T09:00")
    assert r.reconcile.compiled == [f"{PROMISE}/2024"]
    r = promise.advance("2024-12-01T00:00")
    assert r.reconcile.compiled == [f"{PROMISE}/2025"]


def test_a_step_earlier_than_the_lead_compiles_the_year_when_it_falls_due(promise):
    text = CALENDAR.replace(
        "  years: {first: 2024, last: 2025}\n  defaults: {reminder_policy: standard}",
        "  years: {first: 2024, last: 2025}\n  defaults: {reminder_policy: standard, compile_lead_days: 0}",
    )
    (promise.calendar_dir / f"{PROMISE}.yaml").write_text(text, encoding="utf-8")
    assert promise.advance("2024-12-03T09:00").reconcile.compiled == [f"{PROMISE}/2024"]
    r = promise.advance("2024-12-04T09:00")  # jan-report 2025 opens today: its year is compiled now
    assert r.reconcile.compiled == [f"{PROMISE}/2025"] and r.reconcile.opened == 2


def test_next_year_without_working_days_waits_loudly_then_stops_only_its_programme(promise, tmp_path):
    text = CALENDAR.replace("years: {first: 2024, last: 2025}", "years: {first: 2026, last: 2027}")
    (promise.calendar_dir / f"{PROMISE}.yaml").write_text(text, encoding="utf-8")
    r = promise.advance("2026-12-01T09:00")
    assert r.reconcile.failures == {}  # 2026 goes on
    assert "no working-day data for 2027" in r.reconcile.waiting[f"{PROMISE}/2027"]
    r = promise.advance("2027-01-04T09:00")  # now the year itself has no data: this programme stops
    assert "no working-day data for 2027" in r.reconcile.failures[PROMISE]
