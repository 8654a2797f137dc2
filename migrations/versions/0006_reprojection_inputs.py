"""what a compiled year was compiled from; a revision number per milestone

Why: when a year's working days or its calendar change, the next ``advance`` re-projects
the year and tells each affected bureau why its deadline moved (issue "Next year's
working days", item 2) — which needs the inputs of the previous compilation, not only
their digest. Subscribed calendars update in place when an event's SEQUENCE rises: each
milestone counts the times its dates moved.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('programme_years') as batch:
        batch.add_column(sa.Column('inputs', sa.JSON(), nullable=True, comment='the calendar digest, planner rules and working-day sources compiled'))
    with op.batch_alter_table('milestone_instances') as batch:
        batch.add_column(sa.Column('sequence', sa.Integer(), server_default='0', nullable=False, comment='times the dates moved (iCalendar SEQUENCE)'))


def downgrade() -> None:
    with op.batch_alter_table('milestone_instances') as batch:
        batch.drop_column('sequence')
    with op.batch_alter_table('programme_years') as batch:
        batch.drop_column('inputs')
