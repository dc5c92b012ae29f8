"""alerts: alert rules (metric, operator, threshold, duration, channels, escalation), alerts and their timeline

Revision ID: 0008
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import slipway.db


revision = '0008'
down_revision = '0001'
branch_labels = None
depends_on = ('0004',)  # notify_channels


def upgrade() -> None:
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('operator', sa.String(length=2), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('reminder_minutes', sa.Float(), nullable=True),
    sa.Column('escalation_minutes', sa.Float(), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_alert_rules_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules'))
    )
    op.create_table('alert_rule_channels',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('escalation', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['notify_channels.id'], name=op.f('fk_alert_rule_channels_channel_id_notify_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alert_rule_channels_rule_id_alert_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'channel_id', 'escalation', name=op.f('pk_alert_rule_channels'))
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=True),
    sa.Column('acknowledged_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('escalated_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('last_notified_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('last_value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_alerts_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alerts_rule_id_alert_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index('ix_alerts_state_started', ['state', 'started_at'], unique=False)
        batch_op.create_index('uq_alerts_open', ['rule_id', 'target'], unique=True,
                              sqlite_where=sa.text("state != 'resolved'"),
                              postgresql_where=sa.text("state != 'resolved'"))

    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_events_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_alert_events_event_id_events'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_events_alert_id'), ['alert_id'], unique=False)


def downgrade() -> None:
    op.drop_table('alert_events')
    op.drop_table('alerts')
    op.drop_table('alert_rule_channels')
    op.drop_table('alert_rules')
