"""fork previews are opt-in per app: preview_configs.forks

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column only: SQLite alters in place. Existing apps get False: a fork's PR gets no preview until
    # the app opts in (before, fork PRs were previewed by default).
    with op.batch_alter_table('preview_configs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forks', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('preview_configs', schema=None) as batch_op:
        batch_op.drop_column('forks')
