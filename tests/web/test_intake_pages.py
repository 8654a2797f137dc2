"""The intake form as a city bureau's clerk uses it (issue 21), over real HTTP (uvicorn on
loopback, httpx), the ledger on SQLite and PostgreSQL: rows added and deleted without
JavaScript, what the page says about the task, drafts (暂存) kept on the server and
restored, and the receipt — on the page, in its print view and in the acknowledgement."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import func, select

from models import links
from models.receipts import read_receipt, receipt_number
from models.tables import Draft, OutboxMessage, StatusChange, Submission, Task
from tests.engine.conftest import World, ledger
from tests.web.test_uploads import make_pdf
from tests.web.test_web import COORDINATOR, SECRET, Clock, at, serve

pytestmark = pytest.mark.slow  # a real uvicorn server per test

PROG = "clinic-demo"
CALENDAR = """version: 1
programme:
  id: clinic-demo
  title: 质量提升行动测试计划
  issuer: 测试厅
  years: {first: 2023, last: 2023}
  defaults: {reminder_policy: standard}
roles:
  - {id: coordinator, title: 省厅质量发展处联络人, holder: quality-division}
participants:
  - {id: quality-division, name: 测试省市场监管厅质量发展处, kind: division}
  - {id: city-a, name: 甲市市场监督管理局, kind: city}
  - {id: city-b, name: 乙市市场监督管理局, kind: city}
groups:
  - {id: cities, name: 各市, members: [city-a, city-b]}
parameters:
  - {id: least, title: 最少推荐户数, value: 2}
forms:
  - id: recommended
    title: 推荐企业名单
    fields:
      - {id: note, label: 推荐说明, type: text, max_length: 2000, required: false}
      - id: enterprises
        label: 推荐企业
        type: table
        min_rows: {parameter: least}
        max_rows: 4
        columns:
          - {id: name, label: 企业名称, type: string, max_length: 200}
          - {id: staff, label: 职工人数, type: integer, min: 0, required: false}
          - {id: output, label: 年产值, type: number, unit: 万元, required: false}
          - {id: since, label: 成立日期, type: date, required: false}
          - {id: reason, label: 推荐理由, type: text, max_length: 2000, required: false}
reminder_policies:
  - {id: standard, send_at: "09:00", before_due: [1]}
workstreams:
  - id: clinic
    title: 百户企业质量问诊服务
    lead: [cities]
    milestones:
      - id: recommendations
        title: 各地筛选推荐符合条件的企业
        kind: submission
        form: recommended
        opens: {rule: start_of_month, month: 4}
        due: {rule: fixed, month: 4, day: 23}
        description: 各地按照省厅公布的申报条件筛选并推荐本地区符合要求的企业。
        source: {clause: 三、（三）, quote: 各地级市市场监管部门按照标准，认真筛选和向省厅推荐本地区符合要求的企业}
      - id: plans
        title: 报送年度提升计划表
        kind: submission
        form: recommended
        opens: {rule: start_of_month, month: 4}
        due: {rule: fixed, month: 4, day: 29}
        source: {clause: 三、（四）, quote: 各地级市市场监管部门向省厅报送年度提升计划表}
"""
CONTACTS = """version: 1
email: {{host: 127.0.0.1, port: {port}, sender: "测试厅 <noreply@example.gov.cn>", security: none}}
participants:
  city-a: {{email: [a@example.gov.cn]}}
  city-b: {{email: [b@example.gov.cn]}}
