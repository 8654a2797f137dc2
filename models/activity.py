"""What happened to tasks and messages, as facts handed on after the ledger commits: every
status change, re-submission, acceptance, extension and calendar reschedule (the places
that write ``status_changes``), and every delivery outcome (sent, failed, dead).

The ledger code notes a fact on its session (:func:`note`); nothing leaves the process
then. A session's facts are handed to the listener :func:`install` attached to its
sessionmaker **after its transaction commits**, and dropped when it rolls back — so no
fact is ever told of a change that did not happen. Pure SQLAlchemy: what is done with the
facts (Prefect events, see ``yearwheel/events.py``) is the listener's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_KEY = "yearwheel.activity"

# what happened to a task without a change of state (a status_changes row from→to the same)
RESUBMITTED = "resubmitted"
ACCEPTED = "accepted"
EXTENDED = "extended"
RESCHEDULED = "rescheduled"
ITEM_CHANGED = "item-changed"
ESCALATED = "escalated"  # an escalation (or the digest carrying it) was delivered
# what happened to a programme year
OVERDUE_THRESHOLD = "overdue-threshold"  # its overdue tasks reached the calendar's overdue_alert threshold
PROGRAMME_YEAR_EVENTS_ZH = {OVERDUE_THRESHOLD: "逾期任务达到提醒阈值"}
TASK_EVENTS_ZH = {
    RESUBMITTED: "重新报送",
    ACCEPTED: "已确认",
    EXTENDED: "延期",
    RESCHEDULED: "日历调整",
    ITEM_CHANGED: "条目内容更新",
    ESCALATED: "逾期上报已送达",
}


@dataclass(frozen=True)
class Fact:
    """One thing that happened. ``what`` is a task state (``overdue``) or one of the task
    events above for a task; a delivery outcome (``sent``/``failed``/``dead``) for a message;
    ``overdue-threshold`` for a programme year."""

    subject: str  # "task", "message" or "programme-year"
    what: str
    at: dt.datetime
    task_id: int | None
    outbox_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def note(session: Session, fact: Fact) -> None:
    session.info.setdefault(_KEY, []).append(fact)


def note_many(session: Session, facts: list[Fact]) -> None:
    session.info.setdefault(_KEY, []).extend(facts)


def install(maker: sessionmaker, listener: Callable[[list[Fact]], None]) -> None:
    """Hand each committed session's facts to ``listener`` (which must not raise, nor
    block: it is called on the committing thread)."""

    def committed(session: Session) -> None:
        facts = session.info.pop(_KEY, None)
        if facts:
            listener(facts)

    def rolled_back(session: Session) -> None:
        session.info.pop(_KEY, None)

    event.listen(maker, "after_commit", committed)
    event.listen(maker, "after_rollback", rolled_back)
