"""coordinators' ratings; escalations folded into a daily digest

Why: the annual evaluation (issue "The annual evaluation and the monthly bulletin")
weighs coordinator ratings (0–100 with a comment, per participant, year and indicator)
beside the figures computed from the ledger; and a reminder policy may send escalations
as one digest a day per recipient and channel — each escalation row records the digest
it went out in.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:20:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import models.db


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme', sa.String(length=80), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('participant', sa.String(length=80), nullable=False),
    sa.Column('indicator', sa.String(length=80), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('rated_by', sa.String(length=120), nullable=False),
    sa.Column('rated_at', models.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings'))
    )
    op.create_index('ix_ratings_subject', 'ratings', ['programme', 'year', 'participant'], unique=False)
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('digest_id', sa.Integer(), nullable=True, comment='an escalation folded into this daily digest'))
        batch.create_index(batch.f('ix_outbox_digest_id'), ['digest_id'], unique=False)
        batch.create_foreign_key(batch.f('fk_outbox_digest_id_outbox'), 'outbox', ['digest_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_constraint(batch.f('fk_outbox_digest_id_outbox'), type_='foreignkey')
        batch.drop_index(batch.f('ix_outbox_digest_id'))
        batch.drop_column('digest_id')
    op.drop_index('ix_ratings_subject', table_name='ratings')
    op.drop_table('ratings')
