"""Printing the Excel templates as a bureau does, to sign and stamp them (盖章): export real
workbooks, convert them to PDF with LibreOffice (Debian's libreoffice-calc-nogui), and read
the pages back (poppler-utils: pdftotext, pdftoppm).

Each visible sheet is also converted on its own (a copy without the other sheets), so a
page count is asserted per sheet: nothing is split across pages by width, and a sheet needs
exactly the pages its rows fill. Skipped when LibreOffice or poppler is missing, unless
YEARWHEEL_REQUIRE_LIBREOFFICE=1 (CI), where that is a failure. A page of each rendering goes
to $YEARWHEEL_SCREENSHOTS when it is set, for reviewers to look at.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook

from yearwheel.excel import MAIN, META, SIGNATURE, TaskSheet, build_workbook
from models.forms import find_form
from models.timeline import WorkdayCalendar
from tests.conftest import JILIN, JILIN_ID
from tests.engine.conftest import PROGRAMME

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
TOOLS = {"soffice": SOFFICE, "pdftotext": shutil.which("pdftotext"), "pdftoppm": shutil.which("pdftoppm")}
PACKAGES = "libreoffice-calc-nogui poppler-utils fonts-wqy-zenhei"
TIMEOUT = 180  # seconds: a guard against a hung LibreOffice, not an expected duration
A4 = "9"  # paperSize code
ENTERPRISE_HEADERS = ["企业名称 *", "统一社会信用代码 *", "所属产业 *", "联系人及电话 *", "推荐理由 *"]
PLAN_HEADERS = ["产品品种或产业园区名称 *", "类型 *", "涉及县（市、区）", "主要提升措施 *", "预期成效 *"]


def squash(text: str) -> str:
    """PDF text without whitespace: wrapped cells and spaced-out footers compare as typed."""
    return re.sub(r"\s+", "", text)


@dataclass
class Rendered:
    pdf: Path
    pages: list[str]  # pdftotext's text of each page, in order


class Office:
    """LibreOffice with a profile of its own for this test session (parallel and CI runs
    never share one, nor the developer's)."""

    def __init__(self, profile: Path):
        self.profile = profile

    def convert(self, files: list[Path], outdir: Path) -> dict[Path, Rendered]:
        """Every file to PDF in one LibreOffice start; returns each file's pages."""
        outdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            SOFFICE,
            f"-env:UserInstallation={self.profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            *map(str, files),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        out = {}
        for f in files:
            pdf = outdir / f"{f.stem}.pdf"
            assert pdf.exists(), f"LibreOffice did not convert {f.name}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
            text = subprocess.run(
                [TOOLS["pdftotext"], "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=TIMEOUT, check=True
            ).stdout
            pages = text.split("\f")
            if pages and not pages[-1].strip():
                pages.pop()  # pdftotext ends every page with a form feed
            out[f] = Rendered(pdf, pages)
        return out

    def render(self, path: Path, outdir: Path) -> tuple[Rendered, dict[str, Rendered]]:
        """The whole workbook, and each visible sheet printed on its own."""
        copies = {}
        outdir.mkdir(parents=True, exist_ok=True)
        for name in visible_sheets(path):
            wb = load_workbook(path)
            for ws in list(wb.worksheets):
                if ws.title != name and ws.sheet_state == "visible":
                    wb.remove(ws)  # not hidden: LibreOffice prints a hidden sheet that has a print area
            wb.active = wb.sheetnames.index(name)
            copies[name] = outdir / f"{path.stem}--sheet{len(copies) + 1}.xlsx"
            wb.save(copies[name])
        done = self.convert([path, *copies.values()], outdir)
        return done[path], {name: done[copy] for name, copy in copies.items()}


def visible_sheets(path: Path) -> list[str]:
    return [ws.title for ws in load_workbook(path).worksheets if ws.sheet_state == "visible"]


@pytest.fixture(scope="session")
def office(tmp_path_factory) -> Office:
    missing = [name for name, where in TOOLS.items() if where is None]
    if missing:
        why = f"{', '.join(missing)} not installed (apt-get install --no-install-recommends {PACKAGES})"
        if os.environ.get("YEARWHEEL_REQUIRE_LIBREOFFICE") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return Office(tmp_path_factory.mktemp("libreoffice-profile"))


def screenshot(rendered: Rendered, page: int, name: str) -> None:
    """Page ``page`` (1-based) as a PNG in $YEARWHEEL_SCREENSHOTS, when that is set."""
    where = os.environ.get("YEARWHEEL_SCREENSHOTS")
    if not where:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    stem = Path(where) / name
    subprocess.run(
        [TOOLS["pdftoppm"], "-png", "-r", "60", "-singlefile", "-f", str(page), "-l", str(page), str(rendered.pdf), str(stem)],
        check=True,
        timeout=TIMEOUT,
    )
    assert stem.with_suffix(".png").stat().st_size > 0


def assert_print_setup(path: Path, orientations: dict[str, str], title_rows: dict[str, str | None]) -> None:
    """The settings themselves, as Excel and WPS read them."""
    wb = load_workbook(path)
    assert wb[META].sheet_state == "veryHidden"
    assert set(orientations) == set(visible_sheets(path))
    for name, orientation in orientations.items():
        ws = wb[name]
        ps = ws.page_setup
        assert ws.sheet_properties.pageSetUpPr.fitToPage, name
        assert (int(ps.fitToWidth), int(ps.fitToHeight)) == (1, 0), name  # one page wide, any number high
        assert str(ps.paperSize) == A4 and ps.orientation == orientation, name
        assert ws.print_options.horizontalCentered, name
        assert ws.print_title_rows == title_rows[name], name
        assert ws.print_area and ws.print_area.startswith(f"'{name}'!$A$1:"), name
        assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text
        m = ws.page_margins
        assert 0.25 <= min(m.left, m.right) and max(m.left, m.right, m.top, m.bottom) <= 1.0, name


def assert_signature_block(rendered: Rendered) -> None:
    text = squash(rendered.pages[-1])
    for label in SIGNATURE:
        assert f"{label}：" in text, label


def export(cli, programme: str, milestone: str, participant: str, out: Path, *extra: str) -> Path:
    r = cli(
        "forms", "export", programme, "--year", "2023", "--milestone", milestone, "--participant", participant, "-o", out, *extra
    )
    assert r.exit_code == 0, r.stderr
    (path,) = out.glob("*.xlsx")
    return path


@pytest.fixture
def jilin(cli, tmp_path, monkeypatch, sqlite_template):
    """A ledger with Jilin's 2023 planned (as in tests/web/test_excel.py)."""
    db = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", f"sqlite:///{db}")
    r = cli("advance", "--at", "2023-04-03T09:00", "--programme", JILIN_ID, "--no-prefect")
    assert r.exit_code == 0, r.stderr
    return cli


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_plain_form_prints_on_one_page_with_its_signature_block(cli, world, tmp_path, office):
    world.advance("2023-12-01T09:00")
    path = export(
        cli, PROGRAMME, "results-submitted", "punctual-city", tmp_path / "forms", "--calendar-dir", str(world.calendar_dir)
    )
    # 填报表's columns (124 character widths, 233 mm) are wider than a portrait page (184.6 mm)
    assert_print_setup(path, {MAIN: "landscape"}, {MAIN: None})
    ws = load_workbook(path)[MAIN]
    assert "A1:C1" in {str(r) for r in ws.merged_cells.ranges} and ws["A1"].alignment.wrap_text

    whole, sheets = office.render(path, tmp_path / "pdf")
    assert len(whole.pages) == 1 and len(sheets[MAIN].pages) == 1
    text = squash(whole.pages[0])
    assert "引擎测试计划（2023年）" in text  # the title, whole
    for label in (
        "填报事项",
        "准时市市场监督管理局",
        "年度提升成效表",
        "2023年12月25日（星期一）",
        "服务企业数*",
        "工作总结*",
        "抽检批次",
        "合格批次",
    ):
        assert label in text, label
    assert_signature_block(whole)
    assert "第1页/共1页" in text
    screenshot(whole, 1, "excel-print-engine-demo-results")

    # what a bureau writes in the signature block is not read back as data
    wb = load_workbook(path)
    ws = wb[MAIN]
    for row in ws.iter_rows(min_col=1, max_col=2):
        label = str(row[0].value or "")
        if label.startswith("服务企业数"):
            row[1].value = 3
        elif label.startswith("工作总结"):
            row[1].value = "好"
        elif label.rstrip("：") in SIGNATURE:
            row[1].value = "张三 0431-1234567"
    wb.save(path)
    r = cli(
        "forms", "import", path, "--at", "2023-12-20T15:00", "--calendar-dir", world.calendar_dir, "--contacts", world.contacts
    )
    assert r.exit_code == 0, r.stderr
    assert "recorded punctual-city results-submitted version 1" in r.stdout


def fill(ws, rows: list[list[object]]) -> None:
    """Type rows as Excel does: a new cell takes its column's format (here: wrap text)."""
    from copy import copy

    for values in rows:
        ws.append(values)
        for cell in ws[ws.max_row]:
            col = ws.column_dimensions[cell.column_letter]
            if col.alignment is not None:
                cell.alignment = copy(col.alignment)


def enterprises(n: int) -> list[list[object]]:
    return [
        [
            f"长春市第{i + 1}汽车零部件有限公司",
            f"9122010{i:02d}MA0000000{i % 10}",
            "汽车零部件",
            f"张三 0431-8{i:06d}",
            "质量管理体系健全，有提升需求",
        ]
        for i in range(n)
    ]


def test_jilin_enterprise_recommendations_print_one_page_wide(jilin, tmp_path, office):
    """The table form with its minimum rows (5): 填报表 on one page, the table on the next, all
    five columns on it; with more rows than a page holds, the header row comes again."""
    path = export(jilin, JILIN_ID, "clinic-recommendations", "changchun", tmp_path / "forms")
    spec_min = 5  # the min-recommended-enterprises parameter
    # the table's columns are 4 × 24 + 48 = 144 character widths: wider than portrait
    assert_print_setup(path, {MAIN: "landscape", "推荐企业": "landscape"}, {MAIN: None, "推荐企业": "$1:$1"})
    wb = load_workbook(path)
    assert [c.value for c in wb["推荐企业"][1]] == ENTERPRISE_HEADERS
    fill(wb["推荐企业"], enterprises(spec_min))
    wb.save(path)

    whole, sheets = office.render(path, tmp_path / "pdf")
    assert [len(sheets[n].pages) for n in (MAIN, "推荐企业")] == [1, 1]
    assert len(whole.pages) == 2
    form, table = squash(whole.pages[0]), squash(whole.pages[1])
    assert "深入开展质量提升行动三年计划（2023年）" in form
    assert "各地筛选推荐符合条件的企业" in form and "长春市市场监督管理局" in form
    assert "2023年4月23日（星期日，调休上班）" in form
    assert "每行一条，至少5行" in form
    assert_signature_block(Rendered(whole.pdf, whole.pages[:1]))
    assert "第1页/共2页" in form and "第2页/共2页" in table
    for header in ENTERPRISE_HEADERS:
        assert squash(header) in table, header
    for row in enterprises(spec_min):
        for value in row:
            assert squash(str(value)) in table, value  # no column pushed to another page
    assert "百户企业质量问诊服务推荐企业名单" in table  # the page header says what the page is
    screenshot(whole, 1, "excel-print-jilin-recommendations-form")
    screenshot(whole, 2, "excel-print-jilin-recommendations-table")

    # 45 rows of 15 pt are more than one landscape page holds (~30): two pages, each headed
    wb = load_workbook(path)
    fill(wb["推荐企业"], enterprises(45)[spec_min:])
    wb.save(path)
    _, sheets = office.render(path, tmp_path / "pdf-long")
    pages = sheets["推荐企业"].pages
    assert len(pages) == 2
    for page in pages:
        for header in ENTERPRISE_HEADERS:
            assert squash(header) in squash(page), header
    assert "长春市第45汽车零部件有限公司" in squash(pages[1])


def test_a_table_wider_than_a_landscape_page_is_shrunk_to_one_page_wide(jilin, tmp_path, office):
    """城市提升计划表: five columns of 168 character widths (311 mm) — more than even a
    landscape page (271.6 mm) — and a field label long enough to wrap on 填报表."""
    path = export(jilin, JILIN_ID, "city-plans-submitted", "changchun", tmp_path / "forms")
    table = "提升行动（产品品种或产业园区）"
    assert_print_setup(path, {MAIN: "landscape", table: "landscape"}, {MAIN: None, table: "$1:$1"})
    wb = load_workbook(path)
    assert [c.value for c in wb[table][1]] == PLAN_HEADERS
    fill(
        wb[table],
        [
            [
                "长春汽车零部件产业园",
                "产业园区",
                "绿园区、经开区",
                "开展质量对标，建立首席质量官制度",
                "园区企业产品合格率达到98%",
            ],
            ["人参制品", "产品品种", "抚松县", "推进标准化种植和加工", "形成区域品牌"],
        ],
    )
    wb.save(path)

    whole, sheets = office.render(path, tmp_path / "pdf")
    assert [len(sheets[n].pages) for n in (MAIN, table)] == [1, 1]
    assert len(whole.pages) == 2
    form, rows = squash(whole.pages[0]), squash(whole.pages[1])
    assert "需要省厅支持的事项（专家选派、人员代培、媒体宣传、标杆选树等）" in form  # wrapped, whole
    assert_signature_block(Rendered(whole.pdf, whole.pages[:1]))
    for header in PLAN_HEADERS:
        assert squash(header) in rows, header
    for value in ("长春汽车零部件产业园", "园区企业产品合格率达到98%", "形成区域品牌"):  # the last column too
        assert value in rows, value
    screenshot(whole, 1, "excel-print-jilin-city-plan-form")
    screenshot(whole, 2, "excel-print-jilin-city-plan-table")


def test_the_due_date_says_why_a_sunday_is_a_working_day(tmp_path):
    """2023-04-23 was a Sunday worked in exchange for the May Day break (调休)."""
    from models.timeline.loader import load_programme_file

    spec = load_programme_file(JILIN)
    sheet = TaskSheet(
        JILIN_ID,
        "深入开展质量提升行动三年计划",
        2023,
        "clinic-recommendations",
        "各地筛选推荐符合条件的企业",
        "changchun",
        "长春市市场监督管理局",
        dt.date(2023, 4, 23),
        find_form(spec, "recommended-enterprises"),
    )
    with_cal = build_workbook(spec, sheet, WorkdayCalendar.from_directory(None))
    assert with_cal[MAIN]["B5"].value == "2023年4月23日（星期日，调休上班）"
    assert build_workbook(spec, sheet)[MAIN]["B5"].value == "2023年4月23日（星期日）"  # no calendar: the weekday only
