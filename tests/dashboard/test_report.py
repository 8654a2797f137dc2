"""`yearwheel report`: the self-contained HTML year report, rendered in headless Chromium."""

from __future__ import annotations

import re

from tests.engine.conftest import PROGRAMME, coordinator, submit


def _ledger(world) -> None:
    world.advance("2023-12-01T09:00")
    submit(world, "2023-12-26T10:00", "punctual-city", {"enterprises_served": 12, "summary": "<script>alert(1)</script>按期完成"})
    coordinator(world, "exempt", "2023-12-21T10:00", "exempt-city", reason="机构改革")
    world.advance("2023-12-28T09:00")


def test_report_renders_in_chromium(world, cli, tmp_path, visit, monkeypatch):
    _ledger(world)
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    out = tmp_path / "out" / "report.html"
    r = cli("report", PROGRAMME, "--year", "2023", "--at", "2023-12-28T09:00", "-o", out, "--calendar-dir", world.calendar_dir)
    assert r.exit_code == 0, r.stderr
    assert "1 milestones × 3 participants; overdue 1, late 1, on time 0" in r.stdout
    html = out.read_text(encoding="utf-8")
    # self-contained: no script, no external resource
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)

    v = visit(out.as_uri())
    page = v.page
    assert v.errors == []
    assert "2023年度执行情况" in page.inner_text("#title")
    assert page.inner_text("#on-time-rate") == "0%"  # one late of two counted (the exempted one is not)
    # the Gantt: one row, the due date drawn; the nominal marker only when a date moved (Dec 25 is a Monday)
    assert page.locator("#gantt g.row").count() == 1
    assert page.locator("#gantt path.nominal").count() == 0
    assert "2023年12月25日（周一）" in page.inner_text("#milestones")
    # the heat map: one row per participant, one coloured cell per task
    cells = {
        row.get_attribute("data-participant"): row.locator("td.c").get_attribute("class")
        for row in page.locator("#heatmap tr[data-participant]").all()
    }
    assert cells == {"punctual-city": "c late", "late-city": "c overdue", "exempt-city": "c exempted"}
    # targets with a progress bar each, the late list with working days late
    assert page.locator("#targets tr[data-target]").count() >= 1
    late = page.inner_text("#late")
    assert "迟交市市场监督管理局" in late and "逾期未报" in late and "准时市市场监督管理局" in late
    assert page.locator("#late tr.overdue-row td").nth(4).inner_text() == "3"
    v.screenshot("report-engine-demo-2023.png")


def test_report_of_a_year_not_in_the_ledger(world, cli, tmp_path, monkeypatch):
    world.advance("2023-12-01T09:00")
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    r = cli("report", PROGRAMME, "--year", "2022", "-o", tmp_path / "r.html", "--calendar-dir", world.calendar_dir)
    assert r.exit_code == 1 and "engine-demo 2022 is not in the ledger" in r.stderr
    assert not (tmp_path / "r.html").exists()


def test_moved_dates_show_nominal_and_effective(cli, tmp_path, visit, monkeypatch, simulated_jilin_2023):
    """Jilin 2023, simulated: Gantt markers for dates moved by holidays, Chinese dates in the table."""
    _, work = simulated_jilin_2023
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", f"sqlite:///{work}/jilin-quality-2022-2024-2023/ledger.db")
    out = tmp_path / "jilin.html"
    r = cli("report", "jilin-quality-2022-2024", "--year", "2023", "--at", "2023-12-31T12:00", "-o", out)
    assert r.exit_code == 0, r.stderr
    v = visit(out.as_uri())
    assert v.errors == []
    page = v.page
    moved = page.locator("#milestones tr", has_text=re.compile("顺延|提前"))
    assert moved.count() == page.locator("#gantt path.nominal").count() > 0
    # 2023-04-30 (Sun, Labour Day holiday starts) moves to Thu 2023-05-04
    table = page.inner_text("#milestones")
    assert "2023年5月4日（周四）" in table
    assert "2023年4月30日（周日，劳动节假期）" in table  # the document's date, and why it moved
    assert "2023年4月23日（周日，调休上班）" in table  # a Sunday deadline that is a working day says so
    assert page.locator("#heatmap tr[data-participant]").count() == 22
    v.screenshot("report-jilin-2023.png")


