"""Load calendar files and turn every problem into ``PATH:LINE:COLUMN: message``.

A problem names the field by its path (``workstreams[clinic].milestones[clinic-plan-issued].due.month``)
and says what was expected, so the coordinator who edits the YAML knows what to change.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from .spec import ProgrammeFile, WorkdaysFile
from .yamlsrc import Mark, Path, SourceMap, YamlError, load


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class CalendarInvalid(Exception):
    """A calendar file has problems; ``problems`` lists them in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(map(str, self.problems)))


@dataclass(frozen=True)
class Loaded:
    """A parsed file with what is needed to report further problems against it."""

    file: str
    data: Any
    smap: SourceMap

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        mark = self.smap.locate(path, prefer_key=at_key)
        return Problem(self.file, mark.line, mark.column, f"{display_path(self.data, path)}: {message}")


def read(file: FsPath | str) -> Loaded:
    """Read and parse a YAML file; raise CalendarInvalid for I/O, encoding and syntax problems."""
    name = str(file)
    try:
        raw = FsPath(file).read_bytes()
    except OSError as exc:
        raise CalendarInvalid([Problem(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CalendarInvalid([Problem(name, line, 1, "the file is not UTF-8 text; save it as UTF-8")]) from None
    try:
        data, smap = load(text)
    except YamlError as exc:
        raise CalendarInvalid([Problem(name, exc.mark.line, exc.mark.column, exc.message)]) from None
    if not isinstance(data, dict):
        raise CalendarInvalid([Problem(name, 1, 1, f"expected a mapping at the top of the file, got {_kind(data)}")])
    return Loaded(name, data, smap)


def parse_model(loaded: Loaded, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(loaded.data)
    except ValidationError as exc:
        raise CalendarInvalid(validation_problems(loaded, model, exc)) from None


def load_programme_file(file: FsPath | str) -> ProgrammeFile:
    """Parse, validate and cross-check one programme calendar. Raise CalendarInvalid."""
    return load_programme(file)[0]


def load_programme(file: FsPath | str) -> tuple[ProgrammeFile, Loaded]:
    """``load_programme_file``, with the parsed text to report further problems against."""
    from .checks import check_programme  # checks imports this module

    loaded = read(file)
    spec = parse_model(loaded, ProgrammeFile)
    problems = check_programme(loaded, spec)
    if problems:
        raise CalendarInvalid(problems)
    return spec, loaded


def _workdays_coherence(loaded: Loaded) -> list[Problem]:
    """The year file's cross-field rules (also enforced by ``WorkdaysFile`` itself), each
    reported at the date that breaks it rather than at the top of the file."""
    import datetime as dt

    data = loaded.data
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        return []
    out: list[Problem] = []
    rest: set[dt.date] = set()
    for i, h in enumerate(data.get("holidays") or []):
        if not isinstance(h, dict):
            continue
        first, last = h.get("first"), h.get("last")
        for key, d in (("first", first), ("last", last)):
            if isinstance(d, dt.date) and d.year != year:
                out.append(loaded.problem(("holidays", i, key), f"holiday {h.get('name')} date {d} is not in {year}"))
        if isinstance(first, dt.date) and isinstance(last, dt.date) and first <= last:
            rest |= {first + dt.timedelta(n) for n in range((last - first).days + 1)}
    for i, d in enumerate(data.get("adjusted_workdays") or []):
        if not isinstance(d, dt.date):
            continue
        if d.year != year:
            out.append(loaded.problem(("adjusted_workdays", i), f"adjusted working day {d} is not in {year}"))
        elif d.weekday() < 5:
            out.append(
                loaded.problem(
                    ("adjusted_workdays", i),
                    f"adjusted working day {d} is a weekday; list only weekend days that become working days",
                )
            )
        elif d in rest:
            out.append(
                loaded.problem(("adjusted_workdays", i), f"{d} is listed both as a holiday and as an adjusted working day")
            )
    return out


def load_workdays_file(file: FsPath | str) -> WorkdaysFile:
    loaded = read(file)
    located = _workdays_coherence(loaded)
    if located:
        raise CalendarInvalid(located)
    spec: WorkdaysFile = parse_model(loaded, WorkdaysFile)
    stem = FsPath(file).stem
    if stem != f"cn-{spec.year}":
        raise CalendarInvalid(
            [loaded.problem(("year",), f"the file for {spec.year} must be named cn-{spec.year}.yaml, not {FsPath(file).name}")]
        )
    return spec


# --------------------------------------------------------------------------- error text


def display_path(data: Any, path: Path) -> str:
    """``workstreams[clinic].milestones[clinic-visits].due`` — list items by their id when they have one."""
    out = ""
    cur = data
    for elem in path:
        if isinstance(elem, int):
            item = cur[elem] if isinstance(cur, list) and 0 <= elem < len(cur) else None
            ident = item.get("id") if isinstance(item, dict) else None
            out += f"[{ident}]" if isinstance(ident, str) and ident else f"[{elem}]"
            cur = item
        else:
            out += ("." if out else "") + elem
            cur = cur.get(elem) if isinstance(cur, dict) else None
    return out or "(top level)"


def _kind(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    text = repr(v)
    if len(text) > 60:
        text = text[:57] + "…"
    return f"{type(v).__name__} {text}"


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "date_type": "a date written YYYY-MM-DD",
    "date_parsing": "a date written YYYY-MM-DD",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _resolve_data_path(data: Any, loc: tuple) -> tuple[Path, str | None]:
    """Map a pydantic ``loc`` onto the data: drop union branch names; return the
    deepest existing path, plus the trailing key that does not exist (for 'missing')."""
    path: list[str | int] = []
    cur = data
    missing = None
    for i, elem in enumerate(loc):
        if isinstance(cur, dict) and isinstance(elem, str) and elem in cur:
            path.append(elem)
            cur = cur[elem]
        elif isinstance(cur, list) and isinstance(elem, int) and 0 <= elem < len(cur):
            path.append(elem)
            cur = cur[elem]
        elif i == len(loc) - 1 and isinstance(cur, dict) and isinstance(elem, str):
            missing = elem
        # else: a union branch or discriminator tag that has no place in the data
    return tuple(path), missing


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(tp) if a is not type(None)]
    return [tp]


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that ``loc`` points into, following union branches and tags."""
    cur: Any = root
    for elem in loc:
        members = _union_members(_unwrap(cur))
        if len(members) == 1:
            cur = members[0]
        else:
            chosen = None
            for m in members:
                if isinstance(m, type) and issubclass(m, BaseModel):
                    tag = m.model_fields.get("rule")
                    tags = typing.get_args(tag.annotation) if tag else ()
                    if elem == m.__name__ or elem in tags:
                        chosen = m
                elif getattr(m, "__name__", None) == elem:
                    chosen = m
            if chosen is None:
                return None
            cur = chosen
            continue
        if typing.get_origin(cur) is list and isinstance(elem, int):
            cur = _unwrap(typing.get_args(cur)[0])
        elif isinstance(cur, type) and issubclass(cur, BaseModel) and elem in cur.model_fields:
            cur = _unwrap(cur.model_fields[elem].annotation)
        else:
            return None
    members = _union_members(_unwrap(cur))
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def validation_problems(loaded: Loaded, root: type[BaseModel], exc: ValidationError) -> list[Problem]:
    grouped: dict[tuple[Path, str | None], list[Any]] = {}
    for err in exc.errors(include_url=False):
        key = _resolve_data_path(loaded.data, tuple(err["loc"]))
        grouped.setdefault(key, []).append(err)
    problems = []
    for (path, missing), errs in grouped.items():
        problems.append(_one_problem(loaded, root, path, missing, errs))
    return problems


def _one_problem(loaded: Loaded, root: type[BaseModel], path: Path, missing: str | None, errs: list[dict]) -> Problem:
    first = errs[0]
    kind = first["type"]
    value = _value_at(loaded.data, path)
    if missing is not None and kind == "missing":
        return loaded.problem(path + (missing,), f"missing required key '{missing}'")
    if kind == "extra_forbidden":
        key = path[-1]
        parent_model = _model_at(root, tuple(first["loc"])[:-1])
        allowed = f"; expected one of: {', '.join(parent_model.model_fields)}" if parent_model else ""
        return loaded.problem(path, f"unknown key '{key}'{allowed}", at_key=True)
    if kind == "union_tag_invalid":
        ctx = first.get("ctx", {})
        return loaded.problem(
            path + (ctx.get("discriminator", "rule").strip("'"),),
            f"unknown {ctx.get('discriminator', 'rule').strip(chr(39))} {ctx.get('tag')!r}; expected one of: {ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        disc = first.get("ctx", {}).get("discriminator", "rule").strip("'")
        return loaded.problem(path, f"missing required key '{disc}' that says which kind of rule this is")
    if kind == "literal_error":
        return loaded.problem(path, f"expected {first['ctx']['expected']}, got {_kind(value)}")
    if kind in ("value_error", "assertion_error"):
        msg = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return loaded.problem(path, msg)
    bounds = {
        "greater_than_equal": "{ge} or more",
        "less_than_equal": "{le} or less",
        "greater_than": "more than {gt}",
        "less_than": "less than {lt}",
    }
    if kind in bounds:
        return loaded.problem(path, f"expected {bounds[kind].format(**first['ctx'])}, got {_kind(value)}")
    if kind in ("too_short", "too_long") and isinstance(value, (list, str)):
        ctx = first["ctx"]
        size = f"at least {ctx['min_length']}" if kind == "too_short" else f"at most {ctx['max_length']}"
        unit = "item(s)" if isinstance(value, list) else "character(s)"
        return loaded.problem(path, f"expected {size} {unit}, got {len(value)}")
    if kind == "string_pattern_mismatch":
        what = (
            "a kebab-case id (lower-case letters, digits, single hyphens)"
            if "-" in first["ctx"]["pattern"]
            else f"text matching {first['ctx']['pattern']}"
        )
        return loaded.problem(path, f"expected {what}, got {_kind(value)}")
    expected = [_EXPECTED.get(e["type"]) for e in errs]
    if all(expected):
        wanted = " or ".join(dict.fromkeys(e for e in expected if e))
        if any(e["type"] in ("model_type", "dict_type") for e in errs) and any(
            "ParameterRef" in map(str, e["loc"]) for e in errs
        ):
            wanted = wanted.replace("a mapping", "a parameter reference {parameter: ID}")
        return loaded.problem(path, f"expected {wanted}, got {_kind(value)}")
    msg = "; ".join(dict.fromkeys(e["msg"] for e in errs))
    return loaded.problem(path, f"{msg} (got {_kind(value)})")


def _value_at(data: Any, path: Path) -> Any:
    cur = data
    for elem in path:
        cur = cur[elem]
    return cur


__all__ = [
    "CalendarInvalid",
    "Loaded",
    "Mark",
    "Problem",
    "display_path",
    "load_programme_file",
    "load_workdays_file",
    "parse_model",
    "read",
]
