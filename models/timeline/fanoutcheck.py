"""The calendar checks of fan-out milestones (``for_each``) and of targets counting their
items (``count_items``), reported at their line; the per-year date order is checked by
the planner."""

from __future__ import annotations

from .checks import _ids, _unknown, milestone_paths  # noqa: F401 — the shared helpers of the calendar checks
from .loader import Loaded, Problem
from .spec import ProgrammeFile
from .yamlsrc import Path


def check_fan_out(loaded: Loaded, spec: ProgrammeFile, years: set[int]) -> list[Problem]:
    """A fan-out milestone's source (an earlier milestone with a form whose field is a
    table with the key, name, kept and assignee columns), and targets counting its items."""
    out: list[Problem] = []
    problem = loaded.problem
    forms = {f.id: f for f in spec.forms}
    milestones = {m.id: m for _, m in spec.milestones()}
    names = {p.id for p in spec.participants} | {p.name for p in spec.participants}
    for path, m in milestone_paths(spec):
        fe = m.for_each
        if fe is None:
            continue
        fpath = path + ("for_each",)
        src = milestones.get(fe.milestone)
        if src is None or src.id == m.id:
            what = "the milestone itself" if src is not None else _unknown(fe.milestone, milestones, "milestone")
            out.append(problem(fpath + ("milestone",), f"{what}: a milestone fans out from an earlier one"))
            continue
        if src.for_each is not None and src.for_each.milestone == m.id:
            out.append(problem(fpath + ("milestone",), f"'{src.id}' fans out from this milestone: the two wait for each other"))
        held = set(m.years) if m.years else years
        src_years = set(src.years) if src.years else years
        if not held <= src_years:
            missing = ", ".join(map(str, sorted(held - src_years)))
            out.append(problem(fpath + ("milestone",), f"'{src.id}' is not held in {missing}, a year this milestone is held"))
        form = forms.get(src.form or "")
        if form is None:
            out.append(problem(fpath + ("milestone",), f"'{src.id}' has no form: there are no rows to fan out from"))
            continue
        table = next((f for f in form.fields if f.id == fe.field), None)
        if table is None or table.type != "table":
            tables = [f.id for f in form.fields if f.type == "table"]
            what = (
                f"'{fe.field}' is not a field of form '{form.id}'" if table is None else f"'{fe.field}' is a {table.type} field"
            )
            out.append(
                problem(
                    fpath + ("field",),
                    f"{what}; a fan-out needs a table field (tables of the form: {', '.join(tables) or 'none'})",
                )
            )
            continue
        columns = {c.id: c for c in table.columns or ()}
        known = ", ".join(columns)
        refs: list[tuple[Path, str | None]] = [(("key",), fe.key), (("name",), fe.name)]
        refs += [(("keep", i), c) for i, c in enumerate(fe.keep)]
        for where, ref in refs:
            if ref is not None and ref not in columns:
                out.append(problem(fpath + where, f"'{ref}' is not a column of {form.id}.{table.id}; its columns: {known}"))
            elif ref in ("source_task", "version", "row", "generation") or (ref == "name" and where[0] != "name"):
                out.append(
                    problem(fpath + where, f"a column named '{ref}' cannot be kept: the item's snapshot uses that name itself")
                )
        if fe.key in columns and columns[fe.key].type not in ("string", "integer", "choice"):
            out.append(
                problem(fpath + ("key",), f"a key column must be a string, integer or choice column, not {columns[fe.key].type}")
            )
        if fe.assignee is not None and fe.assignee.draw is not None:
            out.extend(_check_draw(loaded, spec, fpath + ("assignee", "draw"), fe, milestones))
        elif fe.assignee is not None and fe.assignee.column is not None:
            col = columns.get(fe.assignee.column)
            apath = fpath + ("assignee", "column")
            if col is None:
                out.append(
                    problem(apath, f"'{fe.assignee.column}' is not a column of {form.id}.{table.id}; its columns: {known}")
                )
            elif col.type not in ("string", "choice"):
                out.append(problem(apath, f"the assignee column names a participant: a string or choice column, not {col.type}"))
            elif col.type == "choice":
                for choice in col.choices or ():
                    if choice not in names:
                        out.append(
                            problem(
                                apath, f"the choice '{choice}' of {form.id}.{table.id}.{col.id} is no participant's id or name"
                            )
                        )
    for ti, t in enumerate(spec.targets):
        ci = t.count_items
        if ci is None:
            continue
        fan = milestones.get(ci.milestone)
        cpath: Path = ("targets", ti, "count_items", "milestone")
        if t.each is not None:
            out.append(
                problem(
                    ("targets", ti, "each"), "'each' does not apply to count_items (the items are counted across participants)"
                )
            )
        if fan is None or fan.for_each is None:
            fans = [x.id for x in milestones.values() if x.for_each is not None]
            what = _unknown(ci.milestone, milestones, "milestone") if fan is None else f"'{fan.id}' does not fan out"
            out.append(
                problem(cpath, f"{what}; count_items counts the items of a fan-out milestone ({', '.join(fans) or 'none'})")
            )
        elif ci.distinct is not None and ci.distinct not in {fan.for_each.key, fan.for_each.name, *fan.for_each.keep}:
            out.append(
                problem(
                    ("targets", ti, "count_items", "distinct"),
                    f"'{ci.distinct}' is not kept with the items of '{fan.id}' (its key, name or keep columns)",
                )
            )
    return out


def _check_draw(loaded: Loaded, spec: ProgrammeFile, path: Path, fe, milestones: dict) -> list[Problem]:
    """``assignee: {draw: X}``: X is a milestone, and the programme's expert library (beside
    the calendar) holds a draw for X over the rows this milestone fans out from, with expert
    ids that are no participant's (a task's owner is one or the other)."""
    from pathlib import Path as FsPath

    from models.experts import DrawError, library_path, read_library

    problem = loaded.problem
    if fe.assignee.draw not in milestones:
        return [problem(path, f"{_unknown(fe.assignee.draw, milestones, 'milestone')}: the draw is named by its milestone")]
    where = library_path(FsPath(loaded.file), spec.programme.id)
    if not where.exists():
        return [problem(path, f"the experts are drawn from the programme's expert library, and {where} does not exist")]
    try:
        lib, _ = read_library(where)
    except DrawError as exc:
        return [problem(path, f"the expert library cannot be read: {exc}")]
    cfg = lib.draws.get(fe.assignee.draw)
    if cfg is None:
        return [problem(path, f"{where} has no draw for '{fe.assignee.draw}'; its draws: {', '.join(lib.draws) or 'none'}")]
    out = []
    if (cfg.enterprises_from, cfg.field) != (fe.milestone, fe.field):
        out.append(
            problem(
                path,
                f"the draw assigns experts to the rows of {cfg.enterprises_from}.{cfg.field}, but this milestone fans out "
                f"from {fe.milestone}.{fe.field}: set enterprises_from: {fe.milestone} and field: {fe.field} in {where}",
            )
        )
    clash = sorted({x.id for x in lib.experts} & {p.id for p in spec.participants})
    if clash:
        out.append(problem(path, f"expert ids in {where} are also participant ids: {', '.join(clash)}; rename the experts"))
    return out
