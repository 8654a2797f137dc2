"""The intake under attack and on a bad day, over real HTTP (uvicorn on loopback, httpx):
a 40-byte request asking for two million rows, re-spelled links, a request waiting on a
database lock, a slow mail server behind a coordinator's return, the database gone, a
commit that fails after evidence was written, cross-site posts, and the headers on
every response. Bounds here are hang guards (generous client timeouts), never timings."""

from __future__ import annotations

import re
import sqlite3
import threading

import httpx
import pytest
from sqlalchemy import func, select, text

from models import links
from models.tables import StatusChange, Submission
from tests.engine.conftest import World, ledger
from tests.web.test_uploads import make_pdf
from tests.web.test_web import COORDINATOR, SECRET, Clock, at, serve

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

DEMO = "intake-demo"
CALENDAR = """version: 1
programme:
  id: intake-demo
  title: 填报测试计划
  issuer: 测试厅
  years: {first: 2023, last: 2024}
  defaults: {reminder_policy: standard}
participants:
  - {id: province, name: 测试省市场监管厅, kind: province}
  - {id: city-a, name: 甲市市场监督管理局, kind: city}
  - {id: city-b, name: 乙市市场监督管理局, kind: city}
groups:
  - {id: cities, name: 各市, members: [city-a, city-b]}
forms:
  - id: cases
    title: 典型案例表
    fields:
      - {id: summary, label: 工作总结, type: text, max_length: 2000}
      - id: cases
        label: 典型案例
        type: table
        min_rows: 1
        max_rows: 5
        columns:
          - {id: enterprise, label: 企业名称, type: string, max_length: 100}
          - {id: measures, label: 措施数, type: integer, min: 0}
reminder_policies:
  - {id: standard, send_at: "09:00", before_due: [5, 1, 0]}
workstreams:
  - id: ws
    title: 工作
    lead: [cities]
    milestones:
      - id: cases-submitted
        title: 报送典型案例
        kind: submission
        form: cases
        opens: {rule: start_of_month, month: 12}
        due: {rule: fixed, month: 12, day: 25}
        source: {clause: 测试}
"""
CONTACTS = """version: 1
email: {{host: 127.0.0.1, port: {port}, sender: "测试厅 <noreply@example.gov.cn>", security: none}}
participants:
  city-a: {{email: [a@example.gov.cn]}}
  city-b: {{email: [b@example.gov.cn]}}
"""
GOOD = {"f.summary": "全年推广典型案例", "f.cases.0.enterprise": "长春某企业", "f.cases.0.measures": "3"}
GUARD = httpx.Timeout(30.0)


@pytest.fixture
def demo(tmp_path, database_url, smtp_server):
    w = World(
        tmp_path, database_url, smtp_server, calendar=CALENDAR, programme=DEMO, contacts=CONTACTS.format(port=smtp_server.port)
    )
    w.advance("2023-12-01T09:00")
    yield w
    w.close()


def task_id(world: World, participant: str) -> int:
    from models.tables import ProgrammeYear, Task

    with ledger(world) as s:
        return s.scalar(
            select(Task.id)
            .join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id)
            .where(ProgrammeYear.year == 2023, Task.participant == participant)
        )


def link_for(world: World, participant: str = "city-a") -> str:
    return links.sign(SECRET, task_id(world, participant), participant, at("2024-03-01T00:00"))


@pytest.fixture
def site(demo, tmp_path):
    with serve(demo, Clock(at("2023-12-10T10:00")), tmp_path) as (base, settings):
        yield base, settings


