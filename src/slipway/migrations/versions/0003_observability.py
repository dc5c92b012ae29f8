"""observability: metric points (raw/minute/hour), health checks, results, incidents, status page

Branches from 0001 (other features add their own heads; migrate() upgrades every head).

Revision ID: 0003
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import slipway.db


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('metric_hour',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('ts', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('cpu_avg', sa.Float(), nullable=True),
    sa.Column('cpu_max', sa.Float(), nullable=True),
    sa.Column('mem_avg', sa.Float(), nullable=True),
    sa.Column('mem_max', sa.Float(), nullable=True),
    sa.Column('mem_total_avg', sa.Float(), nullable=True),
    sa.Column('mem_total_max', sa.Float(), nullable=True),
    sa.Column('net_rx_avg', sa.Float(), nullable=True),
    sa.Column('net_rx_max', sa.Float(), nullable=True),
    sa.Column('net_tx_avg', sa.Float(), nullable=True),
    sa.Column('net_tx_max', sa.Float(), nullable=True),
    sa.Column('disk_read_avg', sa.Float(), nullable=True),
    sa.Column('disk_read_max', sa.Float(), nullable=True),
    sa.Column('disk_write_avg', sa.Float(), nullable=True),
    sa.Column('disk_write_max', sa.Float(), nullable=True),
    sa.Column('disk_used_avg', sa.Float(), nullable=True),
    sa.Column('disk_used_max', sa.Float(), nullable=True),
    sa.Column('disk_total_avg', sa.Float(), nullable=True),
    sa.Column('disk_total_max', sa.Float(), nullable=True),
    sa.Column('pids_avg', sa.Float(), nullable=True),
    sa.Column('pids_max', sa.Float(), nullable=True),
    sa.Column('fds_avg', sa.Float(), nullable=True),
    sa.Column('fds_max', sa.Float(), nullable=True),
    sa.Column('threads_avg', sa.Float(), nullable=True),
    sa.Column('threads_max', sa.Float(), nullable=True),
    sa.Column('restarts_avg', sa.Float(), nullable=True),
    sa.Column('restarts_max', sa.Float(), nullable=True),
    sa.Column('load1_avg', sa.Float(), nullable=True),
    sa.Column('load1_max', sa.Float(), nullable=True),
    sa.Column('load5_avg', sa.Float(), nullable=True),
    sa.Column('load5_max', sa.Float(), nullable=True),
    sa.Column('load15_avg', sa.Float(), nullable=True),
    sa.Column('load15_max', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'target', 'ts', name=op.f('pk_metric_hour'))
    )
    with op.batch_alter_table('metric_hour', schema=None) as batch_op:
        batch_op.create_index('ix_metric_hour_ts', ['ts'], unique=False)

    op.create_table('metric_minute',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('ts', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('cpu_avg', sa.Float(), nullable=True),
    sa.Column('cpu_max', sa.Float(), nullable=True),
    sa.Column('mem_avg', sa.Float(), nullable=True),
    sa.Column('mem_max', sa.Float(), nullable=True),
    sa.Column('mem_total_avg', sa.Float(), nullable=True),
    sa.Column('mem_total_max', sa.Float(), nullable=True),
    sa.Column('net_rx_avg', sa.Float(), nullable=True),
    sa.Column('net_rx_max', sa.Float(), nullable=True),
    sa.Column('net_tx_avg', sa.Float(), nullable=True),
    sa.Column('net_tx_max', sa.Float(), nullable=True),
    sa.Column('disk_read_avg', sa.Float(), nullable=True),
    sa.Column('disk_read_max', sa.Float(), nullable=True),
    sa.Column('disk_write_avg', sa.Float(), nullable=True),
    sa.Column('disk_write_max', sa.Float(), nullable=True),
    sa.Column('disk_used_avg', sa.Float(), nullable=True),
    sa.Column('disk_used_max', sa.Float(), nullable=True),
    sa.Column('disk_total_avg', sa.Float(), nullable=True),
    sa.Column('disk_total_max', sa.Float(), nullable=True),
    sa.Column('pids_avg', sa.Float(), nullable=True),
    sa.Column('pids_max', sa.Float(), nullable=True),
    sa.Column('fds_avg', sa.Float(), nullable=True),
    sa.Column('fds_max', sa.Float(), nullable=True),
    sa.Column('threads_avg', sa.Float(), nullable=True),
    sa.Column('threads_max', sa.Float(), nullable=True),
    sa.Column('restarts_avg', sa.Float(), nullable=True),
    sa.Column('restarts_max', sa.Float(), nullable=True),
    sa.Column('load1_avg', sa.Float(), nullable=True),
    sa.Column('load1_max', sa.Float(), nullable=True),
    sa.Column('load5_avg', sa.Float(), nullable=True),
    sa.Column('load5_max', sa.Float(), nullable=True),
    sa.Column('load15_avg', sa.Float(), nullable=True),
    sa.Column('load15_max', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'target', 'ts', name=op.f('pk_metric_minute'))
    )
    with op.batch_alter_table('metric_minute', schema=None) as batch_op:
        batch_op.create_index('ix_metric_minute_ts', ['ts'], unique=False)

    op.create_table('metric_raw',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('ts', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('cpu', sa.Float(), nullable=True),
    sa.Column('mem', sa.Float(), nullable=True),
    sa.Column('mem_total', sa.Float(), nullable=True),
    sa.Column('net_rx', sa.Float(), nullable=True),
    sa.Column('net_tx', sa.Float(), nullable=True),
    sa.Column('disk_read', sa.Float(), nullable=True),
    sa.Column('disk_write', sa.Float(), nullable=True),
    sa.Column('disk_used', sa.Float(), nullable=True),
    sa.Column('disk_total', sa.Float(), nullable=True),
    sa.Column('pids', sa.Float(), nullable=True),
    sa.Column('fds', sa.Float(), nullable=True),
    sa.Column('threads', sa.Float(), nullable=True),
    sa.Column('restarts', sa.Float(), nullable=True),
    sa.Column('load1', sa.Float(), nullable=True),
    sa.Column('load5', sa.Float(), nullable=True),
    sa.Column('load15', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'target', 'ts', name=op.f('pk_metric_raw'))
    )
    with op.batch_alter_table('metric_raw', schema=None) as batch_op:
        batch_op.create_index('ix_metric_raw_ts', ['ts'], unique=False)

    op.create_table('health_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('target', sa.String(length=2048), nullable=False),
    sa.Column('expected_status', sa.Integer(), nullable=True),
    sa.Column('body_contains', sa.String(length=1024), nullable=True),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('interval', sa.Double(), nullable=False),
    sa.Column('timeout', sa.Double(), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('monitor', sa.Boolean(), nullable=False),
    sa.Column('smoke', sa.Boolean(), nullable=False),
    sa.Column('status_page', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_run_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('last_run_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('last_response_ms', sa.Double(), nullable=True),
    sa.Column('last_output', sa.Text(), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_health_checks_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_checks'))
    )
    with op.batch_alter_table('health_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_health_checks_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_health_checks_next_run_at'), ['next_run_at'], unique=False)

    op.create_table('status_page_entries',
    sa.Column('app_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_status_page_entries_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_status_page_entries'))
    )
    op.create_table('check_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('ts', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('response_ms', sa.Double(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['check_id'], ['health_checks.id'], name=op.f('fk_check_results_check_id_health_checks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_results'))
    )
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.create_index('ix_check_results_check_ts', ['check_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_check_results_ts'), ['ts'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('started_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('cause', sa.String(length=255), nullable=False),
    sa.Column('output', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_incidents_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['check_id'], ['health_checks.id'], name=op.f('fk_incidents_check_id_health_checks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_app_started', ['app_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_check_id'), ['check_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_check_id'))
        batch_op.drop_index('ix_incidents_app_started')

    op.drop_table('incidents')
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_results_ts'))
        batch_op.drop_index('ix_check_results_check_ts')

    op.drop_table('check_results')
    op.drop_table('status_page_entries')
    with op.batch_alter_table('health_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_health_checks_next_run_at'))
        batch_op.drop_index(batch_op.f('ix_health_checks_app_id'))

    op.drop_table('health_checks')
    with op.batch_alter_table('metric_raw', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_raw_ts')

    op.drop_table('metric_raw')
    with op.batch_alter_table('metric_minute', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_minute_ts')

    op.drop_table('metric_minute')
    with op.batch_alter_table('metric_hour', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_hour_ts')

    op.drop_table('metric_hour')
