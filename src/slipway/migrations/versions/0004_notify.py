"""notifications: channels, rules, deliveries and attempts, notification center, outbox cursor, mutes,
crash episodes

Revision ID: 0004
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import slipway.db


revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notify_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secrets_enc', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('failing_since', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_channels')),
    sa.UniqueConstraint('name', name=op.f('uq_notify_channels_name'))
    )
    op.create_table('notify_cursors',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', slipway.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_notify_cursors'))
    )
    op.create_table('notify_crash_episodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('last_crash_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('closed_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notify_crash_episodes_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_crash_episodes'))
    )
    with op.batch_alter_table('notify_crash_episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_crash_episodes_app_id'), ['app_id'], unique=False)

    op.create_table('notify_mutes',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('until', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notify_mutes_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_notify_mutes'))
    )
    op.create_table('notify_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notify_rules_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_rules'))
    )
    op.create_table('notify_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('message', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', slipway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notify_deliveries_app_id_apps'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['channel_id'], ['notify_channels.id'], name=op.f('fk_notify_deliveries_channel_id_notify_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_notify_deliveries_event_id_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rule_id'], ['notify_rules.id'], name=op.f('fk_notify_deliveries_rule_id_notify_rules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_deliveries')),
    sa.UniqueConstraint('event_id', 'channel_id', name='uq_notify_deliveries_event_channel')
    )
    with op.batch_alter_table('notify_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_notify_deliveries_channel_created', ['channel_id', 'created_at'], unique=False)

    op.create_table('notify_rule_channels',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['notify_channels.id'], name=op.f('fk_notify_rule_channels_channel_id_notify_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['notify_rules.id'], name=op.f('fk_notify_rule_channels_rule_id_notify_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'channel_id', name=op.f('pk_notify_rule_channels'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', slipway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_notifications_app_id_apps'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['channel_id'], ['notify_channels.id'], name=op.f('fk_notifications_channel_id_notify_channels'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['delivery_id'], ['notify_deliveries.id'], name=op.f('fk_notifications_delivery_id_notify_deliveries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_notifications_delivery_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_created_at'), ['created_at'], unique=False)

    op.create_table('notify_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['notify_deliveries.id'], name=op.f('fk_notify_attempts_delivery_id_notify_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_attempts'))
    )
    with op.batch_alter_table('notify_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_attempts_delivery_id'), ['delivery_id'], unique=False)


    # the dispatcher starts after the events that exist now: an upgrade does not replay old history
    op.execute("INSERT INTO notify_cursors (name, last_event_id, updated_at) "
               "SELECT 'events', COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM events")


def downgrade() -> None:
    with op.batch_alter_table('notify_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_attempts_delivery_id'))

    op.drop_table('notify_attempts')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_created_at'))

    op.drop_table('notifications')
    op.drop_table('notify_rule_channels')
    with op.batch_alter_table('notify_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notify_deliveries_channel_created')

    op.drop_table('notify_deliveries')
    op.drop_table('notify_rules')
    op.drop_table('notify_mutes')
    with op.batch_alter_table('notify_crash_episodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_crash_episodes_app_id'))

    op.drop_table('notify_crash_episodes')
    op.drop_table('notify_cursors')
    op.drop_table('notify_channels')
