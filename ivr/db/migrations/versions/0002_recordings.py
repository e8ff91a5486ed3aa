"""recordings: QA score review reasons and rubric hash

Revision ID: 0002_recordings
Revises: 0001
Create Date: 2026-11-23 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_recordings'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qa_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_reasons', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('rubric_hash', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('qa_scores', schema=None) as batch_op:
        batch_op.drop_column('rubric_hash')
        batch_op.drop_column('review_reasons')
