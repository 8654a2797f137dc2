"""Checks that need the whole calendar: references between its parts, cycles in
relative dates, days that do not exist in some held year. Each problem points at
the YAML that must change."""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable, Iterator
from pathlib import Path as FsPath

from .loader import Loaded, Problem
from .spec import (
    RELATIVE_RULES,
    FixedDay,
    Form,
    FormField,
    Measure,
    Milestone,
    ParameterRef,
    ProgrammeFile,
    Window,
)
from .yamlsrc import Path


def _ids(loaded: Loaded, items: Iterable, path: Path, what: str, out: list[Problem]) -> set[str]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id in seen:
            out.append(loaded.problem(path + (i, "id"), f"duplicate {what} id '{item.id}' (also {what} #{seen[item.id] + 1})"))
        else:
            seen[item.id] = i
    return set(seen)


def _unknown(ref: str, known: Iterable[str], what: str) -> str:
    choices = sorted(known)
    hint = f"; known: {', '.join(choices)}" if 0 < len(choices) <= 30 else ""
    return f"unknown {what} '{ref}'{hint}"


def milestone_paths(spec: ProgrammeFile) -> Iterator[tuple[Path, Milestone]]:
    for wi, w in enumerate(spec.workstreams):
        for mi, m in enumerate(w.milestones):
            yield ("workstreams", wi, "milestones", mi), m


