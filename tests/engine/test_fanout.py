"""Milestones that fan out from what was submitted: the province's task sheets (任务交办单)
give one feedback task per measure, owed by the division each row names. A corrected
sheet retires and opens tasks with their audit trail; a row naming no participant is
reported; two runs at once make each task once; a target counts enterprises, not rows.
Real SQLite and PostgreSQL ledgers, real loopback SMTP."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from models import states as S
from models.tables import OutboxMessage, StatusChange, Task
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
  - {id: div-a, name: 标准化处, kind: division}
  - {id: div-b, name: 计量处, kind: division}
forms:
  - id: sheets
    title: 任务交办单
    fields:
      - id: tasks
        label: 交办任务
        type: table
        columns:
          - {id: task_no, label: 编号, type: string, max_length: 20, required: false}
          - {id: enterprise, label: 企业名称, type: string, max_length: 200}
          - {id: credit_code, label: 统一社会信用代码, type: string, max_length: 18, required: false}
          - {id: responsible, label: 承办处室, type: string, max_length: 100}
  - id: feedback
    title: 落实情况反馈表
    fields:
      - {id: result, label: 落实情况, type: text, max_length: 2000}
reminder_policies:
  - id: standard
    before_due: [1]
    overdue: {every_working_days: 2, max_chasers: 2}
workstreams:
  - id: clinic
    title: 问诊
    lead: [province]
    milestones:
      - id: task-sheets
        title: 发放任务交办单
        kind: submission
        opens: {rule: start_of_month, month: 9}
        due: {rule: fixed, month: 9, day: 28}
        form: sheets
        source: {clause: 测试}
      - id: measure-feedback
        title: 报送任务落实情况
        kind: submission
        opens: {rule: start_of_month, month: 11}
        due: {rule: fixed, month: 12, day: 25}
        form: feedback
        for_each:
          milestone: task-sheets
          field: tasks
          key: task_no
          name: enterprise
          keep: [credit_code]
          assignee: {column: responsible}
        source: {clause: 测试}
targets:
  - id: enterprises-served
    title: 服务企业
    measure: count
    at_least: 3
    period: yearly
    count_items: {milestone: measure-feedback, state: submitted, distinct: credit_code}
    source: {clause: 测试}
"""

CONTACTS = """\
  div-a:
    email: [a@division.example.gov.cn]
  div-b:
    email: [b@division.example.gov.cn]
"""

FIRST = [
    {"task_no": "T1", "enterprise": "长春甲公司", "credit_code": "91220101MA0000001A", "responsible": "标准化处"},
    {"task_no": "T2", "enterprise": "吉林乙公司", "credit_code": "91220201MA0000002B", "responsible": "div-a"},
    {"task_no": "T3", "enterprise": "长春甲公司", "credit_code": "91220101MA0000001A", "responsible": "计量处"},
]


@pytest.fixture
def fw(tmp_path, database_url, smtp_server):
    w = World(tmp_path, database_url, smtp_server, calendar=CALENDAR, contacts=contacts_yaml(smtp_server.port, extra=CONTACTS))
    yield w
    w.close()


def sheet(w: World, when: str, rows: list[dict], accept: bool = True) -> None:
    submit(w, when, "province", {"tasks": rows}, milestone="task-sheets")
    if accept:
        R.coordinator_action(
            w.runtime(), "accept", PROGRAMME, 2023, "task-sheets", "province", actor="coordinator", reason="ok", at=at(when)
        )


def feedback_tasks(w: World) -> dict[tuple[str, str], Task]:
    with ledger(w) as s:
        return {(t.participant, t.item_key): t for t in s.scalars(select(Task).where(Task.item_key != ""))}


def test_each_row_of_the_accepted_sheet_becomes_a_task_of_the_division_it_names(fw):
    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    r = fw.advance("2023-09-20T11:00")
    assert r.reconcile.fan_out.added == 3 and r.reconcile.fan_out.problems == {}
    tasks = feedback_tasks(fw)
    assert set(tasks) == {("div-a", "T1"), ("div-a", "T2"), ("div-b", "T3")}
    assert (
        tasks[("div-a", "T1")].item["name"] == "长春甲公司" and tasks[("div-a", "T1")].item["credit_code"] == "91220101MA0000001A"
    )
    assert {t.state for t in tasks.values()} == {S.WAITING} and {t.due.isoformat() for t in tasks.values()} == {"2023-12-25"}
    with ledger(fw) as s:
        (audit,) = s.scalars(select(StatusChange).where(StatusChange.task_id == tasks[("div-b", "T3")].id))
    assert audit.from_state is None and "item T3 (长春甲公司)" in audit.reason and "row 3" in audit.reason
    assert fw.advance("2023-09-20T12:00").reconcile.fan_out.added == 0  # level-triggered: nothing more
    # the opening notice names the enterprise
    fw.advance("2023-11-01T09:00")
    opened = [m for m in fw.smtp.messages if m["To"] == "b@division.example.gov.cn"]
    assert len(opened) == 1 and "长春甲公司" in str(opened[0]["Subject"]) + opened[0].get_content()
    both = [m for m in fw.smtp.messages if m["To"] == "a@division.example.gov.cn"]
    assert len(both) == 2 and {"长春甲公司" in m.get_content() for m in both} == {True, False}


