"""Forms filled as text — a web page's inputs, a spreadsheet's cells — turned into the
payload ``models.forms.validate_payload`` checks; and its problems said in Chinese for the
bureau that must fix them.

Flat names: ``enterprises_served`` for a field, ``enterprises.2.name`` for row 3's column
``name`` of table ``enterprises``. A value that does not parse is passed on as the text it
was, so the validator names it ("expected an integer, got text '十二'"), never dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .fieldtypes import kind as field_kind
from .forms import FieldProblem
from .timeline.spec import Form, FormField

TRUE = {"true", "yes", "y", "1", "是", "对", "√"}
FALSE = {"false", "no", "n", "0", "否", "不是", "×"}


def coerce(field: FormField, raw: Any) -> Any:
    """One input's value as the form expects it; None when left empty."""
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        raw = raw.date() if field.type == "date" and raw.time() == dt.time() else raw
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw.isoformat() if field.type == "date" else raw.isoformat()
    if isinstance(raw, str):
        text = raw.strip()
        if text == "" and field.type != "table":
            return None
        k = field_kind(field.type)
        if k.numeric and field.type == "integer":
            t = text.replace(",", "").replace("，", "")
            if re.fullmatch(r"[+-]?\d+", t):
                return int(t)
            if re.fullmatch(r"[+-]?\d+\.0*", t):
                return int(float(t))
            return raw
        if k.numeric:
            t = text.replace(",", "").replace("，", "")
            try:
                return float(t) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t) else raw
            except ValueError:
                return raw
        if field.type == "boolean":
            low = text.lower()
            return True if low in TRUE else False if low in FALSE else raw
        if field.type in ("text",):
            return raw.replace("\r\n", "\n")
        return text
    if isinstance(raw, float) and field.type == "integer" and raw.is_integer():
        return int(raw)
    if isinstance(raw, (int, float)) and field.type in ("text", "string", "choice"):
        return str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)
    return raw


def payload_from_flat(form: Form, flat: dict[str, Any]) -> dict[str, Any]:
    """Build the payload from flat names; table rows left entirely empty are dropped,
    unknown names are kept so the validator can refuse them."""
    fields = {f.id: f for f in form.fields}
    out: dict[str, Any] = {}
    tables: dict[str, dict[int, dict[str, Any]]] = {}
    for name, raw in flat.items():
        head, _, rest = name.partition(".")
        f = fields.get(head)
        if f is None:
            out[name] = raw
            continue
        if f.type == "table":
            m = re.fullmatch(r"(\d{1,4})\.(\w+)", rest)
            if not m:
                out[name] = raw
                continue
            row, col = int(m.group(1)), m.group(2)
            column = next((c for c in f.columns or [] if c.id == col), None)
            value = coerce(column, raw) if column else raw
            tables.setdefault(head, {}).setdefault(row, {})[col] = value
        else:
            value = coerce(f, raw)
            if value is not None:
                out[head] = value
    for head, rows in tables.items():
        kept = [{k: v for k, v in rows[i].items() if v is not None} for i in sorted(rows)]
        out[head] = [r for r in kept if r]
    for f in form.fields:  # a table with no row at all is an empty list, so "at least N rows" is said
        if f.type == "table" and f.id not in out and f.id in {n.partition(".")[0] for n in flat}:
            out[f.id] = []
    return out


_ZH = [
    (re.compile(r"^required(, got .*)?$"), lambda m: "此项必填"),
    (re.compile(r"^expected an integer (.+), got (.+)$"), lambda m: f"应填写整数（{_rng(m[1])}），实际为 {_got(m[2])}"),
    (re.compile(r"^expected a number (.+), got (.+)$"), lambda m: f"应填写数字（{_rng(m[1])}），实际为 {_got(m[2])}"),
    (re.compile(r"^expected an integer, got (.+)$"), lambda m: f"应填写整数，实际为 {_got(m[1])}"),
    (re.compile(r"^expected a number, got (.+)$"), lambda m: f"应填写数字，实际为 {_got(m[1])}"),
    (re.compile(r"^expected a finite number, got (.+)$"), lambda m: f"应填写有限的数字，实际为 {m[1]}"),
    (re.compile(r"^expected text, got (.+)$"), lambda m: f"应填写文字，实际为 {_got(m[1])}"),
    (re.compile(r"^expected one line of text, got several lines$"), lambda m: "只能填写一行文字"),
    (re.compile(r"^at most (\d+) characters, got (\d+)$"), lambda m: f"最多 {m[1]} 个字，实际 {m[2]} 个"),
    (re.compile(r"^expected a date YYYY-MM-DD, got (.+)$"), lambda m: f"应填写日期（如 2023-12-25），实际为 {_got(m[1])}"),
    (re.compile(r"^expected one of (.+), got (.+)$"), lambda m: f"应从以下选项中选择：{m[1].replace(', ', '、')}"),
    (re.compile(r"^expected true or false, got (.+)$"), lambda m: "应填写“是”或“否”"),
    (re.compile(r"^expected (.+) rows, got (\d+)$"), lambda m: f"应填写{_rows(m[1])}，实际 {m[2]} 行"),
    (re.compile(r"^unknown field in .*$"), lambda m: "表单中没有此项"),
]