def check_programme(loaded: Loaded, spec: ProgrammeFile) -> list[Problem]:
    out: list[Problem] = []
    problem = loaded.problem

    stem = FsPath(loaded.file).stem
    if stem != spec.programme.id:
        out.append(
            problem(
                ("programme", "id"),
                f"the file must be named {spec.programme.id}.yaml (after the programme id), not {FsPath(loaded.file).name}",
            )
        )

    participants = _ids(loaded, spec.participants, ("participants",), "participant", out)
    groups = _ids(loaded, spec.groups, ("groups",), "group", out)
    roles = _ids(loaded, spec.roles, ("roles",), "role", out)
    params = _ids(loaded, spec.parameters, ("parameters",), "parameter", out)
    forms = _ids(loaded, spec.forms, ("forms",), "form", out)
    policies = _ids(loaded, spec.reminder_policies, ("reminder_policies",), "reminder policy", out)
    _ids(loaded, spec.workstreams, ("workstreams",), "workstream", out)
    _ids(loaded, spec.targets, ("targets",), "target", out)
    years = set(spec.programme.years)

    for gi, g in enumerate(spec.groups):
        if g.id in participants:
            out.append(
                problem(
                    ("groups", gi, "id"), f"'{g.id}' is already a participant id; groups and participants share one namespace"
                )
            )
    for pi, p in enumerate(spec.participants):
        if p.parent is not None and p.parent not in participants:
            out.append(problem(("participants", pi, "parent"), _unknown(p.parent, participants, "participant")))
    for gi, g in enumerate(spec.groups):
        seen: set[str] = set()
        for k, member in enumerate(g.members):
            if member in seen:
                out.append(problem(("groups", gi, "members", k), f"'{member}' is listed twice"))
            elif member not in participants:
                what = "participant (groups hold participants, not other groups)" if member in groups else "participant"
                out.append(problem(("groups", gi, "members", k), _unknown(member, participants, what)))
            seen.add(member)
    for ri, r in enumerate(spec.roles):
        if r.holder is not None and r.holder not in participants:
            out.append(problem(("roles", ri, "holder"), _unknown(r.holder, participants, "participant")))

    who = participants | groups

    def check_who(ids: list[str] | None, path: Path) -> None:
        for k, ref in enumerate(ids or ()):
            if ref not in who:
                out.append(problem(path + (k,), _unknown(ref, who, "participant or group")))

    def check_param(v: object, path: Path) -> None:
        if isinstance(v, ParameterRef) and v.parameter not in params:
            out.append(problem(path + ("parameter",), _unknown(v.parameter, params, "parameter")))

    # ----- forms
    for fi, form in enumerate(spec.forms):
        _check_fields(loaded, form.fields, ("forms", fi, "fields"), check_param, out)

    # ----- reminder policies
    d = spec.programme.defaults
    if d.reminder_policy is not None and d.reminder_policy not in policies:
        out.append(
            problem(("programme", "defaults", "reminder_policy"), _unknown(d.reminder_policy, policies, "reminder policy"))
        )
    for pi, pol in enumerate(spec.reminder_policies):
        seen_offsets: set[int] = set()
        for k, off in enumerate(pol.before_due):
            if off in seen_offsets:
                out.append(problem(("reminder_policies", pi, "before_due", k), f"{off} is listed twice"))
            seen_offsets.add(off)
        for ei, esc in enumerate(pol.escalations):
            for k, role in enumerate(esc.to):
                if role not in roles:
                    out.append(problem(("reminder_policies", pi, "escalations", ei, "to", k), _unknown(role, roles, "role")))

    # ----- workstreams and milestones
    by_id: dict[str, tuple[Path, Milestone]] = {}
    for path, m in milestone_paths(spec):
        if m.id in by_id:
            out.append(problem(path + ("id",), f"duplicate milestone id '{m.id}' (milestone ids are unique across workstreams)"))
        else:
            by_id[m.id] = (path, m)

    for wi, w in enumerate(spec.workstreams):
        check_who(w.lead, ("workstreams", wi, "lead"))
        check_who(w.cooperating, ("workstreams", wi, "cooperating"))
        for mi, m in enumerate(w.milestones):
            path = ("workstreams", wi, "milestones", mi)
            check_who(m.assignees, path + ("assignees",))
            check_who(m.cooperating, path + ("cooperating",))
            if m.assignees is None and w.lead is None:
                out.append(
                    problem(path, f"milestone '{m.id}' has no assignees and workstream '{w.id}' has no lead to default to")
                )
            if m.form is not None and m.form not in forms:
                out.append(problem(path + ("form",), _unknown(m.form, forms, "form")))
            if m.kind == "submission" and m.form is None:
                out.append(problem(path + ("kind",), "a submission milestone needs a 'form' saying what each assignee submits"))
            if m.reminder_policy is not None and m.reminder_policy not in policies:
                out.append(problem(path + ("reminder_policy",), _unknown(m.reminder_policy, policies, "reminder policy")))
            held = set(m.years) if m.years else years
            for k, y in enumerate(m.years or ()):
                if y not in years:
                    out.append(
                        problem(
                            path + ("years", k),
                            f"{y} is outside the programme years {spec.programme.years.first}–{spec.programme.years.last}",
                        )
                    )
            for which in ("opens", "due"):
                rule = getattr(m, which)
                if rule is None:
                    continue
                rpath = path + (which,)
                if isinstance(rule, FixedDay) and rule.month == 2 and rule.day == 29:
                    bad = sorted(y for y in held if not _stdcal.isleap(y))
                    if bad:
                        out.append(
                            problem(
                                rpath + ("day",),
                                f"February 29 does not exist in {', '.join(map(str, bad))}; use end_of_month for the end of February",
                            )
                        )
                if isinstance(rule, RELATIVE_RULES):
                    if rule.milestone not in by_id:
                        out.append(problem(rpath + ("milestone",), _unknown(rule.milestone, by_id, "milestone")))
                        continue
                    other = spec.milestone(rule.milestone)
                    other_years = set(other.years) if other.years else years
                    if not held <= other_years:
                        missing = ", ".join(map(str, sorted(held - other_years)))
                        out.append(
                            problem(
                                rpath + ("milestone",),
                                f"'{other.id}' is not held in {missing}, a year this milestone is held; limit this milestone's 'years'",
                            )
                        )
            if m.opens is not None and isinstance(m.due, Window):
                out.append(
                    problem(
                        path + ("opens",),
                        "a window due date already says when the milestone opens; remove 'opens' or make 'due' a single day",
                    )
                )
            if m.opens_before_due is not None and (m.opens is not None or isinstance(m.due, Window)):
                out.append(
                    problem(
                        path + ("opens_before_due",),
                        "'opens_before_due' applies only to a milestone with no 'opens' rule and no window; remove one of them",
                    )
                )

    out.extend(_cycles(loaded, spec))

    # ----- targets
    for ti, t in enumerate(spec.targets):
        tpath: Path = ("targets", ti)
        check_param(t.at_least, tpath + ("at_least",))
        check_param(t.at_most, tpath + ("at_most",))
        if t.each is not None and t.each not in who:
            out.append(problem(tpath + ("each",), _unknown(t.each, who, "participant or group")))
        if t.by_year is not None and t.by_year not in years:
            out.append(
                problem(
                    tpath + ("by_year",),
                    f"{t.by_year} is outside the programme years {spec.programme.years.first}–{spec.programme.years.last}",
                )
            )
        if t.owner is not None and t.owner not in who and t.owner not in {r.id for r in spec.roles}:
            out.append(problem(tpath + ("owner",), _unknown(t.owner, [*who, *(r.id for r in spec.roles)], "role or participant")))
        for y, v in (t.path or {}).items():
            check_param(v, tpath + ("path", y))
            if y not in years:
                out.append(
                    problem(
                        tpath + ("path", y),
                        f"{y} is outside the programme years {spec.programme.years.first}–{spec.programme.years.last}",
                    )
                )
        for key in ("counted_from", "numerator", "denominator"):
            meas = getattr(t, key)
            if meas is not None:
                _check_measure(loaded, spec, meas, tpath + (key,), out)

        def value(v: object) -> float | None:
            if isinstance(v, ParameterRef) and v.parameter not in params:
                return None  # reported above
            return spec.parameter_value(v)  # type: ignore[arg-type]

        lo, hi = value(t.at_least), value(t.at_most)
        if lo is not None and hi is not None and lo > hi:
            out.append(problem(tpath + ("at_most",), f"at_most ({hi}) is below at_least ({lo})"))
        if t.measure == "rate":
            for key, bound in (("at_least", lo), ("at_most", hi)):
                if bound is not None and not 0 <= bound <= 100:
                    out.append(problem(tpath + (key,), f"a rate threshold is a percentage from 0 to 100, got {bound}"))

    from .fanoutcheck import check_fan_out  # they use this module's helpers
    from .scorecheck import check_scorecard

    out.extend(check_scorecard(loaded, spec, who, roles))
    out.extend(check_fan_out(loaded, spec, years))

    if spec.programme.in_force_from is not None and spec.programme.in_force_from.year > spec.programme.years.last:
        out.append(
            problem(
                ("programme", "in_force_from"),
                f"{spec.programme.in_force_from} is after the last programme year {spec.programme.years.last}",
            )
        )
    return out


