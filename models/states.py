"""Task states and the transitions allowed between them — data, changed in one place.

``change_state`` is the only code that writes ``Task.state``; it also writes the
``status_changes`` row, so the audit trail cannot miss a change. It and ``record_event``
(an extension, a calendar edit) clear the task's ``next_step_at``: the reconcile reckons
its next reminder step again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from . import activity as A
from .tables import StatusChange, Task

WAITING = "waiting"  # compiled; opens later
OPEN = "open"  # awaiting submission, not yet late
OVERDUE = "overdue"  # awaiting submission, past its due date
SUBMITTED = "submitted"  # a submission was received (on time or late: Task.on_time)
RETURNED = "returned"  # sent back for revision; awaiting a new version
EXEMPTED = "exempted"  # the coordinator released the participant from this task
RETIRED = "retired"  # a fan-out task whose row left its source submission (a corrected plan)

STATES = (WAITING, OPEN, OVERDUE, SUBMITTED, RETURNED, EXEMPTED, RETIRED)
AWAITING = (OPEN, OVERDUE, RETURNED)  # states that are reminded and chased
NOT_OWED = (EXEMPTED, RETIRED)  # neither reminded nor counted
STATES_ZH = {
    WAITING: "未开始",
    OPEN: "进行中",
    OVERDUE: "逾期",
    SUBMITTED: "已报送",
    RETURNED: "退回修改",
    EXEMPTED: "免报",
    RETIRED: "已撤销（条目移出方案）",
}

ALLOWED: dict[str, frozenset[str]] = {
    WAITING: frozenset({OPEN, EXEMPTED, SUBMITTED}),  # a bureau may deliver early
    OPEN: frozenset({OVERDUE, SUBMITTED, EXEMPTED}),
    # an extension can bring a late task back to open
    OVERDUE: frozenset({OPEN, SUBMITTED, EXEMPTED}),
    SUBMITTED: frozenset({RETURNED}),
    RETURNED: frozenset({OVERDUE, SUBMITTED, EXEMPTED, OPEN}),
    EXEMPTED: frozenset(),
    # a fan-out task whose row came back (the plan corrected again) waits again
    RETIRED: frozenset({WAITING}),
}
# a fan-out task is retired from any state but exemption: its row is no longer in the source
for _state in (WAITING, OPEN, OVERDUE, SUBMITTED, RETURNED):
    ALLOWED[_state] = ALLOWED[_state] | {RETIRED}

ACTOR_ENGINE = "yearwheel"


class TransitionRefused(ValueError):
    def __init__(self, task: Task, to: str):
        self.task, self.to = task, to
        allowed = ", ".join(sorted(ALLOWED[task.state])) or "nothing (final)"
        super().__init__(
            f"task {task.participant}/{task.id} is {task.state}; it cannot become {to} (from {task.state}: {allowed})"
        )


def change_state(
    session: Session,
    task: Task,
    to: str,
    *,
    at: dt.datetime,
    actor: str = ACTOR_ENGINE,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> StatusChange:
    if to not in ALLOWED.get(task.state, ()):
        raise TransitionRefused(task, to)
    change = StatusChange(task_id=task.id, from_state=task.state, to_state=to, at=at, actor=actor, reason=reason, details=details)
    A.note(session, A.Fact("task", to, at, task.id, details={"from": task.state, "actor": actor, "reason": reason}))
    task.state = to
    task.state_changed_at = at
    task.next_step_at = None  # which steps apply follows the state: reckoned again at the next run
    session.add(change)
    return change


def change_states(
    session: Session,
    task_ids: list[int],
    to: str,
    *,
    at: dt.datetime,
    actor: str = ACTOR_ENGINE,
    reason: str | None = None,
) -> list[int]:
    """Set-based ``change_state`` for many tasks at once (opening a milestone for 2,800
    bureaus is one UPDATE per source state, not 2,800). Tasks whose current state may not
    become ``to`` are left alone. Returns the ids changed."""
    from sqlalchemy import insert, update

    changed: list[int] = []
    sources = [s for s, targets in ALLOWED.items() if to in targets]
    for chunk_start in range(0, len(task_ids), 5000):
        chunk = task_ids[chunk_start : chunk_start + 5000]
        for source in sources:
            ids = list(
                session.execute(
                    update(Task)
                    .where(Task.id.in_(chunk), Task.state == source)
                    .values(state=to, state_changed_at=at, next_step_at=None)
                    .returning(Task.id)
                ).scalars()
            )
            if ids:
                session.execute(
                    insert(StatusChange),
                    [
                        {"task_id": i, "from_state": source, "to_state": to, "at": at, "actor": actor, "reason": reason}
                        for i in ids
                    ],
                )
                A.note_many(
                    session,
                    [A.Fact("task", to, at, i, details={"from": source, "actor": actor, "reason": reason}) for i in ids],
                )
                changed.extend(ids)
    return changed


def record_event(
    session: Session,
    task: Task,
    *,
    at: dt.datetime,
    actor: str = ACTOR_ENGINE,
    reason: str,
    details: dict[str, Any] | None = None,
    event: str,
) -> StatusChange:
    """An audit row for something that changed a task but not its state (an extension,
    a calendar edit); ``event`` says what (one of :data:`models.activity.TASK_EVENTS_ZH`)."""
    row = StatusChange(
        task_id=task.id, from_state=task.state, to_state=task.state, at=at, actor=actor, reason=reason, details=details
    )
    A.note(session, A.Fact("task", event, at, task.id, details={"state": task.state, "actor": actor, "reason": reason}))
    task.next_step_at = None  # an extension, a calendar edit: its steps are reckoned again
    session.add(row)
    return row
