"""runtimes: docker apps (prebuilt image, build config), resource limits, OOM kills per instance

Revision ID: 0005
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image', sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column('docker_build', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('limits', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ooms', sa.Integer(), nullable=False, server_default=sa.text('0')))


def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('ooms')

    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('limits')
        batch_op.drop_column('docker_build')
        batch_op.drop_column('image')
