"""webhooks (app_hooks, hook_deliveries) and scheduled deploys (deploys.job_id, deploys.run_at)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import slipway.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_hooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('hook_id', sa.String(length=64), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('branch_filter', sa.String(length=255), nullable=True),
    sa.Column('deploy_tags', sa.Boolean(), nullable=False),
    sa.Column('deploy_window', sa.String(length=128), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('rotated_at', slipway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_app_hooks_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_hooks')),
    sa.UniqueConstraint('app_id', name=op.f('uq_app_hooks_app_id')),
    sa.UniqueConstraint('hook_id', name=op.f('uq_app_hooks_hook_id'))
    )
    op.create_table('hook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('delivery_id', sa.String(length=128), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('ref', sa.String(length=255), nullable=True),
    sa.Column('commit', sa.String(length=64), nullable=True),
    sa.Column('deploy_id', sa.Integer(), nullable=True),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('received_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_hook_deliveries_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deploy_id'], ['deploys.id'], name=op.f('fk_hook_deliveries_deploy_id_deploys'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hook_deliveries')),
    sa.UniqueConstraint('app_id', 'provider', 'delivery_id', name='uq_hook_deliveries_key')
    )
    with op.batch_alter_table('hook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_hook_deliveries_app_received', ['app_id', 'received_at'], unique=False)

    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('run_at', slipway.db.UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.drop_column('run_at')
        batch_op.drop_column('job_id')

    with op.batch_alter_table('hook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_hook_deliveries_app_received')

    op.drop_table('hook_deliveries')
    op.drop_table('app_hooks')
