"""The "double random, one public" (双随机、一公开) expert draw for clinic visits: experts
drawn at random from a library, enterprises taken in a random order, conflicts of
interest excluded, load balanced — reproducible by anyone from the published seed and the
published digests of the inputs.

Library file (YAML)::

    version: 1
    programme: jilin-quality-2022-2024
    draws:
      clinic-visits: {enterprises_from: clinic-recommendations, field: enterprises, experts_per_enterprise: 2}
    experts:
      - {id: e01, name: 王建国, city: changchun, fields: [汽车零部件], ties: [长春某某有限公司]}

``city`` is the participant id of the expert's home city: an expert never visits an
enterprise recommended by that city. ``ties`` are declared relations (an enterprise's name
or credit code): never drawn for it. ``fields``: industries; when enough eligible experts
know the enterprise's industry, only they are drawn.

The draw: a random generator seeded with SHA-256 of (programme, year, milestone, public
seed); enterprises in canonical order (city, credit code, name) are shuffled, and the
experts too; each enterprise in turn gets the eligible experts with the lowest load so
far, ties broken by the shuffled order; then visits move from busier to idler eligible\nexperts while that narrows the spread. Same inputs + same seed → same record.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .timeline.yamlsrc import YamlError
from .timeline.yamlsrc import load as load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expert(_Strict):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    city: str | None = None
    fields: list[str] = []
    ties: list[str] = []


class DrawConfig(_Strict):
    enterprises_from: str
    field: str = "enterprises"
    experts_per_enterprise: int = Field(2, ge=1, le=10)


class Library(_Strict):
    version: int = 1
    programme: str
    draws: dict[str, DrawConfig]
    experts: list[Expert] = Field(min_length=1)


class DrawError(Exception):
    pass


def read_library(path: Path) -> tuple[Library, str]:
    """The library and the SHA-256 of its bytes (published with the result)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DrawError(f"{path}: cannot read the expert library: {exc.strerror}") from None
    try:
        doc, _ = load_yaml(data.decode("utf-8"))
    except YamlError as exc:
        raise DrawError(f"{path}:{exc.mark.line}:{exc.mark.column}: {exc.message}") from None
    except UnicodeDecodeError:
        raise DrawError(f"{path}: not UTF-8 text") from None
    try:
        lib = Library.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise DrawError(f"{path}: {where}: {first['msg']} ({len(exc.errors())} problem(s))") from None
    ids = [e.id for e in lib.experts]
    if len(set(ids)) != len(ids):
        raise DrawError(f"{path}: experts: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return lib, hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Enterprise:
    name: str
    credit_code: str
    industry: str
    city: str  # the participant that recommended it

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.city, self.credit_code, self.name)


@dataclass
class Assignment:
    enterprise: str
    credit_code: str
    city: str
    industry: str
    experts: list[dict[str, str]]
    avoided: int  # experts excluded for a conflict


