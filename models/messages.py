"""The facts a message states — built when a sender claims the message, from the task as
it is at that moment and the facts fixed when it was queued (``OutboxMessage.params``).

Rendering at claim time is what keeps a message true: a reminder claimed after an
extension would otherwise name the old due date, and "N working days left" counted on
the day it was queued would be wrong after downtime. The text itself is the business of
``notifications`` (templates); this module only gathers the facts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .fanout import titled
from .ledger import LoadedProgramme
from .tables import MilestoneInstance, ProgrammeYear, Task
from .receipts import receipt_number
from .timeline import WorkdayCalendar, local_day
from .vocabulary import ACKNOWLEDGEMENT, DUE_TODAY, ESCALATION, LAST_WORKDAY, OVERDUE, UPCOMING


def working_days_late(cal: WorkdayCalendar, due: dt.date, at: dt.datetime) -> int:
    """Working days after ``due`` up to the local day of ``at`` (0 when not late)."""
    today = local_day(at)
    return cal.count_between(due, today) if today > due else 0


def working_days_left(cal: WorkdayCalendar, due: dt.date, at: dt.datetime) -> int:
    """Working days after the local day of ``at`` up to ``due`` (0 on or after it)."""
    today = local_day(at)
    return cal.count_between(today, due) if today < due else 0


def message_context(
    prog: LoadedProgramme, py: ProgrammeYear, mi: MilestoneInstance, task: Task, kind: str, **extra: Any
) -> dict[str, Any]:
    """The facts a message about ``task`` states (``notifications.templates.MessageContext``)."""
    name = prog.names.get(task.participant, task.participant)
    form = prog.forms.get(mi.form) if mi.form else None
    ctx: dict[str, Any] = {
        "kind": kind,
        "programme_id": py.programme,
        "programme_title": py.title,
        "year": py.year,
        "milestone_id": mi.milestone,
        # a fan-out task names its item: 提交整改反馈（长春某某有限公司）
        "milestone_title": titled(mi.title, task),
        "participant_id": task.participant,
        "participant_name": name,
        "due": task.due,
        # why the date differs from the document's — not shown for an individual extension
        "nominal_due": mi.nominal_due if task.due == mi.due else None,
        "opens": task.opens,
        "form_title": form.title if form else None,
        "working_days_left": None,
        "working_days_late": None,
        "chaser_number": None,
        "escalated_to": None,
        "submitted_at": None,
        "on_time": None,
        "version": None,
        "reason": None,
        "link": None,
        "task_id": task.id,
        "old_due": None,
        "receipt": None,
    }
    ctx.update(extra)
    return ctx


def claim_time_context(
    prog: LoadedProgramme,
    py: ProgrammeYear,
    mi: MilestoneInstance,
    task: Task,
    kind: str,
    params: dict[str, Any] | None,
    *,
    cal: WorkdayCalendar,
    at: dt.datetime,
) -> dict[str, Any]:
    """``message_context`` for a queued row, counted as of ``at`` (the moment it is sent)."""
    p = dict(params or {})
    extra: dict[str, Any] = {}
    if kind in (UPCOMING, DUE_TODAY, LAST_WORKDAY):
        extra["working_days_left"] = working_days_left(cal, task.due, at)
    if kind in (OVERDUE, ESCALATION):
        extra["working_days_late"] = working_days_late(cal, task.due, at)
    for key in ("chaser_number", "escalated_to", "reason", "version", "on_time", "working_days_late"):
        if key in p:
            extra[key] = p[key]
    for key in ("submitted_at",):
        if p.get(key):
            extra[key] = dt.datetime.fromisoformat(p[key])
    if p.get("old_due"):
        extra["old_due"] = dt.date.fromisoformat(p["old_due"])
    if kind == ACKNOWLEDGEMENT and isinstance(p.get("version"), int):
        extra["receipt"] = receipt_number(py.year, task.id, p["version"])  # the number the receipt page shows
    return message_context(prog, py, mi, task, kind, **extra)


def target_context(params: dict[str, Any]) -> dict[str, Any]:
    """A target message's facts were all fixed when it was queued (they come from the rollup)."""
    ctx = dict(params)
    ctx["due"] = dt.date.fromisoformat(ctx["due"])
    if ctx.get("submitted_at"):
        ctx["submitted_at"] = dt.datetime.fromisoformat(ctx["submitted_at"])
    return ctx
