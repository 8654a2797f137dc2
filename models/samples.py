"""Plausible rows for the tables that fan-out milestones read — so a simulated year reads
like a real one: the year's plan lists enterprises (names, unified social credit codes that
pass their checksums, cities from the programme's participants, industries), the task
sheets hand each of those enterprises' measures to a division or unit by its name.
Pure and deterministic by seed (``models.simulation`` uses it for the synthetic bureaus).
"""

from __future__ import annotations

import math
import random
from typing import Any

from . import creditcode
from .forms import sample_fields
from .timeline import ProgrammeFile

INDUSTRIES = ("汽车零部件", "医药健康", "农产品加工", "装备制造", "石油化工", "冶金建材", "电子信息", "食品饮料")
WORDS = (
    "长盛",
    "恒通",
    "宏达",
    "北方",
    "金穗",
    "华宇",
    "松江",
    "鼎力",
    "瑞丰",
    "新元",
    "天成",
    "雪域",
    "东岳",
    "嘉禾",
    "兴业",
    "鸿运",
)
TRADE = {
    "汽车零部件": "汽车部件",
    "医药健康": "生物制药",
    "农产品加工": "粮油食品",
    "装备制造": "机械制造",
    "石油化工": "化工",
    "冶金建材": "新型建材",
    "电子信息": "电子科技",
    "食品饮料": "食品",
}
LOCAL_KINDS = ("city", "prefecture", "management-area", "pilot-county-city", "county")
HANDLING_KINDS = ("division", "unit")


def fan_out_sources(spec: ProgrammeFile) -> dict[tuple[str, str], Any]:
    """(form, table field) → the ForEach of a fan-out milestone reading it."""
    out = {}
    for _, m in spec.milestones():
        if m.for_each is not None:
            src = spec.milestone(m.for_each.milestone)
            if src.form:
                out[(src.form, m.for_each.field)] = m.for_each
    return out


def enterprises_per_year(spec: ProgrammeFile) -> int:
    """As many as a target counting the items of a fan-out expects each year (e.g. 300
    enterprises over three years: 100), else a handful."""
    years = spec.programme.years.last - spec.programme.years.first + 1
    for t in spec.targets:
        if t.count_items is not None and t.at_least is not None:
            goal = spec.parameter_value(t.at_least) or 0
            return max(1, math.ceil(float(goal) / (1 if t.period == "yearly" else years)))
    return 8


def enterprises(spec: ProgrammeFile, seed: int | str, year: int) -> list[dict[str, str]]:
    """The year's enterprises: the same list for every form that lists them."""
    rng = random.Random(f"{seed}:enterprises:{year}")
    places = [
        p.name.removesuffix("市场监督管理局").removesuffix("市场监管局") for p in spec.participants if p.kind in LOCAL_KINDS
    ]
    places = places or ["本地"]
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(out) < enterprises_per_year(spec):
        industry = rng.choice(INDUSTRIES)
        city = rng.choice(places)
        name = f"{city.removesuffix('市')}{rng.choice(WORDS)}{TRADE[industry]}有限公司"
        if name in seen:
            name = name.replace("有限公司", f"第{len(out) + 1}分公司")
        seen.add(name)
        division = f"22{places.index(city) + 1:02d}00"
        out.append({"name": name, "credit_code": creditcode.make(rng, division), "city": city, "industry": industry})
    return out


def fill_fan_out_tables(
    spec: ProgrammeFile, form_id: str, payload: dict[str, Any], seed: int | str, year: int, rng: random.Random
) -> dict[str, Any]:
    """``payload`` with each table a fan-out reads replaced by plausible rows: enterprises
    (a table keyed by a credit code or a name), or measures handed to divisions (a table
    whose assignee column names who handles each row)."""
    form = next(f for f in spec.forms if f.id == form_id)
    sources = fan_out_sources(spec)
    handlers = [p.name for p in spec.participants if p.kind in HANDLING_KINDS] or [p.name for p in spec.participants]
    out = dict(payload)
    for f in form.fields:
        fe = sources.get((form_id, f.id))
        if fe is None or f.type != "table":
            continue
        columns = {c.id: c for c in f.columns or ()}
        rows = []
        for n, e in enumerate(enterprises(spec, seed, year)):
            measures = range(rng.randint(1, 2)) if fe.assignee is not None else range(1)
            for k in measures:
                row: dict[str, Any] = sample_fields(spec, list(columns.values()), rng, e["name"], year)
                for cid in columns:
                    if cid in ("name", "enterprise"):
                        row[cid] = e["name"]
                    elif cid in e:
                        row[cid] = e[cid]
                    elif fe.assignee is not None and cid == fe.assignee.column:
                        row[cid] = rng.choice(handlers)
                    elif cid == fe.key:
                        row[cid] = f"{year}-{n + 1:03d}-{k + 1}"
                rows.append(row)
        out[f.id] = rows
    return out


def scale_counted_fields(spec: ProgrammeFile, form_id: str, payload: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A number a count target sums, drawn at the scale the target expects: its goal spread
    over the programme's years and the tasks that report it (50 bottlenecks over three
    years and nine divisions: 0–4 each, not 0–50)."""
    years = spec.programme.years.last - spec.programme.years.first + 1
    reporters = sum(
        len(spec.expand(m.assignees if m.assignees is not None else w.lead)) for w, m in spec.milestones() if m.form == form_id
    )
    out = dict(payload)
    for t in spec.targets:
        meas = t.counted_from
        if t.measure != "count" or meas is None or meas.form != form_id or meas.column is not None or meas.field not in out:
            continue
        if not isinstance(out[meas.field], int) or isinstance(out[meas.field], bool):
            continue
        goal = float(spec.parameter_value(t.at_least) or 0)
        per_year = goal if t.period == "yearly" else goal / years
        f = next(x for x in next(fm for fm in spec.forms if fm.id == form_id).fields if x.id == meas.field)
        lo = int(spec.parameter_value(f.min) or 0)
        hi = spec.parameter_value(f.max)
        value = max(lo, rng.randint(0, max(1, round(2 * per_year / max(reporters, 1)))))
        out[meas.field] = min(value, int(hi)) if hi is not None else value
    return out
