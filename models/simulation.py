"""Synthetic bureaus for the year simulation — pure and deterministic by seed.

Each participant gets a persona: ``punctual`` (submits before the due date), ``late``
(usually a few working days after it) or ``never``. The same seed gives the same
personas, submission instants and payloads on every machine.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .timeline import TZ, ProgrammeFile, WorkdayCalendar
from .timeline.chase import task_steps
from .timeline.workdays import MissingWorkdayData
from .timeline.plan import YearPlan

PUNCTUAL, LATE, NEVER = "punctual", "late", "never"


@dataclass(frozen=True)
class PlannedSubmission:
    at: dt.datetime
    milestone: str
    participant: str
    persona: str
    item: str | None = None  # a fan-out task's item key


# Who may be which persona: local bureaus and outside providers can fall silent for a
# whole year; the province's own divisions and units are at worst late.
MAY_NEVER = frozenset({"city", "prefecture", "management-area", "pilot-county-city", "county", "third-party"})


def assign_personas(spec: ProgrammeFile, seed: int, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """A persona per participant (and per ``extra`` owner, e.g. a drawn expert: at worst late)."""
    out = {}
    for xid in extra:
        out[xid] = PUNCTUAL if random.Random(f"{seed}:persona:{xid}").random() < 0.75 else LATE
    for p in spec.participants:
        x = random.Random(f"{seed}:persona:{p.id}").random()
        if p.kind in MAY_NEVER:
            out[p.id] = PUNCTUAL if x < 0.6 else LATE if x < 0.85 else NEVER
        else:
            out[p.id] = PUNCTUAL if x < 0.75 else LATE
    return out


def _instant(day: dt.date, rng: random.Random) -> dt.datetime:
    minutes = rng.randrange(9 * 60, 17 * 60 + 30)
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=TZ)


@dataclass(frozen=True)
class LeftOut:
    milestone: str
    participant: str
    why: str


def plan_submissions(
    plan: YearPlan,
    personas: dict[str, str],
    cal: WorkdayCalendar,
    seed: int,
    start: dt.date | None = None,
    left_out: list[LeftOut] | None = None,
    owners: dict[str, list[tuple[str, str | None]]] | None = None,
) -> list[PlannedSubmission]:
    """``start``: the first day the programme is in force that year — nobody submits
    before it (the task does not exist yet). A late submission that would fall in a year
    without working-day data cannot be dated: it is left out (and listed in ``left_out``),
    never guessed. ``owners``: a fan-out milestone's (participant, item) tasks, from the
    rows its source will be given."""
    out: list[PlannedSubmission] = []
    for m in plan.milestones:
        tasks = (owners or {}).get(m.id, [(w, None) for w in m.assignees])
        for who, item in tasks:
            persona = personas.get(who, PUNCTUAL)
            rng = random.Random(f"{seed}:submit:{m.id}:{who}" + (f":{item}" if item else ""))
            if persona == NEVER:
                continue
            earliest = max(m.opens or cal.add(m.due, -20), cal.add(m.due, -8), start or dt.date.min)
            earliest = min(earliest, m.due)
            if persona == LATE and rng.random() < 0.85:
                try:
                    day = cal.add(m.due, rng.randint(1, 6))
                except MissingWorkdayData as exc:
                    if left_out is not None:
                        left_out.append(LeftOut(m.id, who, str(exc)))
                    continue
            else:
                days = [earliest + dt.timedelta(n) for n in range((m.due - earliest).days + 1)]
                day = rng.choice([d for d in days if cal.is_workday(d)] or [m.due])
            out.append(PlannedSubmission(_instant(day, rng), m.id, who, persona, item))
    out.sort(key=lambda s: (s.at, s.milestone, s.participant))
    return out


def advance_instants(spec: ProgrammeFile, plan: YearPlan, cal: WorkdayCalendar) -> list[dt.datetime]:
    """Every instant at which a reminder step of some task falls due — the days on which
    something happens. Advancing at these (and after each submission) is enough to run
    the year: nothing in the engine changes between them."""
    default = spec.programme.defaults.reminder_policy
    policies = {p.id: p for p in spec.reminder_policies}
    start = max(dt.date(plan.year, 1, 1), spec.programme.in_force_from or dt.date.min)
    instants: set[dt.datetime] = {dt.datetime.combine(start, dt.time(8, 0), tzinfo=TZ)}  # the year compiles
    for m in plan.milestones:
        policy_id = spec.milestone(m.id).reminder_policy or default
        policy = policies.get(policy_id) if policy_id else None
        for step in task_steps(policy, opens=m.opens, due=m.due, cal=cal, year_start=start, missing=set()):
            instants.add(step.at)
        # the morning after the due day: tasks still open become overdue
        instants.add(dt.datetime.combine(m.due + dt.timedelta(days=1), dt.time(0, 5), tzinfo=TZ))
    return sorted(instants)