"""
GUARD = httpx.Timeout(30.0)
ROW0 = {"f.enterprises.0.name": "长春甲公司", "f.enterprises.0.staff": "120"}
ROW1 = {"f.enterprises.1.name": "长春乙公司", "f.enterprises.1.reason": "质量管理<b>基础</b>好\n愿意接受诊断"}


@pytest.fixture
def clinic(tmp_path, database_url, smtp_server):
    w = World(
        tmp_path, database_url, smtp_server, calendar=CALENDAR, programme=PROG, contacts=CONTACTS.format(port=smtp_server.port)
    )
    w.advance("2023-04-03T09:00")
    yield w
    w.close()


@pytest.fixture
def site(clinic, tmp_path):
    with serve(clinic, Clock(at("2023-04-10T10:00")), tmp_path) as (base, settings):
        yield base, settings


def task_of(world: World, participant: str, milestone: str = "recommendations") -> Task:
    from models.tables import MilestoneInstance

    with ledger(world) as s:
        return s.scalars(
            select(Task)
            .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
            .where(MilestoneInstance.milestone == milestone, Task.participant == participant)
        ).one()


def url_for(world: World, base: str, participant: str = "city-a", milestone: str = "recommendations") -> str:
    return f"{base}/t/{links.sign(SECRET, task_of(world, participant, milestone).id, participant, at('2023-08-01T00:00'))}"


def counts(world: World) -> tuple[int, int, int, int]:
    """(submissions, status changes, outbox rows, drafts) — what a row button must not touch."""
    with ledger(world) as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Submission, StatusChange, OutboxMessage, Draft))  # type: ignore[return-value]


def names(page: str, table: str = "enterprises") -> set[str]:
    return set(re.findall(rf'name="f\.({table}\.\d+\.\w+)"', page))


def value_of(page: str, name: str) -> str | None:
    m = re.search(rf'name="f\.{re.escape(name)}" value="([^"]*)"', page)
    if m:
        return html.unescape(m[1])
    m = re.search(rf'name="f\.{re.escape(name)}"[^>]*>([^<]*)</textarea>', page)
    return html.unescape(m[1]) if m else None


# --------------------------------------------------------------------------- context


def test_the_page_says_what_the_task_is_for_when_it_is_due_and_whom_to_ask(clinic, site):
    base, _ = site
    page = httpx.get(url_for(clinic, base), timeout=GUARD).text
    # 2023-04-23 is a Sunday the State Council made a working day
    assert "2023年4月23日（星期日，调休上班）" in page
    assert '<p id="purpose">各地按照省厅公布的申报条件筛选并推荐本地区符合要求的企业。</p>' in page
    assert "依据：《质量提升行动测试计划》三、（三）“各地级市市场监管部门按照标准" in page
    assert "如有疑问，请联系省厅质量发展处联络人（测试省市场监管厅质量发展处）。" in page
    assert "至少填写 2 行，最多 4 行；当前 3 行。" in page
    # without a description the page quotes the source; a Saturday due date moves, and says why
    page = httpx.get(url_for(clinic, base, milestone="plans"), timeout=GUARD).text
    assert (
        'id="purpose"' not in page
        and "依据：《质量提升行动测试计划》三、（四）“各地级市市场监管部门向省厅报送年度提升计划表”" in page
    )
    assert "2023年5月4日（星期四）" in page and "（文件规定为2023年4月29日（星期六，劳动节假期），逢休息日依规调整）" in page
    # an extension says so, and from what date
    r = httpx.post(
        f"{base}/api/coordinator/extend",
        headers={"Authorization": f"Bearer {COORDINATOR}"},
        json={
            "programme": PROG,
            "year": 2023,
            "milestone": "recommendations",
            "participant": "city-a",
            "reason": "机构调整",
            "to": "2023-04-28",
        },
        timeout=GUARD,
    )
    assert r.status_code == 200, r.text
    page = httpx.get(url_for(clinic, base), timeout=GUARD).text
    assert "2023年4月28日（星期五）" in page and "（已延期，原截止日期为2023年4月23日（星期日，调休上班））" in page


# --------------------------------------------------------------------------- rows


def test_rows_are_added_and_deleted_with_what_was_typed_kept_and_nothing_stored(clinic, site):
    base, _ = site
    url = url_for(clinic, base)
    before = counts(clinic)
    page = httpx.get(url, timeout=GUARD).text
    assert len(names(page)) == 3 * 5 and 'value="add:enterprises"' in page and "增加一行" in page
    assert page.count("删除此行") == 3
    # a text column is a text area, numbers get numeric keyboards, dates a date picker
    assert '<textarea id="f.enterprises.0.reason" name="f.enterprises.0.reason"' in page
    assert re.search(r'name="f\.enterprises\.0\.staff" value="" inputmode="numeric"', page)
    assert re.search(r'name="f\.enterprises\.0\.output" value="" inputmode="decimal"', page)
    assert '<input type="date" id="f.enterprises.0.since"' in page

    typed = ROW0 | ROW1 | {"f.note": "见附件", "n.enterprises": "3"}
    r = httpx.post(
        url, data=typed | {"op": "add:enterprises"}, files={"evidence": ("a.pdf", make_pdf(), "application/pdf")}, timeout=GUARD
    )
    assert r.status_code == 200, r.text
    assert len(names(r.text)) == 4 * 5 and "当前 4 行" in r.text
    assert value_of(r.text, "enterprises.1.reason") == ROW1["f.enterprises.1.reason"]  # kept, escaped as text
    assert "<b>基础</b>" not in r.text and value_of(r.text, "note") == "见附件"
    assert "所选附件未随本次操作保存" in r.text  # files are not kept across a row button
    # at the row limit there is no add button; pressing it anyway changes nothing
    assert 'value="add:enterprises"' not in r.text and "已达最多 4 行" in r.text
    r = httpx.post(url, data=typed | {"n.enterprises": "4", "op": "add:enterprises"}, timeout=GUARD)
    assert r.status_code == 200 and len(names(r.text)) == 4 * 5
    # delete the first row: the second moves up, its values with it
    r = httpx.post(url, data=typed | {"n.enterprises": "4", "op": "del:enterprises:0"}, timeout=GUARD)
    assert r.status_code == 200 and len(names(r.text)) == 3 * 5
    assert value_of(r.text, "enterprises.0.name") == "长春乙公司" and value_of(r.text, "enterprises.1.name") == ""
    assert "长春甲公司" not in r.text
    # a row count or a button no form has is bounded or refused, never obeyed
    r = httpx.post(url, data=typed | {"n.enterprises": "999999", "op": "add:enterprises"}, timeout=GUARD)
    assert r.status_code == 200 and len(names(r.text)) == 4 * 5
    for op in ("add:nope", "del:enterprises:x", "add:note", "<script>", "submit2"):
        assert httpx.post(url, data=typed | {"op": op}, timeout=GUARD).status_code == 400, op
    r = httpx.post(url, data=typed | {"op": "del:enterprises:999999"}, timeout=GUARD)
    assert r.status_code == 200 and value_of(r.text, "enterprises.0.name") == "长春甲公司"
    assert counts(clinic) == before  # no submission, no state change, no message, no draft
    assert task_of(clinic, "city-a").state == "open"
    # the old ?rows= still adds rows to a fresh page, within the limit
    assert len(names(httpx.get(url + "?rows=1", timeout=GUARD).text)) == 4 * 5


# --------------------------------------------------------------------------- drafts


def test_a_draft_is_kept_restored_and_cleared_by_the_submission(clinic, site):
    base, _ = site
    url = url_for(clinic, base)
    before = counts(clinic)
    script = "<script>alert(1)</script>"
    half = ROW0 | {"f.enterprises.0.reason": script, "n.enterprises": "3", "op": "draft"}
    r = httpx.post(url, data=half, timeout=GUARD)
    assert r.status_code == 200, r.text
    assert "已暂存（2023年4月10日（星期一）10:00）" in r.text
    with ledger(clinic) as s:
        (draft,) = s.scalars(select(Draft))
    assert draft.payload == {"enterprises.0.name": "长春甲公司", "enterprises.0.staff": "120", "enterprises.0.reason": script}
    assert draft.saved_by == "city-a (web form)" and draft.client == "127.0.0.1"
    # a draft is not a submission: no state change, no message, nothing counted
    assert counts(clinic) == (before[0], before[1], before[2], 1)
    assert task_of(clinic, "city-a").state == "open"
    # the link opened again restores it, escaped
    page = httpx.get(url, timeout=GUARD).text
    assert "已恢复2023年4月10日（星期一）10:00暂存的内容（尚未提交）" in page
    assert value_of(page, "enterprises.0.name") == "长春甲公司" and value_of(page, "enterprises.0.reason") == script
    assert script not in page
    # another bureau's link sees nothing of it
    assert "长春甲公司" not in httpx.get(url_for(clinic, base, "city-b"), timeout=GUARD).text
    # a value that cannot be of its type is refused in Chinese, and the saved draft stays as it was
    r = httpx.post(url, data=half | {"f.enterprises.0.staff": "一百二十"}, timeout=GUARD)
    assert r.status_code == 422 and "暂存未成功" in r.text and "职工人数：应填写整数，实际为 “一百二十”" in r.text
    assert value_of(r.text, "enterprises.0.staff") == "一百二十"  # kept on the page to correct
    r = httpx.post(url, data=half | {"f.enterprises.0.since": "2023-02-30", "f.enterprises.0.name": "x" * 201}, timeout=GUARD)
    assert r.status_code == 422 and "应填写日期" in r.text and "最多 200 个字" in r.text
    r = httpx.post(url, data=half | {"f.enterprises.7.name": "第八行"}, timeout=GUARD)
    assert r.status_code == 422 and "推荐企业：最多填写 4 行" in r.text
    with ledger(clinic) as s:
        assert s.scalars(select(Draft.payload)).one() == draft.payload
    # a draft may be unfinished (required fields and rows missing): an empty one is saved too
    assert httpx.post(url, data={"op": "draft"}, timeout=GUARD).status_code == 200
    assert httpx.post(url, data=half, timeout=GUARD).status_code == 200
    # the submission clears it, in its own transaction
    r = httpx.post(url, data=ROW0 | ROW1 | {"op": "submit"}, timeout=GUARD)
    assert r.status_code == 200, r.text
    with ledger(clinic) as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0
    assert "已恢复" not in httpx.get(url, timeout=GUARD).text
    # once accepted, nothing can be drafted any more
    r = httpx.post(
        f"{base}/api/coordinator/accept",
        headers={"Authorization": f"Bearer {COORDINATOR}"},
        json={"programme": PROG, "year": 2023, "milestone": "recommendations", "participant": "city-a", "reason": "齐全"},
        timeout=GUARD,
    )
    assert r.status_code == 200
    r = httpx.post(url, data=half, timeout=GUARD)
    assert r.status_code == 409 and "审核通过" in r.text
    with ledger(clinic) as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0


# --------------------------------------------------------------------------- the receipt


def test_the_receipt_number_is_on_the_page_the_print_view_and_the_email(clinic, site):
    base, _ = site
    url = url_for(clinic, base)
    task = task_of(clinic, "city-a")
    assert len(clinic.smtp.messages) == 4  # the opening notices: 2 milestones to 2 cities
    r = httpx.post(
        url,
        data=ROW0 | ROW1 | {"f.note": "见附件"},
        files={"evidence": ("走访.pdf", make_pdf(), "application/pdf")},
        timeout=GUARD,
    )
    assert r.status_code == 200, r.text
    number = receipt_number(2023, task.id, 1)
    assert read_receipt(number) == (2023, task.id, 1)
    assert f'id="receipt-number">{number}<' in r.text and "2023年4月10日（星期一）10:00" in r.text
    assert "1. 长春甲公司；120" in r.text and "2. 长春乙公司；质量管理&lt;b&gt;基础&lt;/b&gt;好 愿意接受诊断" in r.text
    assert "走访.pdf" in r.text
    href = re.search(r'id="print-link" href="([^"]+)"', r.text)[1]
    assert href.endswith("/receipt?v=1") and not href.startswith("/")  # relative: works behind a path prefix
    printed = httpx.get(f"{url}/receipt?v=1", timeout=GUARD)
    assert printed.status_code == 200 and f'id="receipt-number">{number}<' in printed.text
    assert "第 1 版（按时报送）" in printed.text and "@page { size: A4" in printed.text
    # the acknowledgement carries the same number
    assert clinic.smtp.wait_for(5)  # 2 milestones' opening notices to 2 cities, then the acknowledgement
    ack = [m for m in clinic.smtp.messages if m["Subject"].startswith("【回执】")]
    assert len(ack) == 1 and f"回执编号：{number}" in ack[0].get_body(("plain",)).get_content()
    # a second version has its own number; the print view without ?v is the latest
    r = httpx.post(url, data=ROW0 | ROW1, timeout=GUARD)
    assert receipt_number(2023, task.id, 2) in r.text
    assert receipt_number(2023, task.id, 2) in httpx.get(f"{url}/receipt", timeout=GUARD).text
    assert number in httpx.get(f"{url}/receipt?v=1", timeout=GUARD).text  # and the first stays what it was
    for v in ("3", "-1", "99999999999"):
        assert httpx.get(f"{url}/receipt?v={v}", timeout=GUARD).status_code in (404, 422), v
    # only the link's own task: another bureau's link has no receipt; a bad link the same 403
    assert httpx.get(f"{url_for(clinic, base, 'city-b')}/receipt?v=1", timeout=GUARD).status_code == 404
    assert httpx.get(f"{base}/t/not-a-token/receipt", timeout=GUARD).status_code == 403
