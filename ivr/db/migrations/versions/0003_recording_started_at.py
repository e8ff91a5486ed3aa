"""recordings.started_at: when the tracks began, so transcripts line up with the agent's answer

Revision ID: 0003_recording_started_at
Revises: 0002_recordings
Create Date: 2026-12-02 06:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ivr.db.models

revision = '0003_recording_started_at'
down_revision = '0002_recordings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', ivr.db.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('started_at')