def test_the_report_says_where_next_years_working_days_stand(database_url, smtp_server, cli, tmp_path, monkeypatch):
    """A programme running 2026–2027: from November 1st, 2026, while 2027 has no working-day
    data, the report and the run summary warn (naming the command that fixes it); once the
    notice is imported, the report names its source instead."""
    from flows.artifacts import advance_summary
    from tests.engine.conftest import HERE, World, at
    from tests.timeline.test_workdays_import import NOTICE_2027
    from yearwheel import usecases as R

    demo = (HERE / "engine-demo.yaml").read_text(encoding="utf-8")
    text = demo.replace("years: {first: 2023, last: 2024}", "years: {first: 2026, last: 2027}").replace(
        "id: engine-demo", "id: run-2026", 1
    )
    world = World(tmp_path, database_url, smtp_server, calendar=text, programme="run-2026")
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    try:
        world.advance("2026-10-30T09:00")
        rt = world.runtime()
        october = R.year_view(rt, "run-2026", 2026, at("2026-10-31T09:00"))
        assert october.workday_warning is None  # the notice is not due yet
        assert october.workdays[2027][0] == "missing"
        november = R.year_view(rt, "run-2026", 2026, at("2026-11-01T09:00"))
        assert "将进入2027年，但2027年的工作日安排尚未导入" in (november.workday_warning or "")
        assert "yearwheel workdays import" in november.workday_warning
        summary = advance_summary(world.advance("2026-11-01T09:00").as_json(), [(november, "r.html")], at("2026-11-01T09:00"))
        assert "⚠️ " in summary and "2027年的工作日安排尚未导入" in summary

        out = tmp_path / "r.html"
        args = (
            "report",
            "run-2026",
            "--year",
            "2026",
            "--at",
            "2026-11-02T09:00",
            "-o",
            out,
            "--calendar-dir",
            world.calendar_dir,
        )
        assert cli(*args).exit_code == 0
        page = out.read_text(encoding="utf-8")
        assert 'id="workday-warning"' in page and "2027年 缺失" in page

        notice = tmp_path / "notice.txt"
        notice.write_text(NOTICE_2027, encoding="utf-8")
        assert cli("workdays", "import", notice, "--calendar-dir", world.calendar_dir).exit_code == 0
        assert cli(*args).exit_code == 0
        page = out.read_text(encoding="utf-8")
        assert 'id="workday-warning"' not in page
        assert "2027年 正式（国务院办公厅关于2027年部分节假日安排的通知（2026年11月20日））" in page

        (world.calendar_dir / "workdays" / "cn-2027.yaml").write_text("version: 1\nyear: 2027\n", encoding="utf-8")
        assert "2027年的工作日安排文件有误" in (
            R.year_view(world.runtime(), "run-2026", 2026, at("2026-11-02T09:00")).workday_warning or ""
        )
    finally:
        world.close()


def test_with_the_console_address_the_report_links_each_cell_to_its_task(world, cli, tmp_path, monkeypatch):
    from tests.engine.conftest import ledger, tasks_of

    world.advance("2023-12-01T09:00")
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("YEARWHEEL_WEB_URL", "https://yw.example.gov.cn/")
    out = tmp_path / "r.html"
    assert cli("report", PROGRAMME, "--year", "2023", "-o", out, "--calendar-dir", world.calendar_dir).exit_code == 0
    page = out.read_text(encoding="utf-8")
    with ledger(world) as s:
        ids = [t.id for t in s.scalars(tasks_of(2023))]
    assert len(ids) == 3 and all(f'href="https://yw.example.gov.cn/console/task/{i}"' in page for i in ids)
    assert 'href="https://yw.example.gov.cn/console/p/engine-demo/2023"' in page
    monkeypatch.delenv("YEARWHEEL_WEB_URL")
    assert cli("report", PROGRAMME, "--year", "2023", "-o", out, "--calendar-dir", world.calendar_dir).exit_code == 0
    assert "/console/" not in out.read_text(encoding="utf-8")  # no address, no dead links