def _rng(text: str) -> str:
    return text.replace(" and ", "，")


def _rows(text: str) -> str:
    return text.replace("at least ", "至少 ").replace("at most ", "至多 ").replace(" and ", "、") + " 行"


def _got(text: str) -> str:
    """``models.forms._kind``'s English description of a value, in Chinese."""
    m = re.fullmatch(r"text \((['\"])(.*)\1\)", text, re.S)
    if m:
        return f"“{m[2]}”"
    m = re.fullmatch(r"(?:an integer|a number|a boolean|a date) \((.*)\)", text, re.S)
    if m:
        return m[1]
    if text.startswith("a list of"):
        return "列表"
    return {"nothing (null)": "空", "a mapping": "映射"}.get(text, text)


def zh_message(problem: FieldProblem) -> str:
    """The problem in Chinese, for the bureau (the English original stays in logs and the CLI)."""
    for pattern, say in _ZH:
        m = pattern.match(problem.message)
        if m:
            return say(m)
    return problem.message


# --------------------------------------------------------------------------- bounds for text that arrives from outside

DEFAULT_MAX_ROWS = 200  # a table field without max_rows takes at most this many rows from a web form or a sheet
MAX_NAME = 120  # characters in a flat name
MAX_UNKNOWN = 20  # unknown names reported (the rest are counted, not kept)
_ROW_NAME = re.compile(r"(\d{1,12})\.([a-z][a-z0-9_]{0,63})")


def row_limit(form_field: FormField, param_value) -> int:
    """How many rows a table field may take: its max_rows, or DEFAULT_MAX_ROWS."""
    limit = param_value(form_field.max_rows) if form_field.max_rows is not None else None
    return int(limit) if limit is not None else DEFAULT_MAX_ROWS


def max_inputs(form: Form, param_value) -> int:
    """Every input a filled form can have: its fields, every cell of every table at its row limit."""
    n = 0
    for f in form.fields:
        n += row_limit(f, param_value) * len(f.columns or []) if f.type == "table" else 1
    return n


def bounded_flat(form: Form, items, param_value) -> tuple[dict[str, Any], list[str]]:
    """Keep only names the form can have, within its bounds, before any other work: a
    field id, or ``table.row.column`` with a row below the table's limit and a real
    column. Returns the flat values and what was refused (in Chinese, for the bureau).
    ``items``: (name without the ``f.`` prefix, text) pairs."""
    fields = {f.id: f for f in form.fields}
    flat: dict[str, Any] = {}
    refused: list[str] = []
    unknown = 0
    for name, value in items:
        if len(name) > MAX_NAME:
            unknown += 1
            continue
        head, dot, rest = name.partition(".")
        f = fields.get(head)
        if f is None or (dot and f.type != "table") or (f.type == "table" and not dot):
            unknown += 1
            continue
        if f.type == "table":
            m = _ROW_NAME.fullmatch(rest)
            if not m or m.group(2) not in {c.id for c in f.columns or []}:
                unknown += 1
                continue
            limit = row_limit(f, param_value)
            row = int(m.group(1)) if len(m.group(1)) <= 6 else limit  # a 12-digit row is past any limit
            if row >= limit:
                msg = f"{f.label}：最多填写 {limit} 行"
                if msg not in refused:
                    refused.append(msg)
                continue
            name = f"{head}.{row}.{m.group(2)}"  # canonical: no leading zeros
        flat[name] = value
    if unknown:
        refused.append(f"表单中没有此项（{unknown} 项）")
    return flat, refused
