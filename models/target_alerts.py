"""Tell the owner of a target that is behind its pace — once per calendar month."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from . import vocabulary as V
from .ledger import LoadedProgramme
from .enqueue import insert_ignore, message_rows
from .outbox import Messenger
from .reconcile import AdvanceReport
from .timeline import TZ


def queue_target_escalations(
    session: Session, prog: LoadedProgramme, rollup: Any, messenger: Messenger, at: dt.datetime, report: AdvanceReport
) -> int:
    """Queue a message to the owner of each target behind its pace, once per calendar
    month however often this runs (the key carries the month). Only targets that name an
    ``owner`` escalate. The figures are those of this rollup (fixed in the row's params).
    Returns the messages queued."""
    spec = prog.spec
    month = at.astimezone(TZ).strftime("%Y-%m")
    first_of_next = (dt.date.fromisoformat(month + "-01") + dt.timedelta(days=32)).replace(day=1)
    roles = {r.id: r for r in spec.roles}
    rows: list[dict[str, Any]] = []
    for t in rollup.targets:
        if t.pace != "behind":
            continue
        owner = next(x for x in spec.targets if x.id == t.target).owner
        if owner is None:
            continue
        holder = roles[owner].holder if owner in roles else owner
        if not holder:
            continue
        params = {
            "kind": V.TARGET_BEHIND,
            "programme_id": prog.id,
            "programme_title": spec.programme.title,
            "year": rollup.year,
            "milestone_id": "",
            "milestone_title": t.title,
            "participant_id": holder,
            "participant_name": prog.names.get(holder, holder),
            "due": t.deadline,
            "submitted_at": at.isoformat(),
            "target_title": t.title,
            "target_value": t.value,
            "target_expected": t.expected,
            "target_goal": t.at_least if t.at_least is not None else t.at_most,
            "target_unit": t.unit,
        }
        rows += message_rows(
            messenger,
            key=f"{prog.id}/{rollup.year}/target/{t.target}/behind@{month}/{holder}",
            programme=prog.id,
            task_id=None,
            kind=V.TARGET_BEHIND,
            step=f"target-{t.target}-behind@{month}",
            recipient=holder,
            audience="self",
            at=at,
            due_at=at,
            stale_at=dt.datetime.combine(first_of_next, dt.time(), TZ),
            params=params,
        )
    insert_ignore(session, rows)
    if rows:
        report.queued[V.TARGET_BEHIND] += len(rows)
    return len(rows)
