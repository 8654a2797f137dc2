"""Drafts (暂存): what a bureau typed into its form and saved without submitting.

A draft is held against its task — one per task — and is nothing else: it changes no
state, queues no message, and no count, report or rollup reads it. It is bounded like a
submission (the caller passes the form's flat values already bounded by
``formtext.bounded_flat``: the form's own names, rows under the table's limit, each input
within its size) and its values are checked for their types like a submission's
(``forms.validate_partial``): a draft may be unfinished (required fields empty, fewer rows
than the minimum), but "十二" in an integer field is refused — with the same Chinese
message a submission gets — and nothing is saved. What is stored is the text typed, never
markup to trust: the page escapes it when it shows it again.

A draft is saved only while the task can still be submitted (not exempted, retired or
accepted); a submission deletes it in its own transaction (``usecases.submit_form``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import states as S
from .forms import validate_partial
from .formtext import payload_from_flat
from .tables import Draft, Task
from .timeline.spec import Form, ProgrammeFile

MAX_DRAFT_BYTES = 1024 * 1024  # the values of one draft, as UTF-8 JSON


class DraftRefused(ValueError):
    """The draft cannot be saved; ``str(exc)`` says why, in Chinese, for the bureau."""


def check_draft(spec: ProgrammeFile, form: Form, flat: dict[str, Any]) -> dict[str, str]:
    """The values to store: non-empty text only, checked for their types (raises
    ``PayloadInvalid`` naming each wrong value) and for the total size (``DraftRefused``)."""
    values = {k: v for k, v in flat.items() if isinstance(v, str) and v.strip()}
    validate_partial(spec, form, payload_from_flat(form, values))
    size = len(json.dumps(values, ensure_ascii=False).encode("utf-8"))
    if size > MAX_DRAFT_BYTES:
        raise DraftRefused(f"暂存内容过大（{size // 1024} KB，上限 {MAX_DRAFT_BYTES // 1024} KB），请删减后重试。")
    return values


def save_draft(
    session: Session, *, task_id: int, values: dict[str, str], at: dt.datetime, saved_by: str, client: str | None
) -> Draft:
    """Keep ``values`` (from ``check_draft``) as the task's draft, replacing the one before.
    The task's row is locked first, so a draft never lands on a task that an acceptance or
    an exemption has just closed."""
    task = session.scalars(select(Task).where(Task.id == task_id).with_for_update()).one_or_none()
    if task is None:
        raise DraftRefused("本项任务不存在。")
    if task.state in S.NOT_OWED or task.accepted_at is not None or task.state not in (S.WAITING, S.SUBMITTED, *S.AWAITING):
        raise DraftRefused("本项任务当前不接受填报，暂存未保存。")
    draft = session.scalars(select(Draft).where(Draft.task_id == task_id)).one_or_none()
    if draft is None:
        draft = Draft(
            task_id=task_id, payload=values, saved_at=at, saved_by=saved_by[:120], client=(client or None) and client[:120]
        )
        session.add(draft)
    else:
        draft.payload, draft.saved_at, draft.saved_by = values, at, saved_by[:120]
        draft.client = (client or None) and client[:120]
    session.flush()
    return draft


def load_draft(session: Session, task_id: int) -> Draft | None:
    return session.scalars(select(Draft).where(Draft.task_id == task_id)).one_or_none()


def stored_values(draft: Draft) -> dict[str, str]:
    """A stored draft's values, strings only (whatever the JSON column gives back)."""
    payload = draft.payload if isinstance(draft.payload, dict) else {}
    return {str(k): v for k, v in payload.items() if isinstance(v, str)}


def delete_draft(session: Session, task_id: int) -> None:
    session.execute(delete(Draft).where(Draft.task_id == task_id))
