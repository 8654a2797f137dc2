"""The intake form's page logic, apart from the HTTP plumbing of ``app``: the buttons
that add and delete table rows without JavaScript, what the page says about the task
(what it is for, the deadline and why it is that day, whom to ask), and the receipt.

Rows: every button of the form is a ``<button type="submit" name="op">``:
``submit`` (提交), ``draft`` (暂存), ``add:<table>`` (增加一行) and ``del:<table>:<row>``
(删除此行). Adding or deleting a row re-renders the form with what was typed (never
stored, nothing counted); the rows shown travel in ``n.<table>`` inputs, bounded by the
table's own row limit like every other input. Files chosen are not kept across these
round trips (the page says so): they are read, checked and stored only on 提交.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import states as S
from models.forms import PayloadInvalid
from models.formtext import row_limit, zh_message
from models.receipts import receipt_number
from models.tables import StatusChange, Submission
from models.timeline.spec import Form, FormField, ProgrammeFile
from models.timeline.zhdate import zh_date, zh_datetime

_OP = re.compile(r"(submit|draft)|(add):([a-z][a-z0-9_]{0,63})|(del):([a-z][a-z0-9_]{0,63}):(\d{1,6})")
_COUNT = re.compile(r"\d{1,6}")
SUMMARY_ROWS = 8  # table rows a receipt lists (then "…共 N 行"): a receipt is one A4 page
SUMMARY_TEXT = 120  # characters of a text shown on a receipt
FILES_NOT_KEPT = "所选附件未随本次操作保存，提交前请重新选择附件。"
REASON_TEXT = 2000  # characters of a coordinator's reason for a return shown on the page
PREFILL_TEXT = 256 * 1024  # characters of one value of a returned version put back in its input


@dataclass(frozen=True)
class Op:
    kind: str  # "submit", "draft", "add", "del"
    field: str = ""
    row: int = 0


def parse_op(value: Any, form: Form | None) -> Op | None:
    """Which button was pressed (none: 提交, as a form sent by Enter or a script);
    None for a value no button of this form has."""
    if value is None or value == "":
        return Op("submit")
    if not isinstance(value, str) or len(value) > 80:
        return None
    m = _OP.fullmatch(value)
    if m is None:
        return None
    if m[1]:
        return Op(m[1]) if m[1] == "submit" or form is not None else None
    kind, field, row = (m[2], m[3], 0) if m[2] else (m[4], m[5], int(m[6]))
    tables = {f.id for f in (form.fields if form else []) if f.type == "table"}
    return Op(kind, field, row) if field in tables else None


def row_counts(form: Form | None, items: list[tuple[str, Any]], param: Callable) -> dict[str, int]:
    """The rows each table showed (its ``n.<table>`` input), within 1 and its row limit;
    what is not a table of this form, or not a small number, is ignored."""
    tables = {f.id: f for f in (form.fields if form else []) if f.type == "table"}
    counts: dict[str, int] = {}
    for key, value in items:
        f = tables.get(key[2:]) if key.startswith("n.") else None
        if f is not None and isinstance(value, str) and _COUNT.fullmatch(value):
            counts[f.id] = min(max(int(value), 1), row_limit(f, param))
    return counts


def sent_rows(f: FormField, values: dict) -> int:
    """Rows of table ``f`` holding a value (one past the highest row named)."""
    rows = [int(k.split(".")[1]) for k in values if k.startswith(f.id + ".") and k.split(".")[1].isdigit()]
    return max(rows) + 1 if rows else 0


def rows_for(param: Callable, counts: dict[str, int]) -> Callable[[FormField, dict, int], int]:
    """How many rows a table field shows: the rows the page showed last (``counts``), else
    its minimum (at least 3); never fewer than were sent, plus ``extra`` (``?rows=``), never
    more than the field allows."""

    def rows(f: FormField, values: dict, extra: int) -> int:
        least = counts.get(f.id) or max(int(param(f.min_rows) or 0), 3)
        return min(max(least, sent_rows(f, values)) + extra, row_limit(f, param))

    return rows


def apply_row_op(form: Form, flat: dict[str, Any], counts: dict[str, int], op: Op, param: Callable) -> tuple[dict, dict]:
    """The values and row counts after 增加一行 / 删除此行: a deleted row's values go and
    the rows below move up one."""
    f = next(x for x in form.fields if x.id == op.field)
    shown = rows_for(param, counts)(f, flat, 0)
    limit = row_limit(f, param)
    counts = dict(counts)
    if op.kind == "add":
        counts[f.id] = min(shown + 1, limit)
        return flat, counts
    out: dict[str, Any] = {}
    prefix = f.id + "."
    for name, value in flat.items():
        if not name.startswith(prefix):
            out[name] = value
            continue
        _, row, col = name.split(".", 2)
        r = int(row)
        if r != op.row:
            out[f"{f.id}.{r - 1 if r > op.row else r}.{col}"] = value
    counts[f.id] = max(shown - 1 if op.row < shown else shown, 1)
    return out, counts


def problems_of(exc: PayloadInvalid) -> dict[str, list[str]]:
    """A validation failure as the page lists it: path → Chinese messages."""
    problems: dict[str, list[str]] = {}
    for p in exc.problems:
        problems.setdefault(p.path or "_form", []).append(f"{p.label}：{zh_message(p)}" if p.label else zh_message(p))
    return problems


def table_info(f: FormField, param: Callable) -> dict[str, Any]:
    """What the page says above a table (``至少填写 5 行，最多 200 行``) and its row limit."""
    least = param(f.min_rows)
    most = row_limit(f, param)
    return {"rules": (f"至少填写 {int(least)} 行，" if least else "") + f"最多 {most} 行", "limit": most}


# --------------------------------------------------------------------------- what the task is


def task_context(spec: ProgrammeFile, names: dict[str, str], info: dict, cal: Any) -> dict[str, Any]:
    """What the page says about the task beyond its title: ``purpose`` (the milestone's
    ``description``, else its source clause and quote), ``due_note`` (an extension and
    the date it replaced, or the document's date a rest day moved), ``contact`` (the
    calendar's ``coordinator`` role: its title and holder)."""
    try:
        m = spec.milestone(info["milestone"])
    except KeyError:
        m = None
    purpose = source = None
    if m is not None:
        purpose = m.description
        quote = f"“{m.source.quote}”" if m.source.quote else ""
        source = f"依据：《{spec.programme.title}》{m.source.clause}{quote}"
    due, original, nominal = info["due"], info.get("original_due"), info.get("nominal_due")
    if original and due != original:
        note = f"已延期，原截止日期为{zh_date(original, cal)}"
    elif nominal and due != nominal:
        note = f"文件规定为{zh_date(nominal, cal)}，逢休息日依规调整"
    else:
        note = None
    role = next((r for r in spec.roles if r.id == "coordinator"), None)
    contact = None
    if role is not None:
        holder = names.get(role.holder, role.holder) if role.holder else None
        contact = f"{role.title}（{holder}）" if holder and holder not in role.title else role.title
    return {"purpose": purpose, "source": source, "due_note": note, "contact": contact}


# --------------------------------------------------------------------------- the receipt


def _shown(f: FormField, v: Any) -> str:
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return _cut(str(v).replace("\n", " "))


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_TEXT else text[: SUMMARY_TEXT - 1] + "…"


def summary(form: Form | None, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """What was submitted, short enough for one A4 page: each field's label and value
    (long text cut), a table's first rows and its row count."""
    out: list[dict[str, Any]] = []
    for f in form.fields if form else []:
        v = payload.get(f.id)
        if v is None:
            continue
        label = f.label + (f"（{f.unit}）" if f.unit else "")
        if f.type == "table" and isinstance(v, list):
            rows = [
                _cut("；".join(_shown(c, row[c.id]) for c in f.columns or [] if row.get(c.id) is not None))
                for row in v[:SUMMARY_ROWS]
                if isinstance(row, dict)
            ]
            out.append({"label": label, "rows": rows, "count": len(v)})
        else:
            out.append({"label": label, "value": _shown(f, v)})
    return out


def receipt_of(session: Session, info: dict, version: int | None) -> dict[str, Any] | None:
    """The receipt of version ``version`` (the latest when None) of the link's task."""
    q = select(Submission).where(Submission.task_id == info["task_id"])
    q = q.where(Submission.version == version) if version else q.order_by(Submission.version.desc()).limit(1)
    sub = session.scalars(q).first()
    if sub is None:
        return None
    return {
        "number": receipt_number(info["year"], info["task_id"], sub.version),
        "version": sub.version,
        "at": sub.received_at,
        "on_time": sub.on_time,
        "summary": summary(info.get("form_spec"), sub.payload or {}),
        "files": [{"name": a.get("name", ""), "size": a.get("size", 0)} for a in sub.attachments or []],
    }


# --------------------------------------------------------------------------- a returned version


def returned_version(session: Session, task_id: int, state: str, versions: int) -> dict[str, Any] | None:
    """When the task's latest version was returned for revision (no submission since the
    coordinator's return, the task still awaited — ``returned``, or ``overdue``/``open``
    after it passed its date or was extended): the return's audit row (``status_changes``,
    where ``submissions.return_for_revision`` keeps the reason) and the version returned."""
    if state not in S.AWAITING or not versions:
        return None
    back = session.scalars(
        select(StatusChange)
        .where(StatusChange.task_id == task_id, StatusChange.to_state == S.RETURNED)
        .order_by(StatusChange.id.desc())
        .limit(1)
    ).first()
    if back is None:
        return None
    since = select(func.count()).select_from(StatusChange)
    if session.scalar(
        since.where(StatusChange.task_id == task_id, StatusChange.to_state == S.SUBMITTED, StatusChange.id > back.id)
    ):
        return None
    sub = session.scalars(
        select(Submission).where(Submission.task_id == task_id).order_by(Submission.version.desc()).limit(1)
    ).first()
    if sub is None:
        return None
    reason = (back.reason or "").strip()
    return {
        "reason": reason if len(reason) <= REASON_TEXT else reason[: REASON_TEXT - 1] + "…",
        "at": back.at,
        "state": S.STATES_ZH[S.RETURNED],
        "version": sub.version,
        "received_at": sub.received_at,
        "payload": sub.payload if isinstance(sub.payload, dict) else {},
    }


def _as_typed(v: Any) -> str:
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)[:PREFILL_TEXT]


def flat_of(form: Form | None, payload: dict[str, Any], param: Callable) -> dict[str, str]:
    """A submitted payload as the page's inputs (the inverse of ``formtext.payload_from_flat``):
    only the form's own fields and columns, a table's rows within its limit, each value
    as the text it would have been typed as, bounded."""
    out: dict[str, str] = {}
    for f in form.fields if form else []:
        v = payload.get(f.id)
        if f.type == "table":
            rows = v[: row_limit(f, param)] if isinstance(v, list) else []
            for i, row in enumerate(r for r in rows if isinstance(r, dict)):
                for c in f.columns or []:
                    if row.get(c.id) is not None:
                        out[f"{f.id}.{i}.{c.id}"] = _as_typed(row[c.id])
        elif v is not None and not isinstance(v, (list, dict)):
            out[f.id] = _as_typed(v)
    return out


def start_values(info: dict, cal: Any) -> tuple[dict[str, str] | None, str | None]:
    """What a freshly opened page starts from, and the notice saying which: the saved
    draft (it wins), else the returned version's values, else nothing."""
    back = info.get("returned")
    if info.get("draft"):
        note = f"已恢复{zh_datetime(info['draft_at'], cal)}暂存的内容（尚未提交）。"
        return info["draft"], note + (f"被退回的第 {back['version']} 版未填入。" if back else "")
    if back:
        values = flat_of(info.get("form_spec"), back["payload"], info["param"])
        said = f"已填入被退回的第 {back['version']} 版（{zh_datetime(back['received_at'], cal)}提交）的内容"
        return values, said + "，请按退回原因修改后重新提交（附件未填入，如需请重新选择）。"
    return None, None


# --------------------------------------------------------------------------- errors linked to their fields

_CELL = re.compile(r"([a-z][a-z0-9_]{0,63})\[(\d{1,6})\](?:\.([a-z][a-z0-9_]{0,63}))?")


@dataclass(frozen=True)
class FieldError:
    err_id: str  # the message's element id ("err-1")
    text: str
    owner: str  # the input (flat name), the table or "evidence" it is shown under; "" for the form as a whole
    target: str | None  # the element id the error summary links to


@dataclass
class Errors:
    summary: list[FieldError]
    shown: dict[str, list[FieldError]]  # owner → the messages shown under it
    described: dict[str, str]  # input name → its aria-describedby
    invalid: set[str]  # input names marked aria-invalid


def _page_rows(table: str, flat: dict[str, Any]) -> list[int]:
    """The page's rows of ``table`` that held a value, in order: the payload's rows
    (``payload_from_flat`` drops rows left empty), so payload row i is page row ``[i]``."""
    rows: set[int] = set()
    for name, v in flat.items():
        head, _, rest = name.partition(".")
        row = rest.partition(".")[0]
        if head == table and row.isdigit() and isinstance(v, str) and v.strip():
            rows.add(int(row))
    return sorted(rows)


def linked_errors(form: Form | None, flat: dict[str, Any], problems: dict[str, list[str]]) -> Errors:
    """Each problem with an id, the input it belongs to (a table cell's path ``t[i].c``
    names the page's row) and the element the summary at the top links to."""
    fields = {f.id: f for f in (form.fields if form else [])}
    errs = Errors([], {}, {}, set())
    for path, msgs in problems.items():
        owner, target, invalid = "", None, True
        m = _CELL.fullmatch(path)
        f = fields.get(m[1] if m else path)
        first = f"{f.id}.0.{f.columns[0].id}" if f is not None and f.type == "table" and f.columns else None
        if path == "evidence":
            owner, target = "evidence", "evidence"
        elif m and f is not None and f.type == "table" and f.columns:
            rows = _page_rows(f.id, flat)
            i = int(m[2])
            row = rows[i] if i < len(rows) else i
            col = m[3] if m[3] in {c.id for c in f.columns} else f.columns[0].id
            owner = target = f"{f.id}.{row}.{col}"
        elif f is not None and f.type == "table" and first:
            owner, target, invalid = f.id, first, False  # the table: the link goes to its first cell
        elif f is not None and not m:
            owner = target = f.id
        for text in msgs:
            e = FieldError(
                f"err-{len(errs.summary) + 1}",
                text,
                owner,
                None if target is None else ("f." + target if target != "evidence" else target),
            )
            errs.summary.append(e)
            if not owner:
                continue
            errs.shown.setdefault(owner, []).append(e)
            for name in {owner, first} if owner == getattr(f, "id", None) and first else {owner}:
                errs.described[name] = (errs.described.get(name, "") + " " + e.err_id).strip()
            if invalid:
                errs.invalid.add(owner)
    return errs
