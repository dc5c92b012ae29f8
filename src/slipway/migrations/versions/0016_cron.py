"""scheduled jobs: cron_jobs and the cron_runs ledger

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

import slipway.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cron_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('schedule', sa.String(length=200), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('command', sa.JSON(), nullable=False),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('concurrency', sa.String(length=8), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('process_type', sa.String(length=63), nullable=False),
    sa.Column('catch_up', sa.String(length=8), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False, server_default='api'),
    sa.Column('next_run_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_cron_jobs_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cron_jobs')),
    sa.UniqueConstraint('app_id', 'name', name='uq_cron_jobs_app_name')
    )
    op.create_index('ix_cron_jobs_app_id', 'cron_jobs', ['app_id'])
    op.create_index('ix_cron_jobs_due', 'cron_jobs', ['paused', 'next_run_at'])
    op.create_table('cron_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('release', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.String(length=128), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('started_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', slipway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['cron_jobs.id'], name=op.f('fk_cron_runs_job_id_cron_jobs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cron_runs')),
    sa.UniqueConstraint('job_id', 'scheduled_at', name='uq_cron_runs_job_time')
    )
    op.create_index('ix_cron_runs_job_status', 'cron_runs', ['job_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_cron_runs_job_status', table_name='cron_runs')
    op.drop_table('cron_runs')
    op.drop_index('ix_cron_jobs_due', table_name='cron_jobs')
    op.drop_index('ix_cron_jobs_app_id', table_name='cron_jobs')
    op.drop_table('cron_jobs')