def test_a_corrected_sheet_retires_one_task_and_opens_another_with_no_reminder_for_the_retired(fw):
    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    fw.advance("2023-11-01T09:00")  # the three open: their notices went out
    before = feedback_tasks(fw)
    R.coordinator_action(
        fw.runtime(),
        "return",
        PROGRAMME,
        2023,
        "task-sheets",
        "province",
        actor="coordinator",
        reason="T2企业有误",
        at=at("2023-11-02T10:00"),
    )
    r = fw.advance("2023-11-02T11:00")
    assert (r.reconcile.fan_out.added, r.reconcile.fan_out.retired) == (0, 0)  # returned: the items stay as they were
    corrected = [
        FIRST[0],
        {**FIRST[1], "task_no": "T4", "enterprise": "四平丙公司", "credit_code": "91220301MA0000003C"},
        FIRST[2],
    ]
    sheet(fw, "2023-11-03T10:00", corrected)
    r = fw.advance("2023-11-03T11:00")
    assert (r.reconcile.fan_out.added, r.reconcile.fan_out.retired) == (1, 1)
    after = feedback_tasks(fw)
    assert after[("div-a", "T2")].state == S.RETIRED and after[("div-a", "T4")].state == S.OPEN
    assert after[("div-a", "T1")].id == before[("div-a", "T1")].id  # untouched rows keep their tasks
    with ledger(fw) as s:
        trail = s.scalars(
            select(StatusChange.reason).where(
                StatusChange.task_id == after[("div-a", "T2")].id, StatusChange.to_state == S.RETIRED
            )
        ).all()
        assert trail == ["fan-out: item T2 is no longer in “发放任务交办单” as it stands"]
    # the day before the due date: the retired one's reminder is never sent, the others' are
    sent_before = len(fw.smtp.messages)
    fw.advance("2023-12-22T09:00")
    new = fw.smtp.messages[sent_before:]
    assert sorted(str(m["To"]) for m in new) == [
        "a@division.example.gov.cn",
        "a@division.example.gov.cn",
        "b@division.example.gov.cn",
    ]
    assert not any("吉林乙公司" in m.get_content() for m in new)
    with ledger(fw) as s:
        assert (
            s.scalar(
                select(func.count()).where(OutboxMessage.task_id == after[("div-a", "T2")].id, OutboxMessage.state == "sent")
            )
            == 1
        )  # only its opening notice, before it was retired


def test_a_row_naming_no_participant_is_reported_not_dropped(fw):
    fw.advance("2023-09-01T09:00")
    sheet(
        fw,
        "2023-09-20T10:00",
        [
            *FIRST,
            {"task_no": "T9", "enterprise": "白山丁公司", "credit_code": "9122", "responsible": "质量处"},
            {"task_no": "", "enterprise": "无编号", "credit_code": "", "responsible": "计量处"},
        ],
    )
    r = fw.advance("2023-09-20T11:00")
    problems = r.reconcile.fan_out.problems[f"{PROGRAMME}/2023/measure-feedback"]
    assert any("第4行（白山丁公司）" in p and "“质量处”不是本计划的参与单位" in p for p in problems)
    assert any("第5行" in p and "缺少task_no" in p for p in problems)
    assert set(feedback_tasks(fw)) == {("div-a", "T1"), ("div-a", "T2"), ("div-b", "T3")}
    assert r.as_json()["fan_out"]["problems"][f"{PROGRAMME}/2023/measure-feedback"] == problems  # in --json and the summary
    # the next runs change nothing (nothing it depends on changed: not fanned out again) and still say it
    again = fw.advance("2023-09-21T11:00")
    assert again.reconcile.fan_out.problems[f"{PROGRAMME}/2023/measure-feedback"] == problems
    assert (again.reconcile.fan_out.added, again.reconcile.fan_out.retired) == (0, 0)


