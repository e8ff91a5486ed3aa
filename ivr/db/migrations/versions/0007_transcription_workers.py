"""transcription_workers: each running transcription worker's state (loading its model / ready) and when it
was last seen, for the QA pages and /healthz

Revision ID: 0007_transcription_workers
Revises: 0006_work_order_lifecycle
Create Date: 2026-12-10 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ivr.db.models

revision = '0007_transcription_workers'
down_revision = '0006_work_order_lifecycle'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transcription_workers',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('started_at', ivr.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', ivr.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_transcription_workers'))
    )


def downgrade() -> None:
    op.drop_table('transcription_workers')
