"""SSH keys belong to users: the scope/team cap of the credential that added a key; keys added with a host
token (no user) are disabled; invitations addressed to an existing account (membership by consent)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import slipway.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ssh_keys', schema=None) as batch_op:
        # keys of users kept what they could do before: push with their owner's roles (deploy scope)
        batch_op.add_column(sa.Column('scope', sa.String(length=16), nullable=False, server_default='deploy'))
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('disabled_at', slipway.db.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ssh_keys_team_id_teams'), 'teams', ['team_id'], ['id'],
                                    ondelete='CASCADE')
    # a key added with a host token acted as the default team's owner: it stops, with a message on push
    op.execute(sa.text("UPDATE ssh_keys SET disabled_at = CURRENT_TIMESTAMP WHERE user_id IS NULL"))
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_invitations_username'), ['username'])


def downgrade() -> None:
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_username'))
        batch_op.drop_column('username')
    with op.batch_alter_table('ssh_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ssh_keys_team_id_teams'), type_='foreignkey')
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('team_id')
        batch_op.drop_column('scope')
