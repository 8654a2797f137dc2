"""Deliverable forms: validate a submitted payload against a form of the calendar.

A payload is a mapping ``{field_id: value}``; a table field is a list of mappings
``{column_id: value}``. ``validate_payload`` reports every problem at once, one per field
(path, the Chinese label a bureau sees, what was expected and what was got), and returns
a normalised JSON-ready copy. Nothing here touches the database: the caller stores the
result only when there was no problem.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fieldtypes import kind as field_kind
from .timeline import yamlsrc
from .timeline.spec import Form, FormField, ProgrammeFile

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TEXT = 100_000


@dataclass(frozen=True)
class FieldProblem:
    path: str
    label: str
    message: str

    def __str__(self) -> str:
        if not self.path:
            return self.message
        return f"{self.path} ({self.label}): {self.message}" if self.label else f"{self.path}: {self.message}"


class PayloadInvalid(Exception):
    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))

    @classmethod
    def single(cls, path: str, message: str, label: str = "") -> PayloadInvalid:
        return cls([FieldProblem(path, label, message)])


def find_form(spec: ProgrammeFile, form_id: str) -> Form:
    for f in spec.forms:
        if f.id == form_id:
            return f
    raise KeyError(form_id)


# --------------------------------------------------------------------------- reading


def load_payload(path: Path | str) -> Any:
    """Read a payload file (.yaml/.yml/.json) safely; any problem → PayloadInvalid naming the file."""
    p = Path(path)
    name = str(p)
    if p.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise PayloadInvalid.single("", f"{name}: expected a .yaml, .yml or .json file, got {p.suffix or 'no suffix'!r}")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PayloadInvalid.single("", f"{name}: {size} bytes; a form payload may be at most {MAX_FILE_BYTES} bytes")
        text = p.read_bytes().decode("utf-8")
    except PayloadInvalid:
        raise
    except UnicodeDecodeError as exc:
        raise PayloadInvalid.single("", f"{name}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise PayloadInvalid.single("", f"{name}: cannot read: {exc.strerror or exc}") from None
    if p.suffix.lower() == ".json":
        return _load_json(name, text)
    try:
        data, _ = yamlsrc.load(text)
    except yamlsrc.YamlError as exc:
        message = exc.message.replace("calendars use plain YAML only", "forms use plain YAML only")
        raise PayloadInvalid.single("", f"{name}:{exc.mark.line}:{exc.mark.column}: {message}") from None
    return data


def _load_json(name: str, text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def constant(c: str) -> Any:
        raise ValueError(f"{c} is not a number a form accepts")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise PayloadInvalid.single("", f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise PayloadInvalid.single("", f"{name}: {exc}") from None


# --------------------------------------------------------------------------- validating


def _kind(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"a boolean ({v})"
    if isinstance(v, int):
        return f"an integer ({v})"
    if isinstance(v, float):
        return f"a number ({v})"
    if isinstance(v, str):
        shown = v if len(v) <= 40 else v[:37] + "…"
        return f"text ({shown!r})"
    if isinstance(v, (dt.date, dt.datetime)):
        return f"a date ({v})"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


def validate_payload(spec: ProgrammeFile, form_id: str, data: Any) -> dict[str, Any]:
    form = find_form(spec, form_id)
    problems: list[FieldProblem] = []
    if not isinstance(data, dict):
        raise PayloadInvalid.single(
            "", f"expected a mapping of field → value for form {form_id} ({form.title}), got {_kind(data)}"
        )
    clean = _fields(spec, form.fields, data, "", "", problems, f"form {form_id}")
    if problems:
        raise PayloadInvalid(problems)
    return clean


def validate_partial(spec: ProgrammeFile, form: Form, data: dict[str, Any]) -> dict[str, Any]:
    """``validate_payload`` for a form not yet finished (a draft): required fields may be
    empty and tables may have fewer rows than their minimum; every value given must still
    be of its field's type, within its length, range, choices and row maximum."""

    def loose(fields: list[FormField]) -> list[FormField]:
        return [
            f.model_copy(update={"required": False, "min_rows": None, "columns": loose(f.columns) if f.columns else f.columns})
            for f in fields
        ]

    problems: list[FieldProblem] = []
    clean = _fields(spec, loose(form.fields), data, "", "", problems, f"form {form.id}")
    if problems:
        raise PayloadInvalid(problems)
    return clean


def _fields(
    spec: ProgrammeFile,
    fields: list[FormField],
    data: dict,
    prefix: str,
    label_prefix: str,
    problems: list[FieldProblem],
    what: str,
) -> dict[str, Any]:
    known = {f.id: f for f in fields}
    out: dict[str, Any] = {}
    for key in data:
        if key not in known:
            problems.append(FieldProblem(f"{prefix}{key}", "", f"unknown field in {what}; allowed: {', '.join(known)}"))
    for f in fields:
        path, label = f"{prefix}{f.id}", f"{label_prefix}{f.label}"
        if (
            f.id not in data
            or data[f.id] is None
            or (isinstance(data[f.id], str) and not data[f.id].strip() and f.type != "table")
        ):
            if f.required:
                problems.append(
                    FieldProblem(path, label, "required" + ("" if f.id not in data else f", got {_kind(data[f.id])}"))
                )
            continue
        value = _value(spec, f, data[f.id], path, label, problems)
        if value is not _BAD:
            out[f.id] = value
    return out


_BAD = object()


