"""expert draws recorded in the ledger

Why: experts drawn by 双随机 become the assignees of the clinic's visit reports (issue
"Milestones that fan out from what was submitted", item 3): a fan-out milestone may take
its assignees from the draw's record, so the record lives in the ledger beside the tasks it
gives (the public JSON and markdown files are still written).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import models.db


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'expert_draws',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_year_id', sa.Integer(), nullable=False),
        sa.Column('milestone', sa.String(length=80), nullable=False),
        sa.Column('seed', sa.String(length=200), nullable=False),
        sa.Column('library_sha256', sa.String(length=64), nullable=False),
        sa.Column('enterprises_sha256', sa.String(length=64), nullable=False),
        sa.Column('record', sa.JSON(), nullable=False, comment='the public record: assignments, loads, notes'),
        sa.Column('drawn_by', sa.String(length=120), nullable=False),
        sa.Column('drawn_at', models.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['programme_year_id'], ['programme_years.id'], name=op.f('fk_expert_draws_programme_year_id_programme_years'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_draws')),
    )
    op.create_index('ix_expert_draws_subject', 'expert_draws', ['programme_year_id', 'milestone'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_expert_draws_subject', table_name='expert_draws')
    op.drop_table('expert_draws')
