"""Excel templates for bureaus: one ``.xlsx`` per assignee, pre-filled with who and what,
Chinese labels, and Excel's own data validation (drop-downs, number ranges, dates, text
lengths) taken from the form's schema — and reading a filled one back.

Layout of a workbook:
- ``填报表``: the task (programme, participant, milestone, due date) and one row per
  field: label in column A, value in column B; below them a signature block (填报单位（盖章）,
  填报人, 联系电话, 日期) for the printed copy a bureau signs and stamps — the import reads
  only the cells ``_yearwheel`` names, so whatever is written there is ignored;
- one sheet per table field: a header row of column labels, one row per entry;
- ``_yearwheel`` (very hidden): programme, year, milestone, participant, form, and where
  each field lives — what the import reads; a bureau never sees it.

Every visible sheet prints on A4, one page wide (as many pages high as it needs), in
landscape when its columns are too wide for portrait, with the header row repeated on each
page of a table and 第 N 页 / 共 M 页 in the footer (see :func:`_print_setup`).

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
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties

from models.fieldtypes import kind as field_kind
from models.forms import FieldProblem, PayloadInvalid, validate_payload
from models.formtext import coerce, zh_message
from models.timeline.spec import Form, FormField, ProgrammeFile
from models.timeline.zhdate import DayNotes, zh_date

MAIN = "填报表"
META = "_yearwheel"
FIRST_FIELD_ROW = 7
TABLE_ROWS_MIN = 30
HEADER = PatternFill("solid", fgColor="DDE7F7")
INPUT = PatternFill("solid", fgColor="FFFBEA")
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
LINE = Border(bottom=THIN)  # a line to write on, in the signature block
MAIN_WIDTHS = (34, 50, 40)  # columns A–C of 填报表, in Excel's character widths
SIGNATURE = ("填报单位（盖章）", "填报人", "联系电话", "日期")

# Printing, in millimetres. A4 is 210 × 297; left/right margins of 0.5 in leave 184.6 mm
# across a portrait page and 271.6 mm across a landscape one.
A4_SHORT = 210.0
MARGIN_IN = {"left": 0.5, "right": 0.5, "top": 0.75, "bottom": 0.75, "header": 0.3, "footer": 0.3}
PRINTABLE_PORTRAIT = A4_SHORT - 25.4 * (MARGIN_IN["left"] + MARGIN_IN["right"])


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
    item: str = ""  # a fan-out task's item key ('' for the others)
    item_name: str = ""


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
    k = field_kind(f.type)
    if k.excel in ("whole", "decimal"):
        lo_s = str(lo if lo is not None else -(10**12))
        hi_s = str(hi if hi is not None else 10**12)
        dv = DataValidation(type=k.excel, operator="between", formula1=lo_s, formula2=hi_s, allow_blank=not f.required)
        what = k.zh
        rng = "，".join(x for x in (f"≥ {lo}" if lo is not None else "", f"≤ {hi}" if hi is not None else "") if x)
        dv.error, dv.prompt = (
            f"请填写{what}{'（' + rng + '）' if rng else ''}",
            f"{f.label}：{what}{'（' + rng + '）' if rng else ''}",
        )
    elif k.excel == "date":
        dv = DataValidation(type="date", operator="between", formula1="36526", formula2="73051", allow_blank=not f.required)
        dv.error, dv.prompt = "请填写日期，如 2023-12-25", f"{f.label}：日期"
    elif k.excel == "list":
        options = (f.choices or []) if f.type == "choice" else ["是", "否"]
        formula = '"' + ",".join(o.replace('"', "") for o in options) + '"'
        if len(formula) > 255:
            return None  # Excel's limit for an inline list; the import still checks
        dv = DataValidation(type="list", formula1=formula, allow_blank=not f.required)
        dv.error, dv.prompt = "请从下拉列表中选择", f"{f.label}：请选择"
    elif k.excel == "textLength":
        dv = DataValidation(
            type="textLength", operator="lessThanOrEqual", formula1=str(f.max_length or 100_000), allow_blank=not f.required
        )
        dv.error, dv.prompt = f"最多 {f.max_length or 100_000} 个字", f"{f.label}"
    else:
        return None
    dv.errorTitle, dv.promptTitle, dv.showErrorMessage, dv.showInputMessage = "填写有误", "填写说明", True, True
    return dv


def _column_mm(width: float | None) -> float:
    """The printed width of a column of ``width`` characters (Excel's unit: the digit width
    of the default 11-point font, 7 px, plus 5 px of padding; 96 px to the inch)."""
    return ((width if width else 8.43) * 7 + 5) * 25.4 / 96


def _display_width(text: str) -> int:
    """Width in Excel's character units: a Chinese character is two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _lines(text: str, width_chars: float, size: float = 11) -> int:
    """How many lines ``text`` wraps to in a cell ``width_chars`` wide (an estimate, a little
    generous: neither Excel nor LibreOffice grows the rows of merged cells by itself)."""
    per_line = max(width_chars * 11 / size - 1, 1)
    return sum(max(1, -(-_display_width(part) * 105 // int(per_line * 100))) for part in text.split("\n"))


def _row_height(lines: int, pad: float = 3) -> float:
    """Points for ``lines`` lines of the 11-point default font."""
    return 15 * lines + pad


def _footer_text(text: str) -> str:
    return text.replace("&", "&&")  # '&' starts a code in page headers and footers


def _print_setup(
    ws: Any, last_col: int, last_row: int | None, *, title_rows: str | None = None, header: tuple[str, str] | None = None
) -> None:
    """A4, one page wide and as many pages high as needed, centred, 第 N 页 / 共 M 页.

    Orientation rule: portrait when the used columns (A..``last_col``) fit across an A4
    portrait page at 100 % (``PRINTABLE_PORTRAIT``, 184.6 mm ≈ 97 character widths);
    landscape otherwise — fit-to-width then shrinks only what is wider than a landscape page
    (271.6 mm ≈ 144 character widths), so text stays readable on a form that is signed on paper.

    The print area spans the used columns; its rows end at ``last_row``, or, for a table
    sheet whose length only the bureau knows (``None``), run down the whole columns, of which
    Excel and LibreOffice print only the rows in use."""
    width = sum(_column_mm(ws.column_dimensions[get_column_letter(c)].width) for c in range(1, last_col + 1))
    ps = ws.page_setup
    ps.paperSize = ws.PAPERSIZE_A4
    ps.orientation = ws.ORIENTATION_PORTRAIT if width <= PRINTABLE_PORTRAIT else ws.ORIENTATION_LANDSCAPE
    ps.fitToWidth, ps.fitToHeight = 1, 0  # 0: no limit on the number of pages down
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    for side, inches in MARGIN_IN.items():
        setattr(ws.page_margins, side, inches)
    ws.print_options.horizontalCentered = True
    col = get_column_letter(last_col)
    ws.print_area = f"A1:{col}{last_row or 1048576}"  # to the last row: Excel shows it as $A:$E
    if title_rows:
        ws.print_title_rows = title_rows
    if header:
        ws.oddHeader.left.text, ws.oddHeader.right.text = (_footer_text(h) for h in header)
        ws.oddHeader.left.size = ws.oddHeader.right.size = 9
    ws.oddFooter.center.text = "第 &P 页 / 共 &N 页"
    ws.oddFooter.center.size = 9


def _signature_block(ws: Any, row: int) -> int:
    """填报单位（盖章）/填报人/联系电话/日期, one per row from ``row``, each with a line to write
    on; the first row is tall enough for the stamp. Returns the last row used."""
    for i, label in enumerate(SIGNATURE):
        r = row + i
        ws.cell(r, 1, f"{label}：").alignment = Alignment(horizontal="right", vertical="bottom")
        ws.cell(r, 1).font = Font(bold=True)
        value = ws.cell(r, 2, "　　　　年　　月　　日" if label == "日期" else None)
        value.border, value.alignment = LINE, Alignment(horizontal="center", vertical="bottom")
        ws.row_dimensions[r].height = 48 if i == 0 else 26
    return row + len(SIGNATURE) - 1


def build_workbook(spec: ProgrammeFile, t: TaskSheet, cal: DayNotes | None = None) -> Workbook:
    """The template for one assignee. With the working-day calendar ``cal`` the due date says
    why a surprising day is one (``2023年4月23日（星期日，调休上班）``); without, only the weekday."""
    wb = Workbook()
    ws = wb.active
    ws.title = MAIN
    used = {MAIN, META}
    for letter, width in zip("ABC", MAIN_WIDTHS, strict=True):
        ws.column_dimensions[letter].width = width
    title = f"{t.programme_title}（{t.year}年）"
    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.merge_cells("A1:C1")  # the title spans the printed width and wraps, never runs off the page
    ws.row_dimensions[1].height = 20 * _lines(title, sum(MAIN_WIDTHS), size=14) + 10
    rows = [
        ("填报事项", t.milestone_title + (f"（{t.item_name or t.item}）" if t.item else "")),
        ("填报单位", t.participant_name),
        ("表单", t.form.title),
        ("截止日期", zh_date(t.due, cal)),
    ]
    for i, (k, v) in enumerate(rows, start=2):
        ws.cell(i, 1, k).font = Font(bold=True)
        ws.cell(i, 1).alignment = Alignment(vertical="center")
        ws.cell(i, 2, v).alignment = Alignment(wrap_text=True, vertical="center")
        for c in range(1, 4):
            ws.cell(i, c).border = BOX
        ws.merge_cells(start_row=i, start_column=2, end_row=i, end_column=3)
        ws.row_dimensions[i].height = _row_height(_lines(v, MAIN_WIDTHS[1] + MAIN_WIDTHS[2]), pad=5)
    ws.cell(FIRST_FIELD_ROW - 1, 1, "项目").fill = HEADER
    ws.cell(FIRST_FIELD_ROW - 1, 2, "填写内容").fill = HEADER
    ws.cell(FIRST_FIELD_ROW - 1, 3, "说明").fill = HEADER
    tables: list[tuple[Any, int]] = []
    meta = wb.create_sheet(META)
    meta.sheet_state = "veryHidden"
    facts: tuple[tuple[str, Any], ...] = (
        ("version", 1),
        ("programme", t.programme),
        ("year", t.year),
        ("milestone", t.milestone),
        ("participant", t.participant),
        ("form", t.form.id),
        ("item", t.item),
    )
    for k, v in facts:
        meta.append([k, v])
    row = FIRST_FIELD_ROW
    for f in t.form.fields:
        label = f.label + (f"（{f.unit}）" if f.unit else "") + (" *" if f.required else "")
        ws.cell(row, 1, label).alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row, 3).alignment = Alignment(wrap_text=True, vertical="top")
        if f.type == "table":
            name = _sheet_name(f.label, used)
            ws.cell(row, 2, f"见工作表“{name}”").alignment = Alignment(vertical="top")
            ws.cell(row, 3, f"每行一条{'，至少 ' + str(spec.parameter_value(f.min_rows)) + ' 行' if f.min_rows else ''}")
            tws = wb.create_sheet(name)
            for c, col in enumerate(f.columns or [], start=1):
                cell = tws.cell(1, c, col.label + (" *" if col.required else ""))
                cell.fill, cell.font, cell.border = HEADER, Font(bold=True), BOX
                cell.alignment = Alignment(wrap_text=True, vertical="center")
                dim = tws.column_dimensions[get_column_letter(c)]
                dim.width = 24 if col.type != "text" else 48
                if col.type in ("text", "string"):
                    dim.alignment = Alignment(wrap_text=True, vertical="top")  # long entries wrap, not cut
                dv = _validation(spec, col)
                n = max(int(spec.parameter_value(f.max_rows) or 0), int(spec.parameter_value(f.min_rows) or 0), TABLE_ROWS_MIN)
                if dv is not None:
                    tws.add_data_validation(dv)
                    dv.add(f"{get_column_letter(c)}2:{get_column_letter(c)}{n + 1}")
                if col.type == "date":
                    for r in range(2, n + 2):
                        tws.cell(r, c).number_format = "yyyy-mm-dd"
            need = max(
                (
                    _lines(str(tws.cell(1, c).value), tws.column_dimensions[get_column_letter(c)].width)
                    for c in range(1, len(f.columns or []) + 1)
                ),
                default=1,
            )
            tws.row_dimensions[1].height = _row_height(need, pad=6)
            tws.freeze_panes = "A2"
            tws.print_options.gridLines = True  # the rows a bureau adds print as a table
            tables.append((tws, max(len(f.columns or []), 1)))
            meta.append(["table", f.id, name] + [c.id for c in f.columns or []])
        else:
            cell = ws.cell(row, 2)
            cell.fill = INPUT
            if f.type == "date":
                cell.number_format = "yyyy-mm-dd"
            cell.alignment = Alignment(wrap_text=field_kind(f.type).multiline, vertical="top")
            dv = _validation(spec, f)
            if dv is not None:
                ws.add_data_validation(dv)
                dv.add(cell.coordinate)
            ws.cell(row, 3, f.help or ("；".join(f.choices) if f.choices else ""))
            meta.append(["field", f.id, cell.coordinate])
        # neither Excel nor LibreOffice grows a row to wrapped text it did not type itself;
        # a row stays unsized (so Excel grows it as the bureau types) unless its label or help wraps
        need = max(_lines(label, MAIN_WIDTHS[0]), _lines(str(ws.cell(row, 3).value or ""), MAIN_WIDTHS[2]))
        if need > 1:
            ws.row_dimensions[row].height = _row_height(need)
        row += 1
    for r in range(FIRST_FIELD_ROW - 1, row):
        for c in range(1, 4):
            ws.cell(r, c).border = BOX
    last = _signature_block(ws, row + 1)
    _print_setup(ws, 3, last)
    for tws, ncols in tables:
        _print_setup(tws, ncols, None, title_rows="1:1", header=(f"{t.form.title}　{tws.title}", t.participant_name))
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
    item: str | None = None  # a fan-out task's item key


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
        raise WorkbookInvalid(
            [
                f"{path}: not a Yearwheel form: the hidden sheet {META} is missing "
                "(export a fresh template with `yearwheel forms export`)"
            ]
        )
    rows = [[c.value for c in r] for r in wb[META].iter_rows()]
    meta = {
        r[0]: r[1] for r in rows if r and r[0] in ("version", "programme", "year", "milestone", "participant", "form", "item")
    }
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
            entries: list[Any] = []
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
    return ReadForm(
        str(meta["programme"]),
        int(meta["year"]),
        str(meta["milestone"]),
        str(meta["participant"]),
        form.id,
        clean,
        cells,
        item=str(meta["item"]) if meta.get("item") not in (None, "") else None,
    )


def _located(path: Path, p: FieldProblem, cells: dict[str, str]) -> str:
    where = cells.get(p.path) or cells.get(p.path.split(".")[0].split("[")[0]) or MAIN
    label = f"{p.label} — " if p.label else ""
    return f"{path}: {where}: {label}{zh_message(p)}"
