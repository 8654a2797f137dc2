"""drafts of the intake form

Why: a bureau's clerk saves a half-filled form (暂存) and comes back to it by the same link
(issue 21, item 4): what was typed is kept on the server against the task, apart from the
submissions (a draft changes no state, sends nothing and is counted nowhere), one per
task, deleted when the task is submitted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import models.db


revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False, comment='flat name → the text typed (strings only)'),
        sa.Column('saved_at', models.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('saved_by', sa.String(length=120), nullable=False),
        sa.Column('client', sa.String(length=120), nullable=True, comment='the address it came from'),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_drafts_task_id_tasks'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts')),
        sa.UniqueConstraint('task_id', name=op.f('uq_drafts_task_id')),
    )


def downgrade() -> None:
    op.drop_table('drafts')
