"""console_sessions (revocation, idle and lifetime of console logins, surviving restarts); refused reads in
recording_access

Revision ID: 0004_console_sessions
Revises: 0003_recording_started_at
Create Date: 2026-12-05 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ivr.db.models

revision = '0004_console_sessions'
down_revision = '0003_recording_started_at'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('sid', sa.String(length=43), nullable=False),
    sa.Column('agent_pk', sa.Integer(), nullable=False),
    sa.Column('created_at', ivr.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ivr.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ivr.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', ivr.db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agent_pk'], ['agents.id'], name=op.f('fk_console_sessions_agent_pk_agents'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_console_sessions'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_agent_pk'), ['agent_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_sessions_expires_at'), ['expires_at'], unique=False)

    # Rows logged before this revision were all allowed reads.
    with op.batch_alter_table('recording_access', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('refused_reason', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('recording_access', schema=None) as batch_op:
        batch_op.drop_column('refused_reason')
        batch_op.drop_column('allowed')
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_console_sessions_agent_pk'))
    op.drop_table('console_sessions')
