"""teams, projects, memberships, invitations, token scopes, 2FA, session details, audit trail

Existing installs keep working: a team "default" and its project "default" are created, every app
joins that project, every user becomes an Owner of that team and every token acts in it with the
admin scope.

Revision ID: 0006
Revises: 0001
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

import slipway.db


revision = '0006'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('require_2fa', sa.Boolean(), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_projects_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_index('ix_projects_team_id', 'projects', ['team_id'])
    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_memberships_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_memberships_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('team_id', 'user_id', 'project_id', name='uq_memberships_scope')
    )
    op.create_index('ix_memberships_team_id', 'memberships', ['team_id'])
    op.create_index('ix_memberships_user_id', 'memberships', ['user_id'])
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('accepted_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('accepted_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', slipway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_invitations_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_invitations_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['accepted_by'], ['users.id'], name=op.f('fk_invitations_accepted_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    op.create_index('ix_invitations_team_id', 'invitations', ['team_id'])
    op.create_table('audit_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ts', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=96), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=True),
    sa.Column('resource_id', sa.String(length=64), nullable=True),
    sa.Column('resource_name', sa.String(length=255), nullable=True),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_records'))
    )
    for column in ('ts', 'actor', 'action', 'app_id', 'project_id', 'team_id'):
        op.create_index(f'ix_audit_records_{column}', 'audit_records', [column])

    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_apps_project_id', ['project_id'], unique=False)
        batch_op.create_foreign_key(op.f('fk_apps_project_id_projects'), 'projects', ['project_id'], ['id'],
                                    ondelete='RESTRICT')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('scope', sa.String(length=16), nullable=False, server_default='admin'))
        batch_op.add_column(sa.Column('expires_at', slipway.db.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_api_tokens_team_id_teams'), 'teams', ['team_id'], ['id'],
                                    ondelete='CASCADE')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', slipway.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recovery_hashes', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('last_seen_at', slipway.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('mfa_pending', sa.Boolean(), nullable=False, server_default=sa.false()))

    # the default team and project: everything that exists today lives there
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    bind = op.get_bind()
    bind.execute(sa.text("INSERT INTO teams (name, require_2fa, created_at) VALUES ('default', :f, :now)"),
                 {"f": False, "now": now})
    team_id = bind.execute(sa.text("SELECT id FROM teams WHERE name = 'default'")).scalar_one()
    bind.execute(sa.text("INSERT INTO projects (team_id, name, created_at) VALUES (:t, 'default', :now)"),
                 {"t": team_id, "now": now})
    project_id = bind.execute(sa.text("SELECT id FROM projects WHERE name = 'default'")).scalar_one()
    bind.execute(sa.text("UPDATE apps SET project_id = :p"), {"p": project_id})
    bind.execute(sa.text("UPDATE api_tokens SET team_id = :t, scope = 'admin'"), {"t": team_id})
    bind.execute(sa.text("INSERT INTO memberships (team_id, user_id, project_id, role, created_at) "
                         "SELECT :t, id, NULL, 'owner', :now FROM users"), {"t": team_id, "now": now})


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        for column in ('mfa_pending', 'last_seen_at', 'user_agent', 'ip'):
            batch_op.drop_column(column)
    with op.batch_alter_table('users', schema=None) as batch_op:
        for column in ('recovery_hashes', 'totp_last_step', 'totp_enabled_at', 'totp_secret_enc'):
            batch_op.drop_column(column)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_api_tokens_team_id_teams'), type_='foreignkey')
        for column in ('expires_at', 'scope', 'team_id'):
            batch_op.drop_column(column)
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_apps_project_id_projects'), type_='foreignkey')
        batch_op.drop_index('ix_apps_project_id')
        batch_op.drop_column('project_id')
    op.drop_table('audit_records')
    op.drop_table('invitations')
    op.drop_table('memberships')
    op.drop_table('projects')
    op.drop_table('teams')
