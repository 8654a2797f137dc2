"""each task's next reminder step instant; a fan-out milestone's last inputs

Why: a run with nothing due read every outbox key of every awaiting task, and fanned out
every fan-out milestone again (issue "Prefect-native operations", item 4). A task now
carries the earliest instant at which a reminder step may be queued for it; the reconcile
reads only the tasks whose instant has come (or is unknown: NULL, set by every change of
state, date, calendar or working days). A fan-out milestone keeps the fingerprint of its
inputs (and its rows' problems, still reported): unchanged, it is not fanned out again.
Escalations waiting for a digest are found by kind and state, tasks to open by their
year, state and opening day.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:20:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import models.db


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('next_step_at', models.db.UTCDateTime(timezone=True), nullable=True, comment='the earliest instant a reminder step may be queued for this task; NULL: not known (reckon it again)'))
    op.create_index('ix_tasks_next_step', 'tasks', ['programme_year_id', 'next_step_at'], unique=False)
    op.create_index('ix_tasks_opening', 'tasks', ['programme_year_id', 'state', 'opens'], unique=False)
    with op.batch_alter_table('milestone_instances') as batch:
        batch.add_column(sa.Column('fan_out', sa.JSON(), nullable=True, comment="a fan-out milestone's last inputs (source changes, draw) and the problems its rows had"))
    op.create_index('ix_outbox_kind_state', 'outbox', ['kind', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_kind_state', table_name='outbox')
    with op.batch_alter_table('milestone_instances') as batch:
        batch.drop_column('fan_out')
    op.drop_index('ix_tasks_opening', table_name='tasks')
    op.drop_index('ix_tasks_next_step', table_name='tasks')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('next_step_at')
