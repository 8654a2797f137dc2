"""index the conditions of a run with nothing due on each task's year and state

Why: the run's one existence check (anything to open, to mark late, to remind, to
digest?) must be index lookups whatever the statistics say; with the year and the state
leading, the opening day, the due day and the next step instant are ranges in each index,
and escalations waiting for a digest are found by kind, state and programme, then their
release instant (SQLite took the (state, not_before) index and read every pending row)
(issue "Prefect-native operations", item 4).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:00:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_tasks_next_step', table_name='tasks')
    op.create_index('ix_tasks_next_step', 'tasks', ['programme_year_id', 'state', 'next_step_at'], unique=False)
    op.create_index('ix_tasks_late', 'tasks', ['programme_year_id', 'state', 'due'], unique=False)
    op.drop_index('ix_outbox_kind_state', table_name='outbox')
    op.create_index('ix_outbox_kind_state', 'outbox', ['kind', 'state', 'programme', 'not_before'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_kind_state', table_name='outbox')
    op.create_index('ix_outbox_kind_state', 'outbox', ['kind', 'state'], unique=False)
    op.drop_index('ix_tasks_late', table_name='tasks')
    op.drop_index('ix_tasks_next_step', table_name='tasks')
    op.create_index('ix_tasks_next_step', 'tasks', ['programme_year_id', 'next_step_at'], unique=False)