@dataclass
class DrawRecord:
    programme: str
    year: int
    milestone: str
    seed: str
    library_sha256: str
    enterprises_sha256: str
    experts_per_enterprise: int
    assignments: list[Assignment]
    load: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def enterprises_digest(enterprises: list[Enterprise]) -> str:
    canon = json.dumps(sorted(e.key + (e.industry,) for e in enterprises), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def rng_for(programme: str, year: int, milestone: str, seed: str) -> random.Random:
    digest = hashlib.sha256(f"yearwheel-draw/v1|{programme}|{year}|{milestone}|{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def conflict(expert: Expert, ent: Enterprise) -> str | None:
    if expert.city and expert.city == ent.city:
        return "same city"
    if ent.name in expert.ties or (ent.credit_code and ent.credit_code in expert.ties):
        return "declared tie"
    return None


def draw(
    lib: Library, lib_sha: str, programme: str, year: int, milestone: str, seed: str, enterprises: list[Enterprise]
) -> DrawRecord:
    if not seed.strip():
        raise DrawError("the public seed is empty: publish one before the draw (e.g. a lottery number and date)")
    cfg = lib.draws.get(milestone)
    if cfg is None:
        raise DrawError(f"the library has no draw for milestone {milestone!r}; it has: {', '.join(lib.draws) or 'none'}")
    if not enterprises:
        raise DrawError(f"no enterprises to visit: nothing submitted for {cfg.enterprises_from} ({cfg.field}) in {year}")
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for e in sorted(enterprises, key=lambda e: e.key):
        if e.key not in seen:  # the same row submitted twice counts once
            seen.add(e.key)
            unique.append(e)
    rng = rng_for(programme, year, milestone, seed)
    order = list(unique)
    rng.shuffle(order)
    experts = sorted(lib.experts, key=lambda x: x.id)
    rng.shuffle(experts)
    rank = {x.id: i for i, x in enumerate(experts)}
    load = {x.id: 0 for x in experts}
    k = cfg.experts_per_enterprise
    pools: list[list[Expert]] = []
    chosen: list[list[Expert]] = []
    avoided: list[int] = []
    for ent in order:
        eligible = [x for x in experts if conflict(x, ent) is None]
        if len(eligible) < k:
            raise DrawError(
                f"{ent.name} ({ent.city}): only {len(eligible)} expert(s) without a conflict, {k} needed; widen the library"
            )
        skilled = [x for x in eligible if ent.industry and ent.industry in x.fields]
        pool = skilled if len(skilled) >= k else eligible
        pick = sorted(pool, key=lambda x: (load[x.id], rank[x.id]))[:k]
        for x in pick:
            load[x.id] += 1
        pools.append(pool)
        chosen.append(pick)
        avoided.append(len(experts) - len(eligible))
    _rebalance(pools, chosen, load, rank)
    out = [
        Assignment(
            ent.name,
            ent.credit_code,
            ent.city,
            ent.industry,
            [{"id": x.id, "name": x.name} for x in sorted(pick, key=lambda x: x.id)],
            n,
        )
        for ent, pick, n in zip(order, chosen, avoided, strict=True)
    ]
    return DrawRecord(programme, year, milestone, seed, lib_sha, enterprises_digest(unique), k, out, dict(sorted(load.items())))


def _rebalance(pools: list[list[Expert]], chosen: list[list[Expert]], load: dict[str, int], rank: dict[str, int]) -> None:
    """Greedy order can leave one expert two visits above another (conflicts narrow the
    choice late). Move a visit from a busier expert to a less busy eligible one while that
    narrows the spread; deterministic (enterprises in drawn order, experts by drawn rank)."""
    for _ in range(10_000):
        moved = False
        for pool, pick in zip(pools, chosen, strict=True):
            taken = {x.id for x in pick}
            for i, busy in sorted(enumerate(pick), key=lambda t: (-load[t[1].id], rank[t[1].id])):
                free = [x for x in pool if x.id not in taken and load[x.id] <= load[busy.id] - 2]
                if free:
                    idle = min(free, key=lambda x: (load[x.id], rank[x.id]))
                    pick[i] = idle
                    load[busy.id] -= 1
                    load[idle.id] += 1
                    moved = True
                    break
        if not moved:
            return


def record_markdown(rec: DrawRecord, names: dict[str, str]) -> str:
    loads = sorted(rec.load.values())
    lines = [
        f"# 专家抽取结果公示（{rec.year}年 {rec.milestone}）",
        "",
        f"- 方案：{rec.programme}",
        f"- 公开随机种子：`{rec.seed}`",
        f"- 专家库文件 SHA-256：`{rec.library_sha256}`",
        f"- 企业名单 SHA-256：`{rec.enterprises_sha256}`",
        f"- 每户企业抽取专家：{rec.experts_per_enterprise} 名；企业 {len(rec.assignments)} 户，专家 {len(rec.load)} 名，"
        f"每名专家承担 {loads[0]}–{loads[-1]} 户",
        "",
        "任何人可用同一种子和同一输入（摘要一致）重新抽取，结果应完全相同。已回避：专家所在地市推荐的企业、专家申报的关联企业。",
        "",
        "| 序号 | 企业 | 推荐地区 | 所属产业 | 抽取专家 | 回避人数 |",
        "|---|---|---|---|---|---|",
    ]
    for i, a in enumerate(rec.assignments, start=1):
        lines.append(
            f"| {i} | {a.enterprise} | {names.get(a.city, a.city)} | {a.industry} | "
            f"{'、'.join(x['name'] for x in a.experts)} | {a.avoided} |"
        )
    return "\n".join(lines) + "\n"


def library_path(calendar_file: Path, programme: str) -> Path:
    """Where a programme's expert library lives: ``experts/<programme>.yaml`` beside its calendar."""
    return calendar_file.parent / "experts" / f"{programme}.yaml"


def _city_of(named: str, participants) -> str | None:
    """The participant a row's city column means: its id, its name, or the place its name
    starts with (所在地区 “长春市” is 长春市市场监督管理局)."""
    named = named.strip()
    if not named:
        return None
    for p in participants:
        if named in (p.id, p.name):
            return p.id
    starts = [p.id for p in participants if p.name.startswith(named)]
    return starts[0] if len(starts) == 1 else None


def ledger_enterprises(session, programme: str, year: int, milestone: str, field_id: str, participants=()) -> list[Enterprise]:
    """The enterprises in the standing (latest, submitted) submissions of ``milestone``:
    rows of table ``field_id`` with ``name``, ``credit_code``, ``industry``. An enterprise's
    city is the participant its ``city`` column names (a plan's rows say where each
    enterprise is), else the participant that submitted the row (a city's recommendations)."""
    from sqlalchemy import func, select

    from .tables import MilestoneInstance, ProgrammeYear, Submission, Task

    latest = select(Submission.task_id, func.max(Submission.version).label("v")).group_by(Submission.task_id).subquery()
    q = (
        select(Task.participant, Submission.payload)
        .join(MilestoneInstance, MilestoneInstance.id == Task.milestone_instance_id)
        .join(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
        .join(latest, latest.c.task_id == Task.id)
        .join(Submission, (Submission.task_id == Task.id) & (Submission.version == latest.c.v))
        .where(
            ProgrammeYear.programme == programme,
            ProgrammeYear.year == year,
            MilestoneInstance.milestone == milestone,
            Task.state == "submitted",
        )
    )
    out: list[Enterprise] = []
    for participant, payload in session.execute(q):
        out += enterprises_of((payload or {}).get(field_id), participant, participants)
    return out


def enterprises_of(rows: Any, giver: str, participants=()) -> list[Enterprise]:
    """The enterprises of one submission's table rows (``giver`` submitted them)."""
    out = []
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, dict) and row.get("name"):
            city = _city_of(str(row.get("city") or ""), participants) or giver
            out.append(Enterprise(str(row["name"]), str(row.get("credit_code") or ""), str(row.get("industry") or ""), city))
    return out


def store_draw(session, programme_year_id: int, rec: DrawRecord, *, by: str, at) -> int:
    """Record a draw in the ledger; it stands from now on (the latest of its milestone)."""
    from .tables import ExpertDraw

    row = ExpertDraw(
        programme_year_id=programme_year_id,
        milestone=rec.milestone,
        seed=rec.seed,
        library_sha256=rec.library_sha256,
        enterprises_sha256=rec.enterprises_sha256,
        record=rec.as_json(),
        drawn_by=by,
        drawn_at=at,
    )
    session.add(row)
    session.flush()
    return row.id


def standing_draw(session, programme_year_id: int, milestone: str) -> dict[str, Any] | None:
    """The record of the latest draw of ``milestone`` in a programme year, or None."""
    from sqlalchemy import select

    from .tables import ExpertDraw

    return session.scalar(
        select(ExpertDraw.record)
        .where(ExpertDraw.programme_year_id == programme_year_id, ExpertDraw.milestone == milestone)
        .order_by(ExpertDraw.id.desc())
        .limit(1)
    )


def drawn_experts(record: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """An enterprise's credit code and its name → the ids of the experts drawn for it."""
    out: dict[str, tuple[str, ...]] = {}
    for a in record.get("assignments") or ():
        ids = tuple(str(x["id"]) for x in a.get("experts") or ())
        for k in (a.get("credit_code"), a.get("enterprise")):
            if k:
                out.setdefault(str(k), ids)
    return out