def test_two_runs_at_once_create_each_fan_out_task_once(fw):
    fw.advance("2023-09-01T09:00")
    rows = [
        {
            "task_no": f"T{i}",
            "enterprise": f"企业{i}",
            "credit_code": f"9122{i:014d}",
            "responsible": "div-a" if i % 2 else "div-b",
        }
        for i in range(60)
    ]
    sheet(fw, "2023-09-20T10:00", rows)
    runtimes = [fw.runtime(), fw.runtime()]
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def run(rt):
        try:
            go.wait()
            R.advance(rt, at("2023-09-20T11:00"), send=False)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with ledger(fw) as s:
        n = s.scalar(select(func.count()).select_from(Task).where(Task.item_key != ""))
        audits = s.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.from_state.is_(None)))
    assert n == 60 and audits == 60


def test_the_target_counts_enterprises_that_reached_the_state_not_rows(fw):
    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    fw.advance("2023-11-01T09:00")
    for who, item in (("div-a", "T1"), ("div-b", "T3"), ("div-a", "T2")):
        R.submit_form(
            fw.runtime(),
            PROGRAMME,
            2023,
            "measure-feedback",
            who,
            {"result": "已完成"},
            item=item,
            at=at("2023-12-01T10:00"),
            actor=who,
            source="test",
        )
    (rollup,) = R.rollup_current(fw.runtime(), at("2023-12-01T12:00"), year=2023)
    (served,) = rollup.targets
    assert served.value == 2.0  # T1 and T3 are one enterprise (the same credit code), T2 another
    from yearwheel import evaluations as E

    december = E.bulletin(fw.runtime(), PROGRAMME, 2023, 12, at("2024-01-02T09:00"))
    assert sorted(i.title for i in december.items) == [
        "报送任务落实情况（吉林乙公司）",
        "报送任务落实情况（长春甲公司）",
        "报送任务落实情况（长春甲公司）",
    ]  # the bulletin's table names each item
    with pytest.raises(Exception, match="owes measure-feedback for 2 items; name one"):
        R.submit_form(
            fw.runtime(),
            PROGRAMME,
            2023,
            "measure-feedback",
            "div-a",
            {"result": "x"},
            at=at("2023-12-01T10:00"),
            actor="div-a",
            source="test",
        )


def test_excel_templates_per_item_round_trip(fw, cli, tmp_path):
    from openpyxl import load_workbook

    from tests.web.test_excel import cell_of

    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    fw.advance("2023-11-01T09:00")
    out = tmp_path / "forms"
    args = ["--year", "2023", "--milestone", "measure-feedback", "-o", out, "--calendar-dir", fw.calendar_dir]
    r = cli("forms", "export", PROGRAMME, *args, "--participant", "div-a")
    assert r.exit_code == 0, r.stderr
    files = sorted(p.name for p in out.glob("*.xlsx"))
    assert files == [f"{PROGRAMME}-2023-measure-feedback-div-a-T1.xlsx", f"{PROGRAMME}-2023-measure-feedback-div-a-T2.xlsx"]
    path = out / files[1]
    wb = load_workbook(path)
    ws = wb["填报表"]
    assert cell_of(ws, "填报事项").value == "报送任务落实情况（吉林乙公司）"
    cell_of(ws, "落实情况").value = "已完成整改"
    wb.save(path)
    r = cli("forms", "import", path, "--at", "2023-12-01T10:00", "--calendar-dir", fw.calendar_dir, "--contacts", fw.contacts)
    assert r.exit_code == 0, r.stderr
    tasks = feedback_tasks(fw)
    assert tasks[("div-a", "T2")].state == S.SUBMITTED and tasks[("div-a", "T1")].state == S.OPEN


