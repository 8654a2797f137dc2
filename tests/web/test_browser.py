"""End to end in headless Chromium: the reminder email received by the loopback SMTP
server carries a link; it opens the form; the form's submission closes the task."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.tables import Submission
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
