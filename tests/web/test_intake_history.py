"""The intake form after a return and when it has problems (issue 21, items 6 and 7), over
real HTTP (uvicorn on loopback, httpx), the ledger on SQLite and PostgreSQL: the
coordinator's reason from the return's audit row, the returned version's values to start
from (a draft wins; the page says which), and each error linked to its field."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from models.tables import StatusChange
from tests.web.test_intake_pages import GUARD, PROG, ROW0, ROW1, clinic, site, task_of, url_for, value_of  # noqa: F401
from tests.web.test_web import COORDINATOR

pytestmark = pytest.mark.slow  # a real uvicorn server per test


def coordinator(base: str, action: str, reason: str, participant: str = "city-a") -> None:
    r = httpx.post(
        f"{base}/api/coordinator/{action}",
        headers={"Authorization": f"Bearer {COORDINATOR}"},
        json={"programme": PROG, "year": 2023, "milestone": "recommendations", "participant": participant, "reason": reason},
        timeout=GUARD,
    )
    assert r.status_code == 200, r.text


def return_from_the_cli(world, reason: str, when: str = "2023-04-10T10:30") -> None:
    """A return as ``yearwheel return`` records it (no length limit of the API's)."""
    from models import submissions as U
    from tests.web.test_web import at

    rt = world.runtime()
    try:
        with rt.sessions.begin() as s:
            ref = U.find_task(s, PROG, 2023, "recommendations", "city-a")
            U.return_for_revision(
                s, rt.programme(PROG), ref, at=at(when), actor="coordinator", reason=reason, messenger=rt.messenger
            )
    finally:
        rt.close()


def test_a_returned_version_shows_the_reason_and_starts_from_its_values_unless_a_draft_wins(clinic, site):  # noqa: F811
    from tests.engine.conftest import ledger

    base, _ = site
    url = url_for(clinic, base)
    assert 'id="returned"' not in httpx.get(url, timeout=GUARD).text  # nothing returned yet
    first = ROW0 | ROW1 | {"f.note": "第一版说明", "f.enterprises.0.since": "2001-05-01", "f.enterprises.0.output": "35.0"}
    assert httpx.post(url, data=first, timeout=GUARD).status_code == 200
    assert 'id="returned"' not in httpx.get(url, timeout=GUARD).text  # submitted, not returned
    reason = "乙公司不符合申报条件<script>alert(1)</script>\n请更换后重新报送。" + "详" * 3000
    return_from_the_cli(clinic, reason)
    assert task_of(clinic, "city-a").state == "returned"
    with ledger(clinic) as s:  # the one place the reason is kept: the return's audit row
        (row,) = s.scalars(select(StatusChange).where(StatusChange.to_state == "returned"))
    assert row.reason == reason

    page = httpx.get(url, timeout=GUARD).text
    box = re.search(r'<div class="box warn" id="returned".*?</div>', page, re.S)[0]
    assert "第 1 版已于2023年4月10日（星期一）10:30退回修改" in box  # the states' own word for it
    shown = re.search(r'id="return-reason">([^<]*)<', box, re.S)[1]
    assert shown.startswith("乙公司不符合申报条件&lt;script&gt;alert(1)&lt;/script&gt;\n请更换后重新报送。详")
    assert shown.endswith("详…") and len(shown) < 2100  # bounded, escaped
    assert "<script>alert(1)" not in page
    # the returned version's values, as typed, to start from; the page says so
    assert "已填入被退回的第 1 版（2023年4月10日（星期一）10:00提交）的内容" in page
    assert value_of(page, "enterprises.0.name") == "长春甲公司" and value_of(page, "enterprises.0.staff") == "120"
    assert value_of(page, "enterprises.0.output") == "35" and value_of(page, "enterprises.0.since") == "2001-05-01"
    assert value_of(page, "enterprises.1.reason") == ROW1["f.enterprises.1.reason"] and value_of(page, "note") == "第一版说明"
    assert "<b>基础</b>" not in page
    # another bureau sees neither the reason nor the values
    other = httpx.get(url_for(clinic, base, "city-b"), timeout=GUARD).text
    assert 'id="returned"' not in other and "长春甲公司" not in other

    # a draft wins over the returned version, and the page says which was restored
    draft = {"f.enterprises.0.name": "长春丙公司", "n.enterprises": "3", "op": "draft"}
    assert httpx.post(url, data=draft, timeout=GUARD).status_code == 200
    page = httpx.get(url, timeout=GUARD).text
    assert "已恢复2023年4月10日（星期一）10:00暂存的内容（尚未提交）。被退回的第 1 版未填入。" in page
    assert value_of(page, "enterprises.0.name") == "长春丙公司" and value_of(page, "enterprises.1.name") == ""
    assert 'id="return-reason"' in page  # the reason is still said

    # the new version closes the return: no reason, no prefill any more
    assert httpx.post(url, data=ROW0 | {"f.enterprises.1.name": "长春丁公司"}, timeout=GUARD).status_code == 200
    page = httpx.get(url, timeout=GUARD).text
    assert 'id="returned"' not in page and "已填入" not in page and value_of(page, "enterprises.0.name") == ""
    # returned again, then past its date (overdue): the latest return is still what is said
    coordinator(base, "return", "第二次退回：丁公司材料不全")
    page = httpx.get(url, timeout=GUARD).text
    assert "第 2 版已于" in page and "第二次退回：丁公司材料不全" in page
    assert value_of(page, "enterprises.1.name") == "长春丁公司" and "乙公司不符合" not in page
    clinic.advance("2023-04-24T09:00")
    assert task_of(clinic, "city-a").state == "overdue"
    page = httpx.get(url, timeout=GUARD).text
    assert "第二次退回：丁公司材料不全" in page and value_of(page, "enterprises.1.name") == "长春丁公司"
    # once exempted there is nothing to revise
    coordinator(base, "exempt", "机构撤并")
    page = httpx.get(url, timeout=GUARD).text
    assert 'id="returned"' not in page and "已豁免" in page


def test_each_error_has_an_id_its_input_points_to_and_the_summary_links_to_it(clinic, site):  # noqa: F811
    base, _ = site
    url = url_for(clinic, base)
    # row 1 left empty: the payload's second row is the page's third
    typed = ROW0 | {"f.enterprises.2.name": "", "f.enterprises.2.staff": "一百", "n.enterprises": "3"}
    r = httpx.post(url, data=typed | {"op": "submit"}, timeout=GUARD)
    assert r.status_code == 422, r.text
    page = r.text
    summary = re.search(r'<div class="box alert" id="problems"[^>]*>(.*?)</div>', page, re.S)
    assert 'tabindex="-1" autofocus' in summary[0]
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary[1])
    targets = dict((text, href) for href, text in links)
    assert targets["推荐企业 第2行 职工人数：应填写整数，实际为 “一百”"] == "f.enterprises.2.staff"
    assert targets["推荐企业 第2行 企业名称：此项必填"] == "f.enterprises.2.name"
    for href, text in links:
        assert f'id="{href}"' in page, href  # every link has its field
        err = re.search(rf'<div class="err" id="(err-\d+)">{re.escape(text)}</div>', page)
        assert err, text  # and the message is shown by it with an id
    # the input is marked invalid and described by its message
    tag = re.search(r'<input[^>]*name="f\.enterprises\.2\.staff"[^>]*>', page)[0]
    err_id = re.search(r'<div class="err" id="(err-\d+)">推荐企业 第2行 职工人数', page)[1]
    assert 'aria-invalid="true"' in tag and f'aria-describedby="{err_id}"' in tag
    assert value_of(page, "enterprises.2.staff") == "一百"
    untouched = re.search(r'<input[^>]*name="f\.enterprises\.0\.staff"[^>]*>', page)[0]
    assert "aria-invalid" not in untouched and "aria-describedby" not in untouched
    # the table's own problem (row count) describes the table and its first cell, where its link goes
    page = httpx.post(url, data=ROW0 | {"n.enterprises": "3"}, timeout=GUARD).text
    assert '<a href="#f.enterprises.0.name">推荐企业：应填写至少 2、至多 4 行，实际 1 行</a>' in page
    rows_err = re.search(r'<div class="err" id="(err-\d+)">推荐企业：应填写至少', page)[1]
    assert re.search(rf'<table class="rows" id="table-enterprises"[^>]*aria-describedby="rules-enterprises {rows_err}"', page)
    first = re.search(r'<input[^>]*name="f\.enterprises\.0\.name"[^>]*>', page)[0]
    assert rows_err in first and "aria-invalid" not in first
    # a bad file: its message under the file input, which points to it
    r = httpx.post(url, data=ROW0 | ROW1, files={"evidence": ("a.pdf", b"MZ not a pdf", "application/pdf")}, timeout=GUARD)
    assert r.status_code == 422
    ev = re.search(r'<input type="file" id="evidence"[^>]*>', r.text)[0]
    err_id = re.search(r'aria-describedby="(err-\d+)"', ev)[1]
    assert 'aria-invalid="true"' in ev and re.search(rf'<div class="err" id="{err_id}">“a.pdf”', r.text)
    assert '<a href="#evidence">“a.pdf”' in r.text
    # a draft's type error is linked the same way, the summary saying 暂存
    r = httpx.post(url, data={"f.enterprises.0.staff": "十二", "n.enterprises": "3", "op": "draft"}, timeout=GUARD)
    assert r.status_code == 422 and "暂存未成功" in r.text
    assert '<a href="#f.enterprises.0.staff">推荐企业 第1行 职工人数：应填写整数，实际为 “十二”</a>' in r.text