def _value(spec: ProgrammeFile, f: FormField, v: Any, path: str, label: str, problems: list[FieldProblem]) -> Any:
    def bad(message: str) -> object:
        problems.append(FieldProblem(path, label, message))
        return _BAD

    t, k = f.type, field_kind(f.type)
    if k.text:
        if not isinstance(v, str):
            return bad(f"expected text, got {_kind(v)}")
        v = v.strip()
        if k.one_line and "\n" in v:
            return bad("expected one line of text, got several lines")
        limit = f.max_length or MAX_TEXT
        if len(v) > limit:
            return bad(f"at most {limit} characters, got {len(v)}")
        return v
    if k.numeric:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or (t == "integer" and isinstance(v, float) and not v.is_integer())
        ):
            return bad(f"expected {'an integer' if t == 'integer' else 'a number'}, got {_kind(v)}")
        if isinstance(v, float) and not math.isfinite(v):
            return bad(f"expected a finite number, got {v}")
        if t == "integer":
            v = int(v)
        lo, hi = spec.parameter_value(f.min), spec.parameter_value(f.max)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = " and ".join(x for x in (f"≥ {lo}" if lo is not None else "", f"≤ {hi}" if hi is not None else "") if x)
            return bad(f"expected {'an integer' if t == 'integer' else 'a number'} {rng}, got {v}")
        return v
    if t == "boolean":
        if not isinstance(v, bool):
            return bad(f"expected true or false, got {_kind(v)}")
        return v
    if t == "date":
        if isinstance(v, dt.datetime):
            return bad(f"expected a date YYYY-MM-DD, got a date-time ({v})")
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v.strip()).isoformat()
            except ValueError:
                pass
        return bad(f"expected a date YYYY-MM-DD, got {_kind(v)}")
    if t == "choice":
        if not isinstance(v, str) or v.strip() not in (f.choices or []):
            return bad(f"expected one of {', '.join(f.choices or [])}, got {_kind(v)}")
        return v.strip()
    if t == "table":
        if not isinstance(v, list):
            return bad(f"expected a list of rows, got {_kind(v)}")
        lo, hi = spec.parameter_value(f.min_rows), spec.parameter_value(f.max_rows)
        if (lo is not None and len(v) < lo) or (hi is not None and len(v) > hi):
            rng = " and ".join(
                x for x in (f"at least {lo}" if lo is not None else "", f"at most {hi}" if hi is not None else "") if x
            )
            problems.append(FieldProblem(path, label, f"expected {rng} rows, got {len(v)}"))
        rows = []
        for i, row in enumerate(v):
            rpath, rlabel = f"{path}[{i}]", f"{label} 第{i + 1}行"
            if not isinstance(row, dict):
                problems.append(FieldProblem(rpath, rlabel, f"expected a row mapping column → value, got {_kind(row)}"))
                continue
            rows.append(_fields(spec, f.columns or [], row, f"{rpath}.", f"{rlabel} ", problems, f"a row of {f.id}"))
        return rows
    return bad(f"unsupported field type {t}")


# --------------------------------------------------------------------------- measuring


def measure_value(spec: ProgrammeFile, form_id: str, payload: dict[str, Any], field: str, column: str | None) -> float:
    """The number a target counts from one submission: a numeric field's value, a table
    column's sum, a table's row count (no column), a boolean as 1/0; absent → 0."""
    v = payload.get(field)
    if v is None:
        return 0.0
    if isinstance(v, list):
        if column is None:
            return float(len(v))
        return float(sum(_number(row.get(column)) for row in v if isinstance(row, dict)))
    return _number(v)


def _number(v: Any) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return 0.0


# --------------------------------------------------------------------------- samples


def sample_payload(
    spec: ProgrammeFile, form_id: str, rng: random.Random, participant_id: str, *, year: int | None = None
) -> dict[str, Any]:
    """A valid, plausible payload for ``form_id``, deterministic for ``rng``'s state
    (used by the simulator's synthetic bureaus)."""
    form = find_form(spec, form_id)
    names = {p.id: p.name for p in spec.participants}
    who = names.get(participant_id, participant_id)
    return sample_fields(spec, form.fields, rng, who, year or dt.date.today().year)


def sample_fields(spec: ProgrammeFile, fields: list[FormField], rng: random.Random, who: str, year: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if not f.required and rng.random() < 0.3:
            continue
        out[f.id] = _sample_value(spec, f, rng, who, year)
    return out


def _sample_value(spec: ProgrammeFile, f: FormField, rng: random.Random, who: str, year: int) -> Any:
    t = f.type
    if t in ("text", "string"):
        text = (
            f"{who}{f.label}{rng.randint(1, 99)}"
            if t == "string"
            else f"{who}：{f.label}已按要求完成（第{rng.randint(1, 9)}项）。"
        )
        return text[: f.max_length] if f.max_length else text
    if t in ("integer", "number"):
        lo = spec.parameter_value(f.min)
        hi = spec.parameter_value(f.max)
        lo = 0 if lo is None else lo
        hi = max(lo, lo + 50) if hi is None else hi
        if t == "integer":
            return rng.randint(int(math.ceil(lo)), int(math.floor(hi)))
        return round(rng.uniform(lo, hi), 2) if hi > lo else lo
    if t == "boolean":
        return rng.random() < 0.8
    if t == "date":
        return (dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat()
    if t == "choice":
        return rng.choice(f.choices or [""])
    if t == "table":
        lo = spec.parameter_value(f.min_rows) or 1
        hi = spec.parameter_value(f.max_rows) or max(lo, 5)
        n = rng.randint(int(lo), int(max(lo, min(hi, lo + 4))))
        return [sample_fields(spec, f.columns or [], rng, who, year) for _ in range(n)]
    raise ValueError(t)