def _check_fields(loaded: Loaded, fields: list[FormField], path: Path, check_param, out: list[Problem]) -> None:
    seen: set[str] = set()
    for k, f in enumerate(fields):
        if f.id in seen:
            out.append(loaded.problem(path + (k, "id"), f"duplicate field id '{f.id}'"))
        seen.add(f.id)
        for key in ("min", "max", "min_rows", "max_rows"):
            check_param(getattr(f, key), path + (k, key))
        if f.columns:
            _check_fields(loaded, f.columns, path + (k, "columns"), check_param, out)


def _check_measure(loaded: Loaded, spec: ProgrammeFile, meas: Measure, path: Path, out: list[Problem]) -> None:
    form: Form | None = next((f for f in spec.forms if f.id == meas.form), None)
    if form is None:
        out.append(loaded.problem(path + ("form",), _unknown(meas.form, [f.id for f in spec.forms], "form")))
        return
    field = next((f for f in form.fields if f.id == meas.field), None)
    if field is None:
        out.append(
            loaded.problem(path + ("field",), _unknown(meas.field, [f.id for f in form.fields], f"field of form '{form.id}'"))
        )
        return
    if meas.column is not None:
        if field.type != "table":
            out.append(
                loaded.problem(path + ("column",), f"field '{field.id}' is a {field.type} field, not a table; remove 'column'")
            )
            return
        col = next((c for c in field.columns or () if c.id == meas.column), None)
        if col is None:
            out.append(
                loaded.problem(
                    path + ("column",), _unknown(meas.column, [c.id for c in field.columns or ()], f"column of '{field.id}'")
                )
            )
        elif col.type not in ("integer", "number"):
            out.append(
                loaded.problem(
                    path + ("column",), f"column '{col.id}' is {col.type}; only integer and number columns can be summed"
                )
            )
    elif field.type not in ("integer", "number", "table"):
        out.append(
            loaded.problem(
                path + ("field",),
                f"field '{field.id}' is {field.type}; a measure needs an integer or number field, or a table (its rows are counted)",
            )
        )


def _cycles(loaded: Loaded, spec: ProgrammeFile) -> list[Problem]:
    """Relative dates form a graph over (milestone, opens|due); it must have no cycle."""
    paths = {m.id: p for p, m in milestone_paths(spec)}
    edges: dict[tuple[str, str], tuple[str, str]] = {}
    for _, m in spec.milestones():
        for which in ("opens", "due"):
            rule = getattr(m, which)
            if isinstance(rule, RELATIVE_RULES) and rule.milestone in paths:
                target_which = rule.of
                other = spec.milestone(rule.milestone)
                if target_which == "opens" and other.opens is None and isinstance(other.due, Window):
                    continue  # a window's opening depends on nothing
                edges[(m.id, which)] = (rule.milestone, target_which)
        if m.opens is None and not isinstance(m.due, Window):
            edges[(m.id, "opens")] = (m.id, "due")  # the implicit opening counts back from the due date
    out: list[Problem] = []
    reported: set[frozenset] = set()
    for start in edges:
        chain = [start]
        node = start
        while node in edges:
            node = edges[node]
            if node in chain:
                cycle = chain[chain.index(node) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    shown = " → ".join(f"{mid}.{w}" for mid, w in cycle + [node])
                    first = min(cycle)
                    out.append(loaded.problem(paths[first[0]] + (first[1],), f"relative dates form a cycle: {shown}"))
                break
            chain.append(node)
    return out
