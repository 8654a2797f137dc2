"""Issue 21's "Done when", in headless Chromium at 390 px: a real ``advance`` mails the
opening notice to the loopback SMTP server; its 在线填报 link opens the form; rows are
added beyond the minimum and filled; 暂存 saves a draft; the link opened again (a fresh
browser context) finds it; 提交 gives a receipt whose number the acknowledgement email
that arrives carries too; 打印回执 prints on one A4 page. A screenshot of each step."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models.tables import Draft, Submission
from tests.browser import SCREENSHOTS
from tests.engine.conftest import World, ledger
from tests.pg import free_port
from tests.web.test_intake_browser import pdf_pages
from tests.web.test_intake_pages import CALENDAR, CONTACTS, PROG, task_of
from tests.web.test_web import SECRET, Clock, at, serve

ROWS = [
    ("长春一汽富维质量提升有限公司", "1200", "质量管理体系完善\n愿意接受专家诊断"),
    ("吉林化纤精密制造有限公司", "860", "主导产品质量稳定"),
    ("四平换热器<b>集团</b>有限公司", "430", "申报条件齐全"),
    ("延边长白山食品有限公司", "95", "小微企业，急需质量帮扶"),
]


def shot(v, step: str) -> None:
    v.screenshot(f"intake-flow-390-{step}.png")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_from_a_real_reminder_email_to_a_printed_receipt_on_a_390px_phone(
    tmp_path, database_url, smtp_server, monkeypatch, visit
):
    port = free_port()
    monkeypatch.setenv("YEARWHEEL_LINK_SECRET", SECRET.decode())
    monkeypatch.setenv("YEARWHEEL_INTAKE_URL", f"http://127.0.0.1:{port}")
    world = World(
        tmp_path, database_url, smtp_server, calendar=CALENDAR, programme=PROG, contacts=CONTACTS.format(port=smtp_server.port)
    )
    try:
        world.advance("2023-04-03T09:00")  # the milestones open: the notices go out
        (mail,) = [
            m
            for m in smtp_server.messages
            if m["To"] == "a@example.gov.cn" and "各地筛选推荐符合条件的企业" in m.get_body(("plain",)).get_content()
        ]
        url = re.search(r"在线填报：(\S+)", mail.get_body(("plain",)).get_content())[1]
        assert url.startswith(f"http://127.0.0.1:{port}/t/")
        with serve(world, Clock(at("2023-04-10T10:00")), tmp_path, port=port):
            v = visit(url, width=390, height=844)
            page = v.page
            assert page.inner_text("#task-title") == "各地筛选推荐符合条件的企业"
            assert page.inner_text("#participant") == "甲市市场监督管理局"
            assert "至少填写 2 行，最多 4 行；当前 3 行。" in page.inner_text("#rules-enterprises")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot(v, "1-opened")

            page.click("#add-enterprises")  # beyond the minimum of 2 (and the 3 shown): the 4th, the last allowed
            page.wait_for_selector('[name="f.enterprises.3.name"]')
            assert (
                "当前 4 行" in page.inner_text("#rules-enterprises") and page.inner_text("#full-enterprises") == "已达最多 4 行。"
            )
            assert page.locator("#add-enterprises").count() == 0
            for i, (name, staff, reason) in enumerate(ROWS):
                page.fill(f'[name="f.enterprises.{i}.name"]', name)
                page.fill(f'[name="f.enterprises.{i}.staff"]', staff)
                page.fill(f'[name="f.enterprises.{i}.reason"]', reason)
            page.fill('[name="f.enterprises.0.since"]', "2001-05-18")
            shot(v, "2-rows-added")

            page.click("#draft")
            page.wait_for_selector("#notice")
            assert page.inner_text("#notice").startswith("已暂存（2023年4月10日（星期一）10:00）")
            shot(v, "3-draft-saved")
            with ledger(world) as s:
                assert s.scalar(select(func.count()).select_from(Submission)) == 0
                assert s.scalar(select(func.count()).select_from(Draft)) == 1
            assert task_of(world, "city-a").state == "open"  # a draft is not a submission

            v2 = visit(url, width=390, height=844)  # the link opened again, in a fresh browser
            page = v2.page
            assert page.inner_text("#notice") == "已恢复2023年4月10日（星期一）10:00暂存的内容（尚未提交）。"
            assert "当前 4 行" in page.inner_text("#rules-enterprises")
            for i, (name, staff, reason) in enumerate(ROWS):
                assert page.input_value(f'[name="f.enterprises.{i}.name"]') == name
                assert page.input_value(f'[name="f.enterprises.{i}.staff"]') == staff
                assert page.input_value(f'[name="f.enterprises.{i}.reason"]') == reason
            assert page.input_value('[name="f.enterprises.0.since"]') == "2001-05-18"
            shot(v2, "4-draft-restored")

            before = len(smtp_server.messages)
            page.click("#submit")
            page.wait_for_selector("#done")
            number = page.inner_text("#receipt-number")
            assert re.fullmatch(r"YW-2023-\d{6}-1-[0-9X]", number)
            body = page.inner_text("body")
            for i, (name, staff, _) in enumerate(ROWS):  # the summary lists every row, as text
                assert f"{i + 1}. {name}；{staff}" in body
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot(v2, "5-receipt")
            # the acknowledgement reaches the mailbox with the same number
            assert smtp_server.wait_for(before + 1, timeout=20)
            (ack,) = [m for m in smtp_server.messages[before:] if m["Subject"].startswith("【回执】")]
            assert ack["To"] == "a@example.gov.cn"
            assert re.search(r"回执编号：(YW-[0-9X-]+)", ack.get_body(("plain",)).get_content())[1] == number

            page.click("#print-link")
            page.wait_for_selector("#receipt")
            assert page.inner_text("#receipt-number") == number and "/receipt?v=1" in page.url
            page.emulate_media(media="print")
            shot(v2, "6-print")
            pdf = page.pdf(format="A4", print_background=True)
            (SCREENSHOTS / "intake-flow-390-6-print.pdf").write_bytes(pdf)
            assert pdf_pages(pdf, tmp_path) == 1
            assert v.errors == [] and v2.errors == []
        with ledger(world) as s:
            (sub,) = s.scalars(select(Submission))
            assert s.scalar(select(func.count()).select_from(Draft)) == 0  # gone with the submission
        assert [r["name"] for r in sub.payload["enterprises"]] == [r[0] for r in ROWS]
        assert [r["staff"] for r in sub.payload["enterprises"]] == [int(r[1]) for r in ROWS]
        assert task_of(world, "city-a").state == "submitted"
    finally:
        world.close()
