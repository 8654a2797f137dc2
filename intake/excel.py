"""Excel templates for bureaus: one ``.xlsx`` per assignee, pre-filled with who and what,
Chinese labels, and Excel's own data validation (drop-downs, number ranges, dates, text
lengths) taken from the form's schema — and reading a filled one back.

Layout of a workbook:
- ``填报表``: the task (programme, participant, milestone, due date) and one row per
  field: label in column A, value in column B;
- one sheet per table field: a header row of column labels, one row per entry;
- ``_yearwheel`` (very hidden): programme, year, milestone, participant, form, and where
  each field lives — what the import reads; a bureau never sees it.

Import reports problems per cell (``填报表!B7: 服务企业数 — 应填写整数…``) and returns
nothing to record when there is any.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from models.forms import FieldProblem, PayloadInvalid, validate_payload
from models.formtext import coerce, zh_message
from models.timeline.spec import Form, FormField, ProgrammeFile

MAIN = "填报表"
META = "_yearwheel"
FIRST_FIELD_ROW = 7
TABLE_ROWS_MIN = 30
HEADER = PatternFill("solid", fgColor="DDE7F7")
INPUT = PatternFill("solid", fgColor="FFFBEA")
WEEKDAYS = "一二三四五六日"


@dataclass
class TaskSheet:
    programme: str
    programme_title: str
    year: int
    milestone: str
    milestone_title: str
    participant: str
    participant_name: str
    due: dt.date
    form: Form


def _sheet_name(label: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "", label)[:28] or "表"
    base, n = name, 2
    while name in used:
        name = f"{base[:26]}{n}"
        n += 1
    used.add(name)
    return name


def _validation(spec: ProgrammeFile, f: FormField) -> DataValidation | None:
    """Excel's check for one field, with a Chinese message; the import checks again anyway."""
    lo, hi = spec.parameter_value(f.min), spec.parameter_value(f.max)
    if f.type in ("integer", "number"):
        kind = "whole" if f.type == "integer" else "decimal"
        lo_s = str(lo if lo is not None else -(10**12))
        hi_s = str(hi if hi is not None else 10**12)
        dv = DataValidation(type=kind, operator="between", formula1=lo_s, formula2=hi_s, allow_blank=not f.required)
        what = "整数" if f.type == "integer" else "数字"
        rng = "，".join(x for x in (f"≥ {lo}" if lo is not None else "", f"≤ {hi}" if hi is not None else "") if x)
        dv.error, dv.prompt = f"请填写{what}{'（' + rng + '）' if rng else ''}", f"{f.label}：{what}{'（' + rng + '）' if rng else ''}"
    elif f.type == "date":
        dv = DataValidation(type="date", operator="between", formula1="36526", formula2="73051", allow_blank=not f.required)
        dv.error, dv.prompt = "请填写日期，如 2023-12-25", f"{f.label}：日期"
    elif f.type in ("choice", "boolean"):
        options = f.choices if f.type == "choice" else ["是", "否"]
        formula = '"' + ",".join(o.replace('"', "") for o in options) + '"'
        if len(formula) > 255:
            return None  # Excel's limit for an inline list; the import still checks
        dv = DataValidation(type="list", formula1=formula, allow_blank=not f.required)
        dv.error, dv.prompt = "请从下拉列表中选择", f"{f.label}：请选择"
    elif f.type in ("text", "string"):
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(f.max_length or 100_000),
                            allow_blank=not f.required)
        dv.error, dv.prompt = f"最多 {f.max_length or 100_000} 个字", f"{f.label}"
    else:
        return None
    dv.errorTitle, dv.promptTitle, dv.showErrorMessage, dv.showInputMessage = "填写有误", "填写说明", True, True
    return dv


def build_workbook(spec: ProgrammeFile, t: TaskSheet) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = MAIN
    used = {MAIN, META}
    ws["A1"] = f"{t.programme_title}（{t.year}年）"
    ws["A1"].font = Font(bold=True, size=14)
    rows = [("填报事项", t.milestone_title), ("填报单位", t.participant_name), ("表单", t.form.title),
            ("截止日期", f"{t.due.year}年{t.due.month}月{t.due.day}日（星期{WEEKDAYS[t.due.weekday()]}）")]
    for i, (k, v) in enumerate(rows, start=2):
        ws.cell(i, 1, k).font = Font(bold=True)
        ws.cell(i, 2, v)
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width, ws.column_dimensions["C"].width = 34, 50, 40
    ws.cell(FIRST_FIELD_ROW - 1, 1, "项目").fill = HEADER
    ws.cell(FIRST_FIELD_ROW - 1, 2, "填写内容").fill = HEADER
    ws.cell(FIRST_FIELD_ROW - 1, 3, "说明").fill = HEADER
    meta = wb.create_sheet(META)
    meta.sheet_state = "veryHidden"
    for k, v in (("version", 1), ("programme", t.programme), ("year", t.year), ("milestone", t.milestone),
                 ("participant", t.participant), ("form", t.form.id)):
        meta.append([k, v])
    row = FIRST_FIELD_ROW
    for f in t.form.fields:
        label = f.label + (f"（{f.unit}）" if f.unit else "") + (" *" if f.required else "")
        ws.cell(row, 1, label).alignment = Alignment(wrap_text=True, vertical="top")
        if f.type == "table":
            name = _sheet_name(f.label, used)
            ws.cell(row, 2, f"见工作表“{name}”")
            ws.cell(row, 3, f"每行一条{'，至少 ' + str(spec.parameter_value(f.min_rows)) + ' 行' if f.min_rows else ''}")
            tws = wb.create_sheet(name)
            for c, col in enumerate(f.columns or [], start=1):
                cell = tws.cell(1, c, col.label + (" *" if col.required else ""))
                cell.fill, cell.font = HEADER, Font(bold=True)
                tws.column_dimensions[get_column_letter(c)].width = 24 if col.type != "text" else 48
                dv = _validation(spec, col)
                n = max(int(spec.parameter_value(f.max_rows) or 0), int(spec.parameter_value(f.min_rows) or 0), TABLE_ROWS_MIN)
                if dv is not None:
                    tws.add_data_validation(dv)
                    dv.add(f"{get_column_letter(c)}2:{get_column_letter(c)}{n + 1}")
                if col.type == "date":
                    for r in range(2, n + 2):
                        tws.cell(r, c).number_format = "yyyy-mm-dd"
            tws.freeze_panes = "A2"
            meta.append(["table", f.id, name] + [c.id for c in f.columns or []])
        else:
            cell = ws.cell(row, 2)
            cell.fill = INPUT
            if f.type == "date":
                cell.number_format = "yyyy-mm-dd"
            if f.type == "text":
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            dv = _validation(spec, f)
            if dv is not None:
                ws.add_data_validation(dv)
                dv.add(cell.coordinate)
            ws.cell(row, 3, f.help or ("；".join(f.choices) if f.choices else ""))
            meta.append(["field", f.id, cell.coordinate])
        row += 1
    return wb


