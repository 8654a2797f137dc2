"""fan-out tasks: one task per item (a row of an earlier submission)

Why: a milestone may fan out from what was submitted (issue "Milestones that fan out from
what was submitted"): one task per enterprise or measure, so a participant can owe the same
milestone several times, once per item. A task carries its item's key ('' for the others)
and a snapshot of its row, and the uniqueness of a task becomes (milestone, participant,
item).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('item_key', sa.String(length=200), server_default='', nullable=False, comment="a fan-out task's item (its row's key); '' for the others"))
        batch.add_column(sa.Column('item', sa.JSON(), nullable=True, comment="a fan-out task's snapshot of its row: name, kept columns, the source task and version"))
        batch.drop_constraint('uq_tasks_milestone_instance_id_participant', type_='unique')
        batch.create_unique_constraint('uq_tasks_milestone_instance_id_participant_item_key', ['milestone_instance_id', 'participant', 'item_key'])


def downgrade() -> None:
    fanned = op.get_bind().execute(sa.text("SELECT count(*) FROM tasks WHERE item_key != ''")).scalar()
    if fanned:
        raise RuntimeError(
            f"{fanned} fan-out task(s) are in the ledger: before 0009 a participant owes a milestone once, so they "
            "cannot be kept. Remove the fan-out milestones' tasks first (or restore a backup from before 0009)."
        )
    with op.batch_alter_table('tasks') as batch:
        batch.drop_constraint('uq_tasks_milestone_instance_id_participant_item_key', type_='unique')
        batch.create_unique_constraint('uq_tasks_milestone_instance_id_participant', ['milestone_instance_id', 'participant'])
        batch.drop_column('item')
        batch.drop_column('item_key')
