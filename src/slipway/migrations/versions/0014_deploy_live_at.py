"""deploys.live_at and deploys.watch_until: when traffic switched, and when the crash watch ends

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

import slipway.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column only (nullable): SQLite alters in place; deploys from before have neither
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live_at', slipway.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('watch_until', slipway.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.drop_column('watch_until')
        batch_op.drop_column('live_at')
