"""work orders' lifecycle (issue 12): responsible units (and agents.unit_code for the unit role), every
transition with who/when/why, the clocks' state with the indexes the sweep uses, complaint matters, outage
parents, 12345 references; work_orders.unit (free text) becomes unit_code (a unit)

Revision ID: 0006_work_order_lifecycle
Revises: 0005_qa_verdicts
Create Date: 2026-12-12 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ivr.db.models

revision = '0006_work_order_lifecycle'
down_revision = '0005_qa_verdicts'
branch_labels = None
depends_on = None

UTC = ivr.db.models.UTCDateTime(timezone=True)
STATUS = sa.Enum('new', 'dispatched', 'accepted', 'in_progress', 'waiting_caller', 'returned', 'replied',
                 'callback', 'closed', name='workorderstatus', native_enum=False, length=32)
OLD_STATUS = sa.Enum('new', 'dispatched', 'returned', 'extended', 'replied', 'closed', name='workorderstatus',
                     native_enum=False, length=32)


def upgrade() -> None:
    op.create_table('units',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('utility', sa.Enum('gas', 'water', 'heat', name='utility', native_enum=False, length=32), nullable=True),
    sa.Column('handles', sa.JSON(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_units'))
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_code', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_agents_unit_code'), ['unit_code'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_agents_unit_code_units'), 'units', ['unit_code'], ['code'])

    # An extension is a request on an order now, not a state: its orders are being worked on.
    op.execute("UPDATE work_orders SET status = 'in_progress' WHERE status = 'extended'")
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=OLD_STATUS, type_=STATUS, existing_nullable=False)
        batch_op.add_column(sa.Column('unit_code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('external_ref', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('result', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('topic', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('matter_key', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('caller_key', sa.String(length=80), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('complaint_flags', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('outage_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('duplicates', sa.Integer(), nullable=False, server_default='0'))
        for name in ('accepted_at', 'contacted_at', 'replied_at', 'returned_at', 'paused_at', 'reply_due_at',
                     'extension_until', 'clock_due_at', 'clock_warn_at', 'urge_at', 'urged_at', 'escalate_at',
                     'escalated_at'):
            batch_op.add_column(sa.Column(name, UTC, nullable=True))
        batch_op.add_column(sa.Column('finish_paused_seconds', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('deadlines_estimated', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('returns', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('extensions', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('extension_state', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('extension_reason', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('clock_stage', sa.String(length=16), nullable=False, server_default=''))
        # 'unset': orders from before this revision; the sweep computes their clocks in batches
        batch_op.add_column(sa.Column('clock_state', sa.String(length=16), nullable=False, server_default='unset'))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.drop_column('unit')
        batch_op.create_unique_constraint(batch_op.f('uq_work_orders_external_ref'), ['external_ref'])
        batch_op.create_foreign_key(batch_op.f('fk_work_orders_unit_code_units'), 'units', ['unit_code'], ['code'])
        batch_op.create_foreign_key(batch_op.f('fk_work_orders_outage_id_outages'), 'outages', ['outage_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_work_orders_parent_id_work_orders'), 'work_orders',
                                    ['parent_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_work_orders_clock_warn', ['clock_state', 'clock_warn_at'], unique=False)
        batch_op.create_index('ix_work_orders_clock_due', ['clock_state', 'clock_due_at'], unique=False)
        batch_op.create_index('ix_work_orders_clock_urge', ['clock_state', 'urge_at'], unique=False)
        batch_op.create_index('ix_work_orders_clock_escalate', ['clock_state', 'escalate_at'], unique=False)
        batch_op.create_index('ix_work_orders_unit_status', ['unit_code', 'status'], unique=False)
        batch_op.create_index('ix_work_orders_matter', ['matter_key', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_outage_id'), ['outage_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_owner_pk'), ['owner_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_parent_id'), ['parent_id'], unique=False)

    op.create_table('work_order_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=False),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('actor_pk', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_pk'], ['agents.id'], name=op.f('fk_work_order_transitions_actor_pk_agents'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'],
                            name=op.f('fk_work_order_transitions_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_transitions'))
    )
    op.create_index('ix_work_order_transitions_order_at', 'work_order_transitions', ['order_id', 'at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_work_order_transitions_order_at', table_name='work_order_transitions')
    op.drop_table('work_order_transitions')
    op.execute("UPDATE work_orders SET status = 'dispatched' WHERE status IN ('accepted', 'in_progress', "
               "'waiting_caller')")
    op.execute("UPDATE work_orders SET status = 'replied' WHERE status = 'callback'")
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        for name in ('ix_work_orders_parent_id', 'ix_work_orders_owner_pk', 'ix_work_orders_outage_id',
                     'ix_work_orders_matter', 'ix_work_orders_unit_status', 'ix_work_orders_clock_escalate',
                     'ix_work_orders_clock_urge', 'ix_work_orders_clock_due', 'ix_work_orders_clock_warn'):
            batch_op.drop_index(name)
        batch_op.drop_constraint(batch_op.f('fk_work_orders_parent_id_work_orders'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_work_orders_outage_id_outages'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_work_orders_unit_code_units'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_work_orders_external_ref'), type_='unique')
        batch_op.add_column(sa.Column('unit', sa.String(length=100), nullable=False, server_default=''))
        for name in ('version', 'clock_state', 'clock_stage', 'extension_reason', 'extension_state', 'extensions',
                     'returns', 'deadlines_estimated', 'finish_paused_seconds', 'escalated_at', 'escalate_at',
                     'urged_at', 'urge_at', 'clock_warn_at', 'clock_due_at', 'extension_until', 'reply_due_at',
                     'paused_at', 'returned_at', 'replied_at', 'contacted_at', 'accepted_at', 'duplicates',
                     'parent_id', 'outage_id', 'complaint_flags', 'caller_key', 'matter_key', 'topic', 'result',
                     'external_ref', 'source', 'unit_code'):
            batch_op.drop_column(name)
        batch_op.alter_column('status', existing_type=STATUS, type_=OLD_STATUS, existing_nullable=False)
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_agents_unit_code_units'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_agents_unit_code'))
        batch_op.drop_column('unit_code')
    op.drop_table('units')
