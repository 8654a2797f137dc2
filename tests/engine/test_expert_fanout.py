"""Experts as participants: the double-random draw (双随机) recorded in the ledger assigns
each enterprise of the province's plan to two experts, and each drawn expert owes a visit
report per enterprise, reminded at their own address (contacts by expert id). A redraw
retires and opens tasks to match, with the audit trail and no reminder for the retired;
an enterprise the draw does not cover, or a year with no draw yet, is reported. Real SQLite
and PostgreSQL ledgers, real loopback SMTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import states as S
from models.experts import DrawError
from models.tables import ExpertDraw, OutboxMessage, StatusChange, Task
from models.timeline.loader import CalendarInvalid, load_programme_file
from tests.engine.conftest import PROGRAMME, World, at, contacts_yaml, ledger, submit
from yearwheel import usecases as R

CALENDAR = """\
version: 1
programme:
  id: engine-demo
  title: 问诊测试计划
  issuer: 测试厅
  years: {first: 2023, last: 2024}
  defaults: {reminder_policy: standard}
roles:
  - {id: coordinator, title: 省厅质量发展处联络人, holder: province}
participants:
  - {id: province, name: 测试省市场监管厅, kind: province}
  - {id: cc, name: 长春市市场监督管理局, kind: city}
  - {id: jl, name: 吉林市市场监督管理局, kind: city}
forms:
  - id: plan
    title: 问诊服务方案
    fields:
      - id: enterprises
        label: 企业
        type: table
        columns:
          - {id: name, label: 企业名称, type: string, max_length: 200}
          - {id: credit_code, label: 统一社会信用代码, type: string, max_length: 18}
          - {id: city, label: 所在地区, type: string, max_length: 50}
          - {id: industry, label: 所属产业, type: string, max_length: 100}
  - id: visit-report
    title: 企业上门诊断报告
    fields:
      - {id: findings, label: 发现的主要问题, type: text, max_length: 2000}
reminder_policies:
  - id: standard
    before_due: [3]
workstreams:
  - id: clinic
    title: 问诊
    lead: [province]
    milestones:
      - id: plan-issued
        title: 印发问诊服务方案
        kind: announcement
        opens: {rule: start_of_month, month: 4}
        due: {rule: end_of_month, month: 4}
        form: plan
        source: {clause: 测试}
      - id: visits
        title: 专家上门诊断
        kind: window
        due: {rule: window, from_month: 6, to_month: 7}
        source: {clause: 测试}
      - id: visit-reports
        title: 报送企业上门诊断报告
        kind: submission
        opens: {rule: start_of_month, month: 6}
        due: {rule: end_of_month, month: 7}
        form: visit-report
        for_each:
          milestone: plan-issued
          field: enterprises
          key: credit_code
          name: name
          keep: [city, industry]
          standing: submitted
          assignee: {draw: visits}
        source: {clause: 测试}
"""

LIBRARY = """\
version: 1
programme: engine-demo
draws:
  visits: {enterprises_from: plan-issued, field: enterprises, experts_per_enterprise: 2}
experts:
  - {id: x1, name: 专家甲, city: cc, fields: [汽车零部件]}
  - {id: x2, name: 专家乙, city: jl, fields: [石油化工]}
  - {id: x3, name: 专家丙, fields: [汽车零部件, 石油化工]}
  - {id: x4, name: 专家丁, fields: [医药健康]}
