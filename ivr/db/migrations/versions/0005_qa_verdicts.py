"""qa_scores: unscorable (a call with nothing to judge), spot_check (the 抽检 sample of passing calls),
speech_pending (scored from the timeline while the transcript waits for a speech model)

Revision ID: 0005_qa_verdicts
Revises: 0004_console_sessions
Create Date: 2026-12-10 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_qa_verdicts'
down_revision = '0004_console_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Scores stored before this revision were all full scores with a verdict, none drawn for a spot check.
    with op.batch_alter_table('qa_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unscorable', sa.String(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('spot_check', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('speech_pending', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_qa_scores_spot_check'), ['spot_check'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qa_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_scores_spot_check'))
        batch_op.drop_column('speech_pending')
        batch_op.drop_column('spot_check')
        batch_op.drop_column('unscorable')
