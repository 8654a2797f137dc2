"""Excel round trip: export a template per assignee, fill it as a bureau would (openpyxl),
import it; broken and wrongly filled files record nothing and say which cell is wrong."""

from __future__ import annotations

import shutil

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models.tables import StatusChange, Submission, Task
from tests.engine.conftest import PROGRAMME, ledger, tasks_of

ARGS = ("--year", "2023", "--milestone", "results-submitted")


def export(cli, world, out, *extra):
    r = cli("forms", "export", PROGRAMME, *ARGS, "-o", out, "--calendar-dir", world.calendar_dir, *extra)
    assert r.exit_code == 0, r.stderr
    return r


def cell_of(ws, label: str):
    for row in ws.iter_rows(min_col=1, max_col=1):
        if row[0].value and str(row[0].value).startswith(label):
            return ws.cell(row[0].row, 2)
    raise AssertionError(label)


def counts(world) -> tuple[int, int]:
    with ledger(world) as s:
        return (
            s.scalar(select(func.count()).select_from(Submission)),
            s.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.to_state == "submitted")),
        )


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_export_fill_import_round_trip(cli, world, tmp_path):
    world.advance("2023-12-01T09:00")
    out = tmp_path / "forms"
    r = export(cli, world, out)
    files = sorted(out.glob("*.xlsx"))
    assert [f.name for f in files] == [
        f"{PROGRAMME}-2023-results-submitted-{p}.xlsx" for p in ("exempt-city", "late-city", "punctual-city")
    ]
    assert "迟交市市场监督管理局, due 2023-12-25" in r.stdout

    path = out / f"{PROGRAMME}-2023-results-submitted-punctual-city.xlsx"
    wb = load_workbook(path)
    ws = wb["填报表"]
    # who and what, pre-filled in Chinese; the machine-readable part hidden from the bureau
    assert ws["B3"].value == "准时市市场监督管理局" and ws["B5"].value == "2023年12月25日（星期一）"
    assert wb["_yearwheel"].sheet_state == "veryHidden"
    served = cell_of(ws, "服务企业数")
    rules = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    assert rules[served.coordinate].type == "whole" and rules[served.coordinate].formula1 == "0"
    assert rules[cell_of(ws, "工作总结").coordinate].type == "textLength"
    served.value = 14  # a bureau types a number …
    cell_of(ws, "工作总结").value = "全年走访企业14家。\n第二段。"
    cell_of(ws, "抽检批次").value = "120"  # … or text that is a number
    cell_of(ws, "合格批次").value = 118.0
    wb.save(path)

    r = cli(
        "forms", "import", path, "--at", "2023-12-20T15:00", "--calendar-dir", world.calendar_dir, "--contacts", world.contacts
    )
    assert r.exit_code == 0, r.stderr
    assert "recorded punctual-city results-submitted version 1: on time (due 2023-12-25)" in r.stdout
    with ledger(world) as s:
        (sub,) = s.scalars(select(Submission))
        assert sub.payload == {
            "enterprises_served": 14,
            "summary": "全年走访企业14家。\n第二段。",
            "inspected": 120,
            "passed": 118,
        }
        assert sub.source == str(path) and sub.actor == "punctual-city (Excel)"
        assert s.scalars(tasks_of(2023, "punctual-city").with_only_columns(Task.state)).one() == "submitted"
    assert world.smtp.messages[-1]["To"] == "office@punctual.example.gov.cn"  # the acknowledgement


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_wrong_cells_are_named_and_nothing_is_recorded(cli, world, tmp_path):
    world.advance("2023-12-01T09:00")
    out = tmp_path / "forms"
    export(cli, world, out, "--participant", "late-city")
    (path,) = out.glob("*.xlsx")
    wb = load_workbook(path)
    ws = wb["填报表"]
    served, summary = cell_of(ws, "服务企业数"), cell_of(ws, "工作总结")
    served.value = "十二"
    summary.value = "x" * 2001
    cell_of(ws, "抽检批次").value = -3
    wb.save(path)
    good = tmp_path / "good.xlsx"
    export(cli, world, tmp_path / "g", "--participant", "punctual-city")
    (g,) = (tmp_path / "g").glob("*.xlsx")
    wb = load_workbook(g)
    cell_of(wb["填报表"], "服务企业数").value = 3
    cell_of(wb["填报表"], "工作总结").value = "好"
    wb.save(good)

    r = cli(
        "forms",
        "import",
        path,
        good,
        "--at",
        "2023-12-20T15:00",
        "--calendar-dir",
        world.calendar_dir,
        "--contacts",
        world.contacts,
    )
    assert r.exit_code == 1
    err = r.stderr
    assert f"{path}: 填报表!{served.coordinate}: 服务企业数 — 应填写整数，实际为 “十二”" in err
    assert f"{path}: 填报表!{summary.coordinate}: 工作总结 — 最多 2000 个字，实际 2001 个" in err
    assert "抽检批次 — 应填写整数（≥ 0），实际为 -3" in err
    assert f"{path}: 3 problem(s); nothing recorded from this file" in err
    assert "recorded punctual-city" in r.stdout  # the good file in the same batch is recorded
    with ledger(world) as s:
        assert [t for t in s.scalars(tasks_of(2023, "late-city").with_only_columns(Task.state))] == ["open"]
    assert counts(world) == (1, 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_broken_files_record_nothing(cli, world, tmp_path):
    world.advance("2023-12-01T09:00")
    out = tmp_path / "forms"
    export(cli, world, out, "--participant", "late-city")
    (path,) = out.glob("*.xlsx")
    cases = {}
    cases["not-a-zip.xlsx"] = b"this is not a workbook"
    cases["truncated.xlsx"] = path.read_bytes()[:2000]
    cases["empty.xlsx"] = b""
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    from openpyxl import Workbook

    Workbook().save(tmp_path / "plain.xlsx")  # a real workbook, not a Yearwheel form
    altered = tmp_path / "altered.xlsx"
    shutil.copy(path, altered)
    wb = load_workbook(altered)
    meta = wb["_yearwheel"]
    for row in meta.iter_rows():
        if row[0].value == "participant":
            row[1].value = "no-such-city"  # someone edits the hidden sheet
    cell_of(wb["填报表"], "服务企业数").value = 3
    cell_of(wb["填报表"], "工作总结").value = "好"
    wb.save(altered)

    names = [*cases, "plain.xlsx", "altered.xlsx"]
    r = cli("forms", "import", *[tmp_path / n for n in names], "--calendar-dir", world.calendar_dir, "--contacts", world.contacts)
    assert r.exit_code == 1
    assert "Traceback" not in r.stderr + r.stdout
    assert f"{tmp_path / 'not-a-zip.xlsx'}: not an Excel workbook (.xlsx)" in r.stderr
    assert (
        f"{tmp_path / 'truncated.xlsx'}: not an Excel workbook" in r.stderr
        or f"{tmp_path / 'truncated.xlsx'}: not a readable" in r.stderr
    )
    assert f"{tmp_path / 'plain.xlsx'}: not a Yearwheel form: the hidden sheet _yearwheel is missing" in r.stderr
    assert "'no-such-city' is not an assignee" in r.stderr
    assert r.stderr.count("nothing recorded from this file") == len(names)
    assert counts(world) == (0, 0)


def test_a_table_form_round_trips_with_rows_and_row_cells(cli, tmp_path, monkeypatch, sqlite_template):
    """Jilin's enterprise recommendation form: a table sheet with one row per enterprise."""
    db = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("YEARWHEEL_DATABASE_URL", f"sqlite:///{db}")
    r = cli("advance", "--at", "2023-04-03T09:00", "--programme", "jilin-quality-2022-2024", "--no-prefect")
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "forms"
    r = cli(
        "forms",
        "export",
        "jilin-quality-2022-2024",
        "--year",
        "2023",
        "--milestone",
        "clinic-recommendations",
        "--participant",
        "changchun",
        "-o",
        out,
    )
    assert r.exit_code == 0, r.stderr
    (path,) = out.glob("*.xlsx")
    wb = load_workbook(path)
    table = wb["推荐企业"]
    assert [c.value for c in table[1]][:3] == ["企业名称 *", "统一社会信用代码 *", "所属产业 *"]
    for i in range(4):  # one short of the minimum (5)
        table.append([f"长春第{i}企业", f"91220101MA0000000{i}", "汽车零部件", "张三 0431-1234567", "质量基础好"])
    wb.save(path)
    r = cli("forms", "import", path, "--at", "2023-04-10T10:00")
    assert r.exit_code == 1 and "推荐企业 — 应填写至少 5 行，实际 4 行" in r.stderr
    wb = load_workbook(path)
    wb["推荐企业"].append(["长春第4企业", 9122010100, "汽车零部件", "李四", "好"])  # a code typed as a number
    wb["推荐企业"]["A3"] = None  # one cell emptied in row 3
    wb.save(path)
    r = cli("forms", "import", path, "--at", "2023-04-10T10:00")
    assert r.exit_code == 1 and "推荐企业!A3: 推荐企业 第2行 企业名称 — 此项必填" in r.stderr
    wb = load_workbook(path)
    wb["推荐企业"]["A3"] = "长春第1企业"
    wb.save(path)
    r = cli("forms", "import", path, "--at", "2023-04-10T10:00")
    assert r.exit_code == 0, r.stderr