"""

CONTACTS = "".join(f"  x{i}:\n    email: [x{i}@experts.example.cn]\n" for i in range(1, 5))

PLAN = [
    {"name": "长春甲公司", "credit_code": "91220101MA0000001A", "city": "长春市", "industry": "汽车零部件"},
    {"name": "吉林乙公司", "credit_code": "91220201MA0000002B", "city": "吉林市", "industry": "石油化工"},
    {"name": "长春丙公司", "credit_code": "91220101MA0000003C", "city": "cc", "industry": "医药健康"},
]


@pytest.fixture
def xw(tmp_path, database_url, smtp_server):
    w = World(tmp_path, database_url, smtp_server, calendar=CALENDAR, contacts=contacts_yaml(smtp_server.port, extra=CONTACTS))
    (w.calendar_dir / "experts").mkdir()
    (w.calendar_dir / "experts" / f"{PROGRAMME}.yaml").write_text(LIBRARY, encoding="utf-8")
    yield w
    w.close()


def draw(w: World, seed: str, when: str):
    rt = w.runtime()
    try:
        lib = R.expert_library(rt, PROGRAMME)
        rec, _ = R.draw_experts(rt, PROGRAMME, 2023, "visits", seed, lib, w.root / f"draw-{seed}.json", at=at(when))
        return {a.credit_code: {x["id"] for x in a.experts} for a in rec.assignments}
    finally:
        rt.close()


def report_tasks(w: World) -> dict[tuple[str, str], Task]:
    with ledger(w) as s:
        return {(t.participant, t.item_key): t for t in s.scalars(select(Task).where(Task.item_key != ""))}


def test_each_drawn_expert_owes_a_report_per_enterprise_and_is_reminded_at_their_address(xw):
    xw.advance("2023-04-03T09:00")
    submit(xw, "2023-04-20T10:00", "province", {"enterprises": PLAN}, milestone="plan-issued")
    r = xw.advance("2023-04-20T11:00")
    assert r.reconcile.fan_out.added == 0  # no draw yet: said, not guessed
    (problems,) = r.reconcile.fan_out.problems.values()
    assert problems == ["“专家上门诊断”尚未抽取专家（yearwheel experts draw）：3行的任务待抽取后生成"]

    drawn = draw(xw, "2023-05-08 体彩 12345", "2023-05-08T10:00")
    assert all(len(v) == 2 for v in drawn.values())
    assert "x1" not in drawn["91220101MA0000001A"] and "x2" not in drawn["91220201MA0000002B"]  # never their own city
    assert "x1" not in drawn["91220101MA0000003C"]  # 所在地区 “cc” is the participant itself
    with ledger(xw) as s:
        (row,) = s.scalars(select(ExpertDraw))
        assert row.seed == "2023-05-08 体彩 12345" and len(row.record["assignments"]) == 3

    r = xw.advance("2023-05-08T11:00")
    assert r.reconcile.fan_out.added == 6 and r.reconcile.fan_out.problems == {}
    tasks = report_tasks(xw)
    assert set(tasks) == {(x, code) for code, who in drawn.items() for x in who}
    assert {t.due.isoformat() for t in tasks.values()} == {"2023-07-31"}  # the window's end
    assert {t.item["city"] for t in tasks.values()} == {"长春市", "吉林市", "cc"}

    # June 1: each expert's opening notice, one per enterprise, addressed by name
    xw.advance("2023-06-01T09:00")
    for x in ("x1", "x2", "x3", "x4"):
        mine = [m for m in xw.smtp.messages if m["To"] == f"{x}@experts.example.cn"]
        owed = [code for code, who in drawn.items() if x in who]
        assert len(mine) == len(owed)
        names = {p["name"] for p in PLAN if p["credit_code"] in owed}
        assert {next(n for n in names if n in m.get_content()) for m in mine} == names
        assert all(m.get_content().startswith(f"专家{'甲乙丙丁'[int(x[1]) - 1]}：") for m in mine)

    # an expert submits their report like any participant
    x, code = sorted(tasks)[0]
    rt = xw.runtime()
    try:
        R.submit_form(
            rt,
            PROGRAMME,
            2023,
            "visit-reports",
            x,
            {"findings": "计量器具未检定"},
            at=at("2023-06-20T15:00"),
            actor=x,
            source="test",
            item=code,
        )
    finally:
        rt.close()
    assert report_tasks(xw)[(x, code)].state == S.SUBMITTED


def test_a_redraw_retires_and_opens_tasks_with_the_audit_trail_and_no_reminder_for_the_retired(xw):
    xw.advance("2023-04-03T09:00")
    submit(xw, "2023-04-20T10:00", "province", {"enterprises": PLAN}, milestone="plan-issued")
    first = draw(xw, "seed-1", "2023-05-08T10:00")
    xw.advance("2023-06-01T09:00")
    seeds = (f"seed-{n}" for n in range(2, 50))
    rt = xw.runtime()
    try:
        from models import experts as X

        lib, sha = X.read_library(R.expert_library(rt, PROGRAMME))
        with rt.sessions() as s:
            ents = X.ledger_enterprises(
                s, PROGRAMME, 2023, "plan-issued", "enterprises", rt.programme(PROGRAMME).spec.participants
            )
    finally:
        rt.close()
    other = next(
        sd
        for sd in seeds
        if {
            a.credit_code: {x["id"] for x in a.experts} for a in X.draw(lib, sha, PROGRAMME, 2023, "visits", sd, ents).assignments
        }
        != first
    )
    second = draw(xw, other, "2023-06-05T10:00")
    r = xw.advance("2023-06-05T11:00")
    gone = {(x, c) for c, who in first.items() for x in who} - {(x, c) for c, who in second.items() for x in who}
    came = {(x, c) for c, who in second.items() for x in who} - {(x, c) for c, who in first.items() for x in who}
    assert gone and (r.reconcile.fan_out.retired, r.reconcile.fan_out.added) == (len(gone), len(came))
    tasks = report_tasks(xw)
    assert {k for k, t in tasks.items() if t.state == S.RETIRED} == gone
    with ledger(xw) as s:
        for k in gone:
            reasons = s.scalars(select(StatusChange.reason).where(StatusChange.task_id == tasks[k].id)).all()
            assert reasons[-1] == "fan-out: item %s is no longer in “印发问诊服务方案” as it stands" % k[1]
    # three working days before July 31: reminders for the standing tasks only
    before = len(xw.smtp.messages)
    xw.advance("2023-07-26T09:00")
    reminded = sorted(str(m["To"]) for m in xw.smtp.messages[before:] if "@experts." in str(m["To"]))
    standing = sorted(f"{x}@experts.example.cn" for c, who in second.items() for x in who)
    assert reminded == standing
    with ledger(xw) as s:
        for k in gone:
            assert not s.scalars(
                select(OutboxMessage.key).where(OutboxMessage.task_id == tasks[k].id, OutboxMessage.state == "pending")
            ).all()


def test_an_enterprise_added_to_the_plan_after_the_draw_is_reported_until_it_is_drawn(xw):
    xw.advance("2023-04-03T09:00")
    submit(xw, "2023-04-20T10:00", "province", {"enterprises": PLAN[:2]}, milestone="plan-issued")
    draw(xw, "seed-a", "2023-05-08T10:00")
    submit(xw, "2023-05-09T10:00", "province", {"enterprises": PLAN}, milestone="plan-issued")  # a second version
    r = xw.advance("2023-05-09T11:00")
    assert r.reconcile.fan_out.added == 4
    (problems,) = r.reconcile.fan_out.problems.values()
    assert problems == ["测试省市场监管厅第2版第3行（长春丙公司）：不在专家抽取结果中，未生成任务；请重新抽取"]
    draw(xw, "seed-a", "2023-05-10T10:00")  # redrawn over the new plan
    r = xw.advance("2023-05-10T11:00")
    assert r.reconcile.fan_out.problems == {}
    assert {c for _, c in report_tasks(xw)} == {p["credit_code"] for p in PLAN}


def test_no_draw_before_the_year_is_in_the_ledger(xw):
    rt = xw.runtime()
    try:
        with pytest.raises(DrawError, match="not in the ledger yet"):
            R.draw_experts(rt, PROGRAMME, 2023, "visits", "s", R.expert_library(rt, PROGRAMME), xw.root / "d.json")
    finally:
        rt.close()


@pytest.mark.parametrize(
    ("calendar", "library", "expected"),
    [
        (CALENDAR.replace("{draw: visits}", "{draw: visitz}"), LIBRARY, "unknown milestone 'visitz'"),
        (CALENDAR, None, "does not exist"),
        (CALENDAR, LIBRARY.replace("  visits:", "  other:"), "has no draw for 'visits'; its draws: other"),
        (
            CALENDAR,
            LIBRARY.replace("enterprises_from: plan-issued", "enterprises_from: visits"),
            "set enterprises_from: plan-issued",
        ),
        (CALENDAR, LIBRARY.replace("{id: x4,", "{id: cc,"), "also participant ids: cc"),
        (CALENDAR, LIBRARY.replace("experts_per_enterprise: 2", "experts_per_enterprise: 0"), "cannot be read"),
        (CALENDAR.replace("{draw: visits}", "{draw: visits, column: city}"), LIBRARY, "exactly one of column"),
    ],
)
def test_validate_checks_the_draw_a_fan_out_is_assigned_by(tmp_path, calendar, library, expected):
    (tmp_path / f"{PROGRAMME}.yaml").write_text(calendar, encoding="utf-8")
    if library is not None:
        (tmp_path / "experts").mkdir()
        (tmp_path / "experts" / f"{PROGRAMME}.yaml").write_text(library, encoding="utf-8")
    with pytest.raises(CalendarInvalid) as exc:
        load_programme_file(tmp_path / f"{PROGRAMME}.yaml")
    text = "\n".join(str(p) for p in exc.value.problems)
    assert expected in text and f"{PROGRAMME}.yaml:" in text