@dataclass
class ReadForm:
    programme: str
    year: int
    milestone: str
    participant: str
    form_id: str
    payload: dict[str, Any]
    cells: dict[str, str] = field(default_factory=dict)  # problem path → "sheet!A1"


class WorkbookInvalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_meta(path: Path) -> tuple[Any, dict[str, Any], list[list[Any]]]:
    try:
        if not zipfile.is_zipfile(path):
            raise WorkbookInvalid([f"{path}: not an Excel workbook (.xlsx): the file is not a zip archive"])
        wb = load_workbook(path, data_only=True)
    except WorkbookInvalid:
        raise
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds for broken files
        raise WorkbookInvalid([f"{path}: not a readable Excel workbook (.xlsx): {type(exc).__name__}: {exc}"[:400]]) from None
    if META not in wb.sheetnames:
        raise WorkbookInvalid([f"{path}: not a Yearwheel form: the hidden sheet {META} is missing "
                               "(export a fresh template with `yearwheel forms export`)"])
    rows = [[c.value for c in r] for r in wb[META].iter_rows()]
    meta = {r[0]: r[1] for r in rows if r and r[0] in ("version", "programme", "year", "milestone", "participant", "form")}
    missing = [k for k in ("programme", "year", "milestone", "participant", "form") if meta.get(k) in (None, "")]
    if missing:
        raise WorkbookInvalid([f"{path}: {META}: missing {', '.join(missing)} (the template was altered)"])
    return wb, meta, rows


def read_workbook(path: Path, spec: ProgrammeFile, form: Form, wb: Any, meta: dict, rows: list[list[Any]]) -> ReadForm:
    """The payload of a filled workbook, validated; WorkbookInvalid lists every problem by cell."""
    fields = {f.id: f for f in form.fields}
    payload: dict[str, Any] = {}
    cells: dict[str, str] = {}
    problems: list[str] = []
    for r in rows:
        if not r or r[0] not in ("field", "table"):
            continue
        if r[0] == "field" and r[1] in fields:
            f, ref = fields[r[1]], str(r[2])
            cells[f.id] = f"{MAIN}!{ref}"
            try:
                value = coerce(f, wb[MAIN][ref].value)
            except (KeyError, ValueError):
                problems.append(f"{path}: {MAIN}!{ref}: the template was altered (cell not found)")
                continue
            if value is not None:
                payload[f.id] = value
        elif r[0] == "table" and r[1] in fields:
            f, sheet, columns = fields[r[1]], str(r[2]), [str(c) for c in r[3:] if c]
            if sheet not in wb.sheetnames:
                problems.append(f"{path}: the sheet {sheet} ({f.label}) is missing")
                continue
            by_id = {c.id: c for c in f.columns or []}
            entries = []
            for rownum, values in enumerate(wb[sheet].iter_rows(min_row=2, max_col=len(columns), values_only=True), start=2):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                i = len(entries)
                entry = {}
                for c, (col, v) in enumerate(zip(columns, values, strict=False), start=1):
                    cells[f"{f.id}[{i}].{col}"] = f"{sheet}!{get_column_letter(c)}{rownum}"
                    value = coerce(by_id[col], v) if col in by_id else v
                    if value is not None:
                        entry[col] = value
                cells[f"{f.id}[{i}]"] = f"{sheet}!A{rownum}"
                entries.append(entry)
            cells[f.id] = f"{sheet}!A2"
            payload[f.id] = entries
    if problems:
        raise WorkbookInvalid(problems)
    try:
        clean = validate_payload(spec, form.id, payload)
    except PayloadInvalid as exc:
        raise WorkbookInvalid([_located(path, p, cells) for p in exc.problems]) from None
    return ReadForm(str(meta["programme"]), int(meta["year"]), str(meta["milestone"]), str(meta["participant"]), form.id, clean, cells)


def _located(path: Path, p: FieldProblem, cells: dict[str, str]) -> str:
    where = cells.get(p.path) or cells.get(p.path.split(".")[0].split("[")[0]) or MAIN
    label = f"{p.label} — " if p.label else ""
    return f"{path}: {where}: {label}{zh_message(p)}"
