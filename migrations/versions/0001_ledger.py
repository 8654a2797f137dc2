"""ledger: programme years, milestone instances, tasks, audit trail, submissions, outbox, deliveries, rollups

Why: the first schema — the engine needs a ledger to reconcile against (issue 3).

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 00:09:03.444180
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import models.db


revision: str = '0001'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('programme_years',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme', sa.String(length=80), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('calendar_digest', sa.String(length=64), nullable=False, comment='sha256 of the calendar file compiled'),
    sa.Column('compiled_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_years')),
    sa.UniqueConstraint('programme', 'year', name=op.f('uq_programme_years_programme_year'))
    )
    op.create_table('milestone_instances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_year_id', sa.Integer(), nullable=False),
    sa.Column('milestone', sa.String(length=80), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('form', sa.String(length=80), nullable=True),
    sa.Column('reminder_policy', sa.String(length=80), nullable=True),
    sa.Column('opens', sa.Date(), nullable=True),
    sa.Column('nominal_due', sa.Date(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('rest_day_rule', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['programme_year_id'], ['programme_years.id'], name=op.f('fk_milestone_instances_programme_year_id_programme_years'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestone_instances')),
    sa.UniqueConstraint('programme_year_id', 'milestone', name=op.f('uq_milestone_instances_programme_year_id_milestone'))
    )
    op.create_table('rollup_values',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_year_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=80), nullable=False, comment="'programme' or a participant id"),
    sa.Column('metric', sa.String(length=40), nullable=False, comment='on_time_rate | submitted | target | …'),
    sa.Column('subject', sa.String(length=80), nullable=False, comment="milestone or target id, '*' for all"),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('numerator', sa.Float(), nullable=True),
    sa.Column('denominator', sa.Float(), nullable=True),
    sa.Column('computed_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_year_id'], ['programme_years.id'], name=op.f('fk_rollup_values_programme_year_id_programme_years'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollup_values')),
    sa.UniqueConstraint('programme_year_id', 'scope', 'metric', 'subject', name=op.f('uq_rollup_values_programme_year_id_scope_metric_subject'))
    )
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_year_id', sa.Integer(), nullable=False),
    sa.Column('milestone_instance_id', sa.Integer(), nullable=False),
    sa.Column('participant', sa.String(length=80), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('opens', sa.Date(), nullable=True),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('original_due', sa.Date(), nullable=False),
    sa.Column('state_changed_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', models.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('on_time', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['milestone_instance_id'], ['milestone_instances.id'], name=op.f('fk_tasks_milestone_instance_id_milestone_instances'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_year_id'], ['programme_years.id'], name=op.f('fk_tasks_programme_year_id_programme_years'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    sa.UniqueConstraint('milestone_instance_id', 'participant', name=op.f('uq_tasks_milestone_instance_id_participant'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tasks_programme_year_id'), ['programme_year_id'], unique=False)
        batch_op.create_index('ix_tasks_state_due', ['state', 'due'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('step', sa.String(length=80), nullable=False),
    sa.Column('recipient', sa.String(length=80), nullable=False),
    sa.Column('audience', sa.String(length=20), nullable=False, comment='self | head'),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=20), nullable=True, comment='id of the contact address (not the address)'),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', models.db.UTCDateTime(timezone=True), nullable=False, comment='when the step fell due'),
    sa.Column('not_before', models.db.UTCDateTime(timezone=True), nullable=False, comment='after quiet-hours hold and backoff'),
    sa.Column('stale_at', models.db.UTCDateTime(timezone=True), nullable=True, comment='not worth sending after this'),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('claimed_at', models.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', models.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_outbox_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_state_not_before', ['state', 'not_before'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_task_id'), ['task_id'], unique=False)

    op.create_table('status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_status_changes_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_changes'))
    )
    with op.batch_alter_table('status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_changes_task_id'), ['task_id'], unique=False)

    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('on_time', sa.Boolean(), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('source', sa.Text(), nullable=True, comment='file name or channel it came from'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_submissions_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('task_id', 'version', name=op.f('uq_submissions_task_id_version'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('target', sa.Text(), nullable=True, comment='masked address'),
    sa.Column('started_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', models.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False, comment='started | sent | failed | failed_permanent'),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_deliveries_outbox_id_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_outbox_id'), ['outbox_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_outbox_id'))

    op.drop_table('deliveries')
    op.drop_table('submissions')
    with op.batch_alter_table('status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_changes_task_id'))

    op.drop_table('status_changes')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_task_id'))
        batch_op.drop_index('ix_outbox_state_not_before')

    op.drop_table('outbox')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_state_due')
        batch_op.drop_index(batch_op.f('ix_tasks_programme_year_id'))

    op.drop_table('tasks')
    op.drop_table('rollup_values')
    op.drop_table('milestone_instances')
    op.drop_table('programme_years')
