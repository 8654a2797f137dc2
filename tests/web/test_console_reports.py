"""The console's evaluation, participant and bulletin pages over real HTTP: what a viewer
reads and a coordinator does, the same figures as ``yearwheel evaluate``, the files they
download, and requests a hostile client makes."""

from __future__ import annotations

import io

import pytest

from tests.web.test_console import console, csrf, sign_in  # noqa: F401 — the fixture and helpers

pytestmark = pytest.mark.slow  # a real uvicorn server per test

BASE = "/console/p/engine-demo/2023"


def test_a_viewer_reads_the_ranking_and_each_participants_explanation(console):  # noqa: F811
    base, _, _ = console
    c = sign_in(base, "leader")
    page = c.get(f"{BASE}/evaluation")
    assert page.status_code == 200
    assert "2023年度考评结果" in page.text and "各市局" in page.text
    assert "迟交市市场监督管理局" in page.text and f'href="{BASE}/participant/late-city"' in page.text
    # December 27th: every city's report is overdue, nothing on time → 0 of the 60-weight indicator
    one = c.get(f"{BASE}/participant/late-city")
    assert one.status_code == 200
    assert "按时报送 0 项 ÷ 应报 1 项" in one.text and "尚未评分，不计入总分" in one.text
    assert 'href="/console/task/' in one.text  # the ledger row behind the figure
    assert 'id="rate"' not in one.text  # a viewer does not rate
    refused = c.post(
        f"{BASE}/participant/late-city/rate", data={"csrf": csrf(one.text), "indicator": "rating", "score": "80", "comment": "x"}
    )
    assert refused.status_code == 403


def test_a_coordinators_rating_enters_the_score_under_their_name(console):  # noqa: F811
    base, _, _ = console
    c = sign_in(base, "zhangsan")
    page = c.get(f"{BASE}/participant/late-city")
    token = csrf(page.text)
    form = {"csrf": token, "indicator": "rating", "score": "80", "comment": "主动说明延误原因"}
    done = c.post(f"{BASE}/participant/late-city/rate", data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=rate")
    after = c.get(f"{BASE}/participant/late-city")
    assert "zhangsan 于 2023-12-27 评分 80：主动说明延误原因" in after.text
    assert "总分 <strong>32.0</strong>" in after.text  # (60·0 + 40·80) ÷ 100
    for bad, status in (
        ({"score": "101"}, 422),
        ({"score": "-5"}, 422),
        ({"score": "八十"}, 422),
        ({"comment": ""}, 422),
        ({"indicator": "on-time"}, 422),
        ({"csrf": "forged"}, 403),
    ):
        r = c.post(f"{BASE}/participant/late-city/rate", data={**form, **bad})
        assert r.status_code == status, bad
    assert c.post(f"{BASE}/participant/province/rate", data=form).status_code == 422  # not evaluated
    assert c.get(f"{BASE}/participant/..%2Fetc").status_code == 404
    assert c.get(f"{BASE}/participant/{'a' * 200}").status_code == 404
    assert c.get("/console/p/another-programme/2023/evaluation").status_code == 404


def test_the_bulletin_and_the_files_download(console):  # noqa: F811
    from docx import Document
    from openpyxl import load_workbook

    base, _, _ = console
    c = sign_in(base, "leader")
    page = c.get(f"{BASE}/bulletin/12")
    assert page.status_code == 200 and "引擎测试计划工作月度通报" in page.text and "2023年第12期" in page.text
    word = c.get(f"{BASE}/bulletin/12.docx")
    assert word.status_code == 200 and word.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in word.headers["content-disposition"]
    assert "引擎测试计划工作月度通报" in Document(io.BytesIO(word.content)).paragraphs[0].text
    sheet = c.get(f"{BASE}/evaluation.xlsx")
    assert sheet.status_code == 200
    assert load_workbook(io.BytesIO(sheet.content))["各市局"].cell(2, 2).value == "单位"
    assert c.get(f"{BASE}/evaluation.pdf").status_code == 404
    for month in ("13", "0", "x", "12.pdf"):
        assert c.get(f"{BASE}/bulletin/{month}").status_code == 404, month
    assert c.get("/console/p/engine-demo/2024/bulletin/6").status_code == 404  # not begun on 2023-12-27
    other = sign_in(base, "other")  # a coordinator of another programme
    assert other.get(f"{BASE}/bulletin/12").status_code == 404
    assert c.get(BASE).text.count('id="evaluation-link"') == 1
