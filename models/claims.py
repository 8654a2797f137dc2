"""The conditions under which a queued message is still wanted — one SQL expression each,
shared by the sender's claim (``models.outbox``), the digests (``models.digests``) and the
use cases that drop superseded reminders (an extension: ``models.submissions``).

A row is claimable while its task (if any) still awaits it: a pre-due reminder while the
task is open or returned, a chaser or escalation while it is late, a due-date change while
it awaits anything — and, for kinds that follow the due date, only for the date it was
queued for.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, not_, or_, update
from sqlalchemy.orm import Session

from . import states as S
from . import vocabulary as V
from .db import affected
from .tables import OutboxMessage, Task


def claimable():
    """True for a row whose task (if any) still wants it — as a SQL condition on the row."""
    o, t = OutboxMessage, Task
    state_ok = or_(
        and_(o.kind.in_(V.PRE_DUE_KINDS), t.state.in_((S.OPEN, S.RETURNED))),
        and_(o.kind.in_(V.LATE_KINDS), t.state == S.OVERDUE),
        and_(o.kind.in_(V.AWAITING_KINDS), t.state.in_(S.AWAITING)),
        o.kind.not_in(V.PRE_DUE_KINDS + V.LATE_KINDS + V.AWAITING_KINDS),
    )
    due_ok = or_(o.kind.not_in(V.FOLLOWS_DUE_KINDS), o.for_due.is_(None), t.due == o.for_due)
    return or_(o.task_id.is_(None), exists().where(t.id == o.task_id, state_ok, due_ok))


def _due_moved():
    o, t = OutboxMessage, Task
    return and_(o.kind.in_(V.FOLLOWS_DUE_KINDS), o.for_due.is_not(None), exists().where(t.id == o.task_id, t.due != o.for_due))


def skip_obsolete(session: Session, ids: list[int] | None = None) -> int:
    """Mark pending rows that their task no longer wants as skipped, with the reason."""
    scope = [OutboxMessage.state == V.PENDING]
    if ids is not None:
        scope.append(OutboxMessage.id.in_(ids))
    n = affected(
        session.execute(
            update(OutboxMessage)
            .where(*scope, _due_moved())
            .values(
                state=V.SKIPPED,
                last_error="not sent: the due date moved (an extension or a calendar change); reminders follow the new date",
            )
            .execution_options(synchronize_session=False)
        )
    )
    n += affected(
        session.execute(
            update(OutboxMessage)
            .where(*scope, not_(claimable()))
            .values(
                state=V.SKIPPED,
                last_error="not sent: the task no longer awaits it (submitted, exempted, or its lateness changed)",
            )
            .execution_options(synchronize_session=False)
        )
    )
    return n