def test_a_row_that_comes_back_revives_its_task_afresh_and_it_is_reminded_anew(fw):
    rt = fw.runtime()

    def act(kind: str, when: str, reason: str = "ok") -> None:
        R.coordinator_action(
            rt, kind, PROGRAMME, 2023, "task-sheets", "province", actor="coordinator", reason=reason, at=at(when)
        )

    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    fw.advance("2023-11-01T09:00")  # T2 opens: its notice goes to div-a
    act("return", "2023-11-02T10:00", "T2有误")
    sheet(fw, "2023-11-02T11:00", [FIRST[0], FIRST[2]])
    fw.advance("2023-11-02T12:00")
    assert feedback_tasks(fw)[("div-a", "T2")].state == S.RETIRED
    act("return", "2023-11-03T10:00", "T2应保留")
    sheet(fw, "2023-11-03T11:00", FIRST)
    before = [m for m in fw.smtp.messages if m["To"] == "a@division.example.gov.cn" and "吉林乙公司" in m.get_content()]
    r = fw.advance("2023-11-03T12:00")
    assert r.reconcile.fan_out.revived == 1
    t2 = feedback_tasks(fw)[("div-a", "T2")]
    assert t2.state == S.OPEN and t2.accepted_at is None and t2.item["generation"] == 1
    after = [m for m in fw.smtp.messages if m["To"] == "a@division.example.gov.cn" and "吉林乙公司" in m.get_content()]
    assert len(after) == len(before) + 1  # told again that it is open


def test_items_of_a_source_exempted_after_its_return_are_retired(fw):
    rt = fw.runtime()
    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    fw.advance("2023-09-20T11:00")
    R.coordinator_action(
        rt, "return", PROGRAMME, 2023, "task-sheets", "province", actor="coordinator", reason="重做", at=at("2023-09-21T10:00")
    )
    assert fw.advance("2023-09-21T11:00").reconcile.fan_out.retired == 0  # awaiting its correction: kept
    R.coordinator_action(
        rt, "exempt", PROGRAMME, 2023, "task-sheets", "province", actor="coordinator", reason="取消", at=at("2023-09-22T10:00")
    )
    assert fw.advance("2023-09-22T11:00").reconcile.fan_out.retired == 3
    assert {t.state for t in feedback_tasks(fw).values()} == {S.RETIRED}


def test_item_keys_in_outbox_keys_are_bounded_and_cannot_collide():
    from models.enqueue import owner_key

    assert owner_key("div-a", "T1") == "div-a#T1" and owner_key("div-a", "T1", 2) == "div-a#T1~2"
    long, slashed, chinese = "9" * 200, "a/b", "长春甲公司"
    for key in (long, slashed, chinese):
        k = owner_key("div-a", key)
        assert "/" not in k and len(k) <= len("div-a#") + 17
    assert owner_key("div-a", "a/b") != owner_key("div-a", "a_b")


def test_a_returned_notice_queued_before_its_task_is_retired_is_never_sent(fw):
    """A division's report on T2 is returned; before the notice goes out the province
    corrects the sheet without T2: the task is retired and the notice is skipped, not sent."""
    from models import submissions as U

    fw.advance("2023-09-01T09:00")
    sheet(fw, "2023-09-20T10:00", FIRST)
    fw.advance("2023-11-01T09:00")
    submit(fw, "2023-11-06T10:00", "div-a", {"result": "已完成"}, milestone="measure-feedback", item="T2")
    rt = fw.runtime()
    prog = rt.programme(PROGRAMME)
    when = at("2023-11-07T10:00")
    with rt.sessions.begin() as s:  # nothing dispatched in between: the notice waits in the outbox
        U.return_for_revision(
            s,
            prog,
            U.find_task(s, PROGRAMME, 2023, "measure-feedback", "div-a", "T2"),
            at=when,
            actor="coordinator",
            reason="请补充",
            messenger=rt.messenger,
        )
        src = U.find_task(s, PROGRAMME, 2023, "task-sheets", "province")
        U.return_for_revision(s, prog, src, at=when, actor="coordinator", reason="T2取消", messenger=rt.messenger)
        U.submit(
            s,
            prog,
            U.find_task(s, PROGRAMME, 2023, "task-sheets", "province"),
            {"tasks": [FIRST[0], FIRST[2]]},
            at=when,
            actor="province",
            source="test",
            messenger=rt.messenger,
            cal=rt.cal,
        )
        U.accept(s, U.find_task(s, PROGRAMME, 2023, "task-sheets", "province"), at=when, actor="coordinator")
    before = len(fw.smtp.messages)
    r = fw.advance("2023-11-07T11:00")
    assert r.reconcile.fan_out.retired == 1 and feedback_tasks(fw)[("div-a", "T2")].state == S.RETIRED
    assert not any(
        "退回" in str(m["Subject"]) and "吉林乙公司" in str(m["Subject"]) + m.get_content() for m in fw.smtp.messages[before:]
    )
    with ledger(fw) as s:
        (row,) = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.task_id == feedback_tasks(fw)[("div-a", "T2")].id, OutboxMessage.kind == "returned"
            )
        )
        assert row.state == "skipped"
