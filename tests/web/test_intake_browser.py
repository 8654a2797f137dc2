"""The intake form in headless Chromium as a clerk sees it (issue 21): on a 390 px phone
(the office chat app's browser) a table is one card per row of full-width labelled
inputs; on a 1280 px office screen it stays a table; rows are added without JavaScript,
a draft comes back, the receipt prints on one A4 page. Screenshots in ci-artifacts."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from models.tables import Draft, Submission
from tests.engine.conftest import ledger
from tests.web.test_intake_pages import clinic, url_for  # noqa: F401 — the fixture
from tests.web.test_uploads import make_pdf
from tests.web.test_web import Clock, at, serve

FORM_INPUTS = "form input:not([type=hidden]):not([type=file]), form textarea, form select"


def widths(page) -> list[float]:
    return page.eval_on_selector_all(FORM_INPUTS, "els => els.map(e => e.getBoundingClientRect().width)")


def pdf_pages(data: bytes, tmp_path) -> int:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(data)
    if shutil.which("pdfinfo"):
        out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", out, re.M)[1])
    return len(re.findall(rb"/Type\s*/Page\b", data))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_a_390px_phone_a_table_is_cards_of_full_width_inputs(clinic, tmp_path, visit):  # noqa: F811
    evidence = tmp_path / "推荐材料.pdf"
    evidence.write_bytes(make_pdf())
    with serve(clinic, Clock(at("2023-04-10T10:00")), tmp_path) as (base, _):
        url = url_for(clinic, base)
        v = visit(url, width=390, height=844)
        page = v.page
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
        assert page.eval_on_selector("#table-enterprises thead", "e => getComputedStyle(e).display") == "none"
        assert page.eval_on_selector("#table-enterprises tr.row", "e => getComputedStyle(e).display") == "block"
        assert min(widths(page)) >= 300, widths(page)
        # each input is labelled on its card; the text column is a text area; keyboards and pickers
        assert page.locator('label[for="f.enterprises.0.name"]').is_visible()
        assert page.inner_text('label[for="f.enterprises.0.reason"]') == "推荐理由"
        assert page.eval_on_selector('[name="f.enterprises.0.reason"]', "e => e.tagName") == "TEXTAREA"
        assert page.get_attribute('[name="f.enterprises.0.staff"]', "inputmode") == "numeric"
        assert page.get_attribute('[name="f.enterprises.0.output"]', "inputmode") == "decimal"
        assert page.get_attribute('[name="f.enterprises.0.since"]', "type") == "date"
        # the file button is a Chinese label; the browser's own (English here) button is not shown
        assert page.locator("#evidence-button").is_visible() and page.inner_text("#evidence-button") == "选择附件（可多选）"
        assert page.eval_on_selector("#evidence", "e => getComputedStyle(e).opacity") == "0"
        assert "至少填写 2 行，最多 4 行" in page.inner_text("#rules-enterprises")
        v.screenshot("intake-phone-390.png")

        page.fill('[name="f.enterprises.0.name"]', "长春甲公司")
        page.fill('[name="f.enterprises.0.reason"]', "质量管理基础好\n愿意接受诊断")
        page.click("#add-enterprises")
        page.wait_for_selector('[name="f.enterprises.3.name"]')
        assert page.input_value('[name="f.enterprises.0.reason"]') == "质量管理基础好\n愿意接受诊断"
        page.click("#draft")
        page.wait_for_selector("#notice")
        assert "已暂存" in page.inner_text("#notice")
        page.goto(url)  # the tab closed and the link opened again
        assert "已恢复" in page.inner_text("#notice") and page.input_value('[name="f.enterprises.0.name"]') == "长春甲公司"
        v.screenshot("intake-phone-390-draft.png")

        page.fill('[name="f.enterprises.1.name"]', "长春乙公司")
        page.set_input_files("#evidence", str(evidence))
        page.click("#submit")
        page.wait_for_selector("#done")
        assert re.fullmatch(r"YW-2023-\d{6}-1-[0-9X]", page.inner_text("#receipt-number"))
        assert "推荐材料.pdf" in page.inner_text("#receipt-files")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        v.screenshot("intake-phone-390-receipt.png")
        assert v.errors == []
    with ledger(clinic) as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0
        (sub,) = s.scalars(select(Submission))
    assert [r["name"] for r in sub.payload["enterprises"]] == ["长春甲公司", "长春乙公司"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_a_1280px_screen_the_table_stays_a_table_and_the_receipt_prints_on_one_a4_page(clinic, tmp_path, visit):  # noqa: F811
    with serve(clinic, Clock(at("2023-04-10T10:00")), tmp_path) as (base, _):
        url = url_for(clinic, base)
        v = visit(url, width=1280, height=900)
        page = v.page
        assert page.eval_on_selector("#table-enterprises thead", "e => getComputedStyle(e).display") == "table-header-group"
        tops = page.eval_on_selector_all(
            "#table-enterprises tr.row:first-child :is(input, textarea)",
            "els => els.map(e => Math.round(e.getBoundingClientRect().top))",
        )
        assert len(tops) == 5 and max(tops) - min(tops) <= 4  # one row, side by side
        # the column head names each input; the card labels are kept for screen readers only
        assert page.locator('label[for="f.enterprises.0.name"]').bounding_box()["width"] <= 1
        v.screenshot("intake-desktop-1280.png")
        # Enter in a field presses 提交 (not the first row's 删除此行): the form comes back with its problems
        page.fill('[name="f.enterprises.0.name"]', "长春甲公司")
        page.press('[name="f.enterprises.0.name"]', "Enter")
        page.wait_for_selector("#problems")
        assert "推荐企业：应填写至少 2、至多 4 行，实际 1 行" in page.inner_text("#problems")
        assert page.input_value('[name="f.enterprises.0.name"]') == "长春甲公司"
        # four rows, long reasons: the receipt still fits one A4 page
        page.click("#add-enterprises")
        page.wait_for_selector('[name="f.enterprises.3.name"]')
        for i in range(4):
            page.fill(f'[name="f.enterprises.{i}.name"]', f"长春第{i + 1}家质量提升企业有限公司")
            page.fill(f'[name="f.enterprises.{i}.reason"]', "企业质量管理基础较好，愿意接受专家上门诊断。" * 40)
        page.fill('[name="f.note"]', "按照申报条件筛选推荐。" * 150)
        page.click("#submit")
        page.wait_for_selector("#done")
        number = page.inner_text("#receipt-number")
        v.screenshot("intake-desktop-1280-receipt.png")
        page.click("#print-link")
        page.wait_for_selector("#receipt")
        assert page.inner_text("#receipt-number") == number and "/receipt?v=1" in page.url
        page.emulate_media(media="print")
        assert not page.locator(".noprint").is_visible()
        v.screenshot("intake-receipt-print.png")
        assert pdf_pages(page.pdf(format="A4", print_background=True), tmp_path) == 1
        assert [e for e in v.errors if "status of 422" not in e] == []