# --------------------------------------------------------------------------- bounded inputs


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_row_bomb_is_refused_by_the_forms_own_limit(demo, site):
    base, _ = site
    url = f"{base}/t/{link_for(demo)}"
    r = httpx.post(url, data={"f.cases.1999999.enterprise": "x"}, timeout=GUARD)  # the 40-byte request
    assert r.status_code == 422
    assert "典型案例：最多填写 5 行" in r.text
    assert len(r.text) < 50_000  # the page shows the form's rows, not two million
    assert r.text.count('name="f.cases.') <= 5 * 2
    r = httpx.post(url, data={"f.cases." + "9" * 100_000 + ".enterprise": "x"}, timeout=GUARD)
    assert r.status_code == 422 and "表单中没有此项" in r.text  # not a 500
    r = httpx.post(url, data={f"f.nope{i}": "x" for i in range(10)} | GOOD, timeout=GUARD)
    assert r.status_code == 422 and "表单中没有此项（10 项）" in r.text
    r = httpx.post(url, data={f"f.x{i}": "y" for i in range(5000)}, timeout=GUARD)  # more inputs than the form has
    assert r.status_code == 400
    r = httpx.get(url + "?rows=1000000", timeout=GUARD)
    assert r.status_code == 200 and r.text.count('name="f.cases.') <= 5 * 2
    with ledger(demo) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0
    r = httpx.post(url, data=GOOD, timeout=GUARD)  # and the real thing still works
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_request_waiting_on_a_lock_does_not_stop_the_others_and_gets_a_busy_page(demo, tmp_path):
    url_db = demo.database_url.removeprefix("sqlite:///")
    with serve(demo, Clock(at("2023-12-10T10:00")), tmp_path, lock_timeout=1.0) as (base, _):
        url = f"{base}/t/{link_for(demo)}"
        blocker = sqlite3.connect(url_db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # someone holds the write lock
        try:
            results: dict[str, httpx.Response] = {}
            t = threading.Thread(target=lambda: results.setdefault("post", httpx.post(url, data=GOOD, timeout=GUARD)))
            t.start()
            health = httpx.get(f"{base}/healthz", timeout=GUARD)
            assert health.status_code == 200  # the event loop is not blocked by the waiting request
            t.join(60)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        r = results["post"]
        assert r.status_code == 503 and "系统繁忙" in r.text
        assert "全年推广典型案例" in r.text and "长春某企业" in r.text  # what was typed is kept
        r = httpx.post(url, data=GOOD, timeout=GUARD)
        assert r.status_code == 200


# --------------------------------------------------------------------------- links


def test_a_link_spelled_differently_is_not_the_link(demo, site):
    base, _ = site
    token = link_for(demo)
    claims, mac = token.split(".")
    variants = [
        token + "=",
        token + "==",
        f"{claims}.{mac}A",
        f"{claims}.{mac[:-1]}",
        f"{claims}.{mac[:5]}+{mac[5:]}",
        f"{claims}.{mac[:5]}={mac[5:]}",
        f"{claims}=.{mac}",
        f" {token}",
        token.replace(".", "..", 1),
    ]
    # a different last character with the same leading bits: the lenient decoder read it as the same MAC
    last = mac[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    variants += [
        f"{claims}.{mac[:-1]}{c}" for c in alphabet if c != last and alphabet.index(c) // 16 == alphabet.index(last) // 16
    ]
    for v in variants:
        with pytest.raises(links.LinkInvalid):
            links.verify(SECRET, v, now=at("2023-12-10T10:00"))
    for v in variants[:6]:
        assert httpx.get(f"{base}/t/{v}", timeout=GUARD).status_code == 403
    assert httpx.get(f"{base}/t/{token}", timeout=GUARD).status_code == 200


def test_the_rate_limit_counts_the_task_not_the_spelling_and_survives_a_restart(demo, tmp_path):
    token = link_for(demo)
    claims, mac = token.split(".")
    with serve(demo, Clock(at("2023-12-10T10:00")), tmp_path, rate=3) as (base, _):
        codes = [httpx.get(f"{base}/t/{token}", timeout=GUARD).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert httpx.get(f"{base}/t/{token}=", timeout=GUARD).status_code == 403  # a re-spelling is no way round it
    with serve(demo, Clock(at("2023-12-10T10:01")), tmp_path, rate=3) as (base, _):  # a restarted service
        assert httpx.get(f"{base}/t/{token}", timeout=GUARD).status_code == 429
    with serve(demo, Clock(at("2023-12-10T10:11")), tmp_path, rate=3) as (base, _):  # the window has passed
        assert httpx.get(f"{base}/t/{token}", timeout=GUARD).status_code == 200


# --------------------------------------------------------------------------- work that waits on other things


def test_a_return_with_a_slow_mail_server_answers_before_the_mail_goes(demo, site):
    base, _ = site
    r = httpx.post(f"{base}/t/{link_for(demo)}", data=GOOD, timeout=GUARD)
    assert r.status_code == 200
    assert demo.smtp.wait_for(3)  # 2 opening notices + the acknowledgement, sent by the service's own sender
    demo.smtp.delay = 5.0  # every message now takes the server five seconds
    r = httpx.post(
        f"{base}/api/coordinator/return",
        headers={"Authorization": f"Bearer {COORDINATOR}"},
        json={
            "programme": DEMO,
            "year": 2023,
            "milestone": "cases-submitted",
            "participant": "city-a",
            "actor": "质量发展处",
            "reason": "案例不完整",
        },
        timeout=GUARD,
    )
    assert r.status_code == 200 and r.json()["state"] == "returned"
    assert len(demo.smtp.messages) == 3  # answered while the mail was still on its way
    assert demo.smtp.wait_for(4, timeout=60)
    assert "案例不完整" in demo.smtp.messages[-1].get_body().get_content()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_database_gone_gives_a_chinese_page_that_keeps_the_values(demo, site, pg_server):
    base, _ = site
    url = f"{base}/t/{link_for(demo)}"
    assert httpx.get(url, timeout=GUARD).status_code == 200
    name = demo.database_url.rsplit("/", 1)[1]
    with pg_server.admin.connect() as c:
        c.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    try:
        health = httpx.get(f"{base}/healthz", timeout=GUARD)
        assert health.status_code == 503 and health.json() == {"ok": False, "database": "unreachable"}
        r = httpx.post(url, data=GOOD, timeout=GUARD)
        assert r.status_code == 503
        assert "无法连接数据库" in r.text or "系统暂时无法" in r.text
        r = httpx.get(url, timeout=GUARD)
        assert r.status_code == 503 and "数据库" in r.text
    finally:
        with pg_server.admin.connect() as c:
            c.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
    assert httpx.get(f"{base}/healthz", timeout=GUARD).status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_commit_that_fails_leaves_no_evidence_file_behind(demo, site, pg_server):
    base, settings = site
    from sqlalchemy import create_engine

    engine = create_engine(demo.database_url)
    with engine.begin() as c:  # the commit itself fails, after the files were written
        c.execute(
            text("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql")
        )
        c.execute(
            text(
                "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON submissions DEFERRABLE INITIALLY DEFERRED "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    r = httpx.post(
        f"{base}/t/{link_for(demo)}", data=GOOD, files={"evidence": ("证明.pdf", make_pdf(), "application/pdf")}, timeout=GUARD
    )
    assert r.status_code in (500, 503)
    leftovers = [p for p in settings.attachment_dir.rglob("*") if p.is_file()]
    assert leftovers == []
    with engine.begin() as c:
        c.execute(text("DROP TRIGGER at_commit ON submissions"))
    engine.dispose()
    r = httpx.post(
        f"{base}/t/{link_for(demo)}", data=GOOD, files={"evidence": ("证明.pdf", make_pdf(), "application/pdf")}, timeout=GUARD
    )
    assert r.status_code == 200
    assert len([p for p in settings.attachment_dir.rglob("*") if p.is_file()]) == 1


# --------------------------------------------------------------------------- hardening


def test_every_response_carries_the_security_headers(demo, site):
    base, _ = site
    token = link_for(demo)
    responses = [
        httpx.get(f"{base}/t/{token}", timeout=GUARD),
        httpx.get(f"{base}/t/not-a-token", timeout=GUARD),
        httpx.get(f"{base}/nowhere", timeout=GUARD),  # 404
        httpx.put(f"{base}/t/{token}", timeout=GUARD),  # 405
        httpx.get(f"{base}/healthz", timeout=GUARD),
        httpx.post(f"{base}/api/coordinator/accept", json={}, timeout=GUARD),  # 403
        httpx.post(f"{base}/t/{token}", content=b"x" * 13_000_000, timeout=GUARD),  # 413
    ]
    assert sorted({r.status_code for r in responses}) == [200, 403, 404, 405, 413]
    for r in responses:
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_a_cross_site_post_is_refused(demo, site):
    base, _ = site
    url = f"{base}/t/{link_for(demo)}"
    for headers in (
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": f"http://evil.example:{base.rsplit(':', 1)[1]}"},
    ):
        r = httpx.post(url, data=GOOD, headers=headers, timeout=GUARD)
        assert r.status_code == 403 and "请通过填报页面提交" in r.text
    with ledger(demo) as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0
    r = httpx.post(url, data=GOOD, headers={"Origin": base}, timeout=GUARD)  # from its own page
    assert r.status_code == 200
    # under Referrer-Policy: no-referrer a browser posts our own form with Origin: null
    r = httpx.post(url, data=GOOD, headers={"Origin": "null"}, timeout=GUARD)
    assert r.status_code == 200


def test_polyglots_are_refused_and_names_are_cleaned(demo, site):
    base, _ = site
    url = f"{base}/t/{link_for(demo)}"
    polyglot = make_pdf() + b"<html><script>alert(1)</script></html>"
    r = httpx.post(url, data=GOOD, files={"evidence": ("a.pdf", polyglot, "application/pdf")}, timeout=GUARD)
    assert r.status_code == 422 and "不予接收" in r.text
    name = "../../etc/发票\u202efdp.exe\x07.pdf"
    r = httpx.post(url, data=GOOD, files={"evidence": (name, make_pdf(), "application/pdf")}, timeout=GUARD)
    assert r.status_code == 200, r.text
    with ledger(demo) as s:
        (sub,) = s.scalars(select(Submission))
    stored = sub.attachments[0]["name"]
    assert "/" not in stored and "\u202e" not in stored and "\x07" not in stored and stored.endswith(".pdf")


def test_the_coordinator_api_is_throttled(demo, tmp_path):
    with serve(demo, Clock(at("2023-12-10T10:00")), tmp_path, api_rate=5, api_failures=3) as (base, _):
        wrong = [
            httpx.post(
                f"{base}/api/coordinator/accept", headers={"Authorization": "Bearer guess"}, json={}, timeout=GUARD
            ).status_code
            for _ in range(4)
        ]
        assert wrong == [403, 403, 403, 429]  # guessing the token stops
    with serve(demo, Clock(at("2023-12-10T10:20")), tmp_path, api_rate=5, api_failures=3) as (base, _):
        body = {
            "programme": DEMO,
            "year": 2023,
            "milestone": "cases-submitted",
            "participant": "city-b",
            "actor": "质量发展处",
            "reason": "核对",
        }
        codes = [
            httpx.post(
                f"{base}/api/coordinator/accept", headers={"Authorization": f"Bearer {COORDINATOR}"}, json=body, timeout=GUARD
            ).status_code
            for _ in range(6)
        ]
        assert codes[:5] == [409] * 5 and codes[5] == 429  # nothing to accept yet, then too many calls
    with ledger(demo) as s:
        assert s.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.actor == "质量发展处")) == 0


def test_calendar_text_is_escaped_in_prefect_markdown():
    from flows.artifacts import md

    hostile = '<img src=x onerror="alert(1)"> **[点我](http://evil.example)** | `code`'
    out = md(hostile)
    assert "<" not in out and ">" not in out
    assert "](" not in out.replace("\\](", "") and "\\*\\*" in out and "\\|" in out and "\\`" in out
    assert re.sub(r"\\(.)", r"\1", out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) == hostile
