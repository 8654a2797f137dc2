"""End to end in headless Chromium: the reminder email received by the loopback SMTP
server carries a link; it opens the form; the form's submission closes the task."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.tables import StatusChange, Submission
from tests.web.test_uploads import make_pdf
from tests.engine.conftest import ledger, tasks_of
from tests.web.test_web import SECRET, Clock, at, serve
from tests.pg import free_port


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_from_the_email_link_to_a_closed_task(world, tmp_path, monkeypatch, visit):
    port = free_port()
    monkeypatch.setenv("YEARWHEEL_LINK_SECRET", SECRET.decode())
    monkeypatch.setenv("YEARWHEEL_INTAKE_URL", f"http://127.0.0.1:{port}")
    world.advance("2023-12-01T09:00")
    (mail,) = [m for m in world.smtp.messages if m["To"] == "office@late.example.gov.cn"]
    body = mail.get_body(("plain",)).get_content()
    url = re.search(r"在线填报：(\S+)", body).group(1)
    assert url.startswith(f"http://127.0.0.1:{port}/t/")

    evidence = tmp_path / "走访记录.pdf"
    evidence.write_bytes(make_pdf())
    with serve(world, Clock(at("2023-12-20T16:00")), tmp_path, port=port):
        v = visit(url)
        page = v.page
        assert page.inner_text("#participant") == "迟交市市场监督管理局"
        assert page.inner_text("#due") == "2023年12月25日（星期一）"
        v.screenshot("intake-form.png")
        page.fill('[name="f.enterprises_served"]', "二十")  # a mistake first
        page.fill('[name="f.summary"]', "走访企业<b>20</b>家")
        page.click("#submit")
        page.wait_for_selector("#problems")
        assert "应填写整数，实际为 “二十”" in page.inner_text("#problems")
        assert page.input_value('[name="f.summary"]') == "走访企业<b>20</b>家"  # kept, as text
        v.screenshot("intake-form-problems.png")
        page.fill('[name="f.enterprises_served"]', "20")
        page.set_input_files("#evidence", str(evidence))
        page.click("#submit")
        page.wait_for_selector("#done")
        assert page.inner_text("#version") == "1"
        assert "走访记录.pdf" in page.inner_text("body")
        v.screenshot("intake-submitted.png")
        # the re-rendered form with problems is a 422 (on purpose), which Chromium logs
        assert [e for e in v.errors if "status of 422" not in e] == []
    with ledger(world) as s:
        task = s.scalars(tasks_of(2023, "late-city")).one()
        sub = s.scalars(select(Submission).where(Submission.task_id == task.id)).one()
    assert (task.state, task.on_time) == ("submitted", True)
    assert sub.payload == {"enterprises_served": 20, "summary": "走访企业<b>20</b>家"}
    assert sub.attachments[0]["name"] == "走访记录.pdf"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_coordinator_finds_the_late_units_and_returns_extends_and_exempts_in_the_console(world, tmp_path, visit):
    """Sign in; the board; a late task; return it with a reason (the bureau's mailbox gets
    it, the audit row names the user); extend it (the next reminder names the new date);
    the milestone page; the outbox. Screenshots of each page."""
    from tests.web.test_console import PASSWORD, eventually, users

    world.advance("2023-12-01T09:00")
    submit_late = {"enterprises_served": 3, "summary": "已走访3家"}
    from tests.engine.conftest import submit

    submit(world, "2023-12-26T10:00", "late-city", submit_late)  # a late submission, to be returned
    world.advance("2023-12-26T11:00")
    engine, _ = users(world)
    clock = Clock(at("2023-12-27T10:00"))
    with serve(world, clock, tmp_path) as (base, _):
        v = visit(f"{base}/console")
        page = v.page
        assert "/console/login" in page.url
        v.screenshot("console-login.png")
        page.fill('[name="username"]', "zhangsan")
        page.fill('[name="password"]', PASSWORD)
        page.click("#login button")
        page.wait_for_selector("#years")
        v.screenshot("console-home.png")
        page.click("#years a")
        page.wait_for_selector("#board")
        assert "逾期未报 2" in page.inner_text("#counts") and "逾期报送 1" in page.inner_text("#counts")
        v.screenshot("console-board.png")
        page.click('#board a[title^="迟交市市场监督管理局"]')
        page.wait_for_selector("#actions")
        assert "迟交市市场监督管理局 · 提交年度提升成效表" in page.inner_text("#title")
        v.screenshot("console-task.png")
        page.fill("#return textarea", "服务企业数与走访记录不符，请核对后重新报送")
        page.click("#return button")
        page.wait_for_selector("#state")
        assert "退回修改" in page.inner_text("#state")
        assert "zhangsan" in page.inner_text("#history")
        assert eventually(
            lambda: any(
                "服务企业数与走访记录不符" in m.get_body().get_content()
                for m in world.smtp.messages
                if m["To"] == "office@late.example.gov.cn"
            )
        )
        page.fill('#extend [name="to"]', "2024-01-05")
        page.fill('#extend [name="reason"]', "退回后给予修改时间")
        page.click("#extend button")
        page.wait_for_selector("#state")
        assert "截止 2024-01-05" in page.inner_text("#state")
        v.screenshot("console-task-after.png")
        page.goto(f"{base}/console/p/engine-demo/2023/m/results-submitted?days=3")
        page.wait_for_selector("#preview")
        v.screenshot("console-milestone.png")
        page.goto(f"{base}/console/outbox")
        v.screenshot("console-outbox.png")
        assert v.errors == []
    engine.dispose()
    with ledger(world) as s:
        rows = list(s.scalars(select(StatusChange).where(StatusChange.actor == "zhangsan")))
    assert {r.to_state for r in rows} >= {"returned"} and any("退回后给予修改时间" in (r.reason or "") for r in rows)
    # the reminders that follow use the new date: one working day before 2024-01-05 is 01-04
    world.advance("2024-01-04T09:00")
    last = [m for m in world.smtp.messages if m["To"] == "office@late.example.gov.cn"][-1]
    assert "2024年1月5日" in last.get_body().get_content()
