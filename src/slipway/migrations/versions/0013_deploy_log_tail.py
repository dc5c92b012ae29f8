"""a deploy's failure: a one-line reason, and the log tail that explains it stored beside it

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column only: SQLite alters in place. Older deploys keep their (possibly multi-line) reason and no tail.
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('log_tail', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.drop_column('log_tail')
