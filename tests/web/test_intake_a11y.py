"""The intake form with a screen reader and the keyboard alone (issue 21, item 7), in
headless Chromium at 390 px (cards) and 1280 px (a table): every input has a name the
accessibility tree announces, errors are linked to their fields, Tab goes through the
fields in order with a visible focus ring, Enter on 提交 submits."""

from __future__ import annotations

import pytest

from tests.web.test_intake_pages import clinic, url_for  # noqa: F401 — the fixture
from tests.web.test_web import Clock, at, serve

CONTROLS = "form input:not([type=hidden]), form textarea, form select"
FOCUSABLE = """() => [...document.querySelectorAll('a[href], button, input, textarea, select, [tabindex]')]
    .filter(e => e.tabIndex >= 0 && e.type !== 'hidden' && !e.disabled).map(e => e.name && e.tagName !== 'BUTTON' ? e.name : e.id || e.value)"""
ACTIVE = "() => { const e = document.activeElement; return e.name && e.tagName !== 'BUTTON' ? e.name : e.id || e.value }"
RING = """() => { const e = document.activeElement; const s = getComputedStyle(e.type === 'file' ? e.labels[0] : e);
    return [s.outlineStyle, parseFloat(s.outlineWidth)] }"""


def ax_names(page) -> dict[str, str]:
    """What the accessibility tree (what a screen reader reads) names each form control, by its DOM id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.getDocument", {"depth": -1})
    out: dict[str, str] = {}
    for node in cdp.send("Accessibility.getFullAXTree")["nodes"]:
        backend = node.get("backendDOMNodeId")
        if backend is None or node.get("ignored"):
            continue
        described = cdp.send("DOM.describeNode", {"backendNodeId": backend})["node"]
        if described.get("nodeName") in ("INPUT", "TEXTAREA", "SELECT"):
            attrs = described.get("attributes", [])
            ident = dict(zip(attrs[::2], attrs[1::2], strict=True)).get("id", "")
            out[ident] = (node.get("name") or {}).get("value", "")
    return out


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_input_is_named_tab_goes_in_order_with_a_ring_and_enter_submits(clinic, tmp_path, visit, width):  # noqa: F811
    with serve(clinic, Clock(at("2023-04-10T10:00")), tmp_path) as (base, _):
        v = visit(url_for(clinic, base), width=width, height=900)
        page = v.page
        ids = page.eval_on_selector_all(CONTROLS, "els => els.map(e => e.id)")
        assert len(ids) == 1 + 3 * 5 + 1  # the note, three rows of five cells, the file input
        names = ax_names(page)
        unnamed = [i for i in ids if not names.get(i, "").strip()]
        assert unnamed == [], unnamed
        assert names["f.enterprises.1.staff"] == "推荐企业 第2行 职工人数"  # a cell says its table, row and column
        assert names["f.note"].startswith("推荐说明") and names["evidence"].startswith("选择附件")
        # each has a <label for> too (on the cards it is what is seen)
        assert page.eval_on_selector_all(CONTROLS, "els => els.filter(e => e.labels.length === 0).map(e => e.id)") == []
        # buttons are buttons: every one a <button> of the form, the print link a link; nothing clickable else
        assert page.eval_on_selector_all("[onclick], [role=button], div[tabindex], span[tabindex]", "els => els.length") == 0
        assert set(page.eval_on_selector_all("form button", "els => els.map(e => e.type)")) == {"submit"}

        # Tab from the top of the page goes through the fields in reading order, each with a ring
        order = page.evaluate(FOCUSABLE)
        assert order[:3] == ["f.note", "f.enterprises.0.name", "f.enterprises.0.staff"] and order[-2:] == ["draft", "submit"]
        assert order.index("del:enterprises:0") == order.index("f.enterprises.0.reason") + 1  # a row's own button after it
        assert order.index("add-enterprises") == order.index("del:enterprises:2") + 1
        seen: list[str] = []
        for _ in range(len(order) * 4):  # a date input takes a Tab per part (年/月/日)
            page.keyboard.press("Tab")
            now = page.evaluate(ACTIVE)
            style, px = page.evaluate(RING)
            assert style != "none" and px >= 2, (now, style, px)
            if not seen or seen[-1] != now:
                seen.append(now)
            if now == "submit":
                break
        assert seen == order

        # Enter on 提交 submits; with problems, the summary has the focus and its links go to the fields
        page.fill('[name="f.enterprises.0.name"]', "长春甲公司")
        page.fill('[name="f.enterprises.1.staff"]', "一百")
        page.focus("#submit")
        page.keyboard.press("Enter")
        page.wait_for_selector("#problems")
        assert page.evaluate("document.activeElement.id") == "problems"
        first = page.locator("#problems a").first
        assert first.get_attribute("href") == "#f.enterprises.1.name"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#f.enterprises.1.name"
        page.keyboard.press("Enter")
        page.wait_for_function("location.hash === '#f.enterprises.1.name'")
        field = page.locator('[id="f.enterprises.1.name"]')
        assert field.get_attribute("aria-invalid") == "true"
        described = field.get_attribute("aria-describedby")
        assert page.inner_text(f"#{described}") == "推荐企业 第2行 企业名称：此项必填"
        assert page.evaluate("document.activeElement.id") == "f.enterprises.1.name"
        box = field.bounding_box()
        assert 0 <= box["y"] <= page.viewport_size["height"]
        v.screenshot(f"intake-errors-{width}.png")
        page.keyboard.type("长春乙公司")
        page.fill('[name="f.enterprises.1.staff"]', "100")
        page.focus("#submit")
        page.keyboard.press("Enter")
        page.wait_for_selector("#done")
        assert [e for e in v.errors if "status of 422" not in e] == []
