"""The calendar checks of the evaluation (``scorecard:``), the bulletin (``bulletin:``) and
the overdue alert (``overdue_alert:``): cohort members, indicators, targets and
recipients, reported at their line."""

from __future__ import annotations

from .checks import _ids, _unknown, milestone_paths  # noqa: F401 — the shared helpers of the calendar checks
from .loader import Loaded, Problem
from .spec import ProgrammeFile
from .yamlsrc import Path


def check_scorecard(loaded: Loaded, spec: ProgrammeFile, who: set[str], roles: set[str]) -> list[Problem]:
    """The evaluation's cohorts, indicators, and the bulletin's and the alert's recipients."""
    out: list[Problem] = []
    problem = loaded.problem
    sc = spec.scorecard
    if sc is not None:
        cohorts = _ids(loaded, sc.cohorts, ("scorecard", "cohorts"), "cohort", out)
        _ids(loaded, sc.indicators, ("scorecard", "indicators"), "indicator", out)
        ranked: dict[str, str] = {}  # participant → the cohort it is ranked in
        for ci, c in enumerate(sc.cohorts):
            for k, ref in enumerate(c.members):
                if ref not in who:
                    out.append(problem(("scorecard", "cohorts", ci, "members", k), _unknown(ref, who, "participant or group")))
                    continue
                for p in spec.expand([ref]):
                    if p in ranked and ranked[p] != c.id:
                        out.append(
                            problem(
                                ("scorecard", "cohorts", ci, "members", k),
                                f"'{p}' is already ranked in cohort '{ranked[p]}'; a participant is ranked in one cohort",
                            )
                        )
                    ranked.setdefault(p, c.id)
        targets = {t.id: t for t in spec.targets}
        covered: set[str] = set()
        for ii, ind in enumerate(sc.indicators):
            ipath: Path = ("scorecard", "indicators", ii)
            for k, ref in enumerate(ind.cohorts or ()):
                if ref not in cohorts:
                    out.append(problem(ipath + ("cohorts", k), _unknown(ref, cohorts, "cohort")))
            covered.update(ind.cohorts or cohorts)
            if ind.target is not None:
                t = targets.get(ind.target)
                if t is None:
                    out.append(problem(ipath + ("target",), _unknown(ind.target, targets, "target")))
                elif t.counted_from is None and t.numerator is None:
                    out.append(
                        problem(
                            ipath + ("target",),
                            f"target '{t.id}' is not measured from a form (no counted_from or numerator): "
                            "no participant's contribution can be computed",
                        )
                    )
        for ci, c in enumerate(sc.cohorts):
            if c.id not in covered:
                out.append(problem(("scorecard", "cohorts", ci, "id"), f"no indicator applies to cohort '{c.id}'"))
    for section, told in (("bulletin", spec.bulletin), ("overdue_alert", spec.overdue_alert)):
        for k, ref in enumerate(told.to if told is not None else ()):
            if ref not in who and ref not in roles:
                out.append(problem((section, "to", k), _unknown(ref, [*who, *roles], "role or participant")))
            elif ref in roles and next(r for r in spec.roles if r.id == ref).holder is None:
                out.append(
                    problem((section, "to", k), f"role '{ref}' has no holder (it is held inside each unit); name a role with one")
                )
    return out
