"""pull request previews (apps.environment, apps.parent_app_id, previews, preview_configs) and forge
status reporting (forge_links, forge_targets)

Revision ID: 0007
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import slipway.db


revision = '0007'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column only: SQLite alters in place (a batch "recreate" of apps would cascade-delete its children)
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('environment', sa.String(length=16), nullable=False,
                                      server_default='production'))
        batch_op.add_column(sa.Column('parent_app_id', sa.Integer(), nullable=True))
    op.create_index('ix_apps_parent_app_id', 'apps', ['parent_app_id'])
    if op.get_bind().dialect.name != 'sqlite':  # SQLite cannot add a constraint in place: the ORM relies on
        op.create_foreign_key(op.f('fk_apps_parent_app_id_apps'), 'apps', 'apps', ['parent_app_id'], ['id'],
                              ondelete='CASCADE')  # lifecycle/previews to remove previews first anyway
    op.create_table('previews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_app_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('repo', sa.String(length=255), nullable=True),
    sa.Column('head_ref', sa.String(length=255), nullable=False),
    sa.Column('head_repo', sa.String(length=255), nullable=True),
    sa.Column('head_commit', sa.String(length=64), nullable=True),
    sa.Column('fork', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('comment_id', sa.String(length=64), nullable=True),
    sa.Column('comment_lock', sa.Integer(), nullable=True),
    sa.Column('comment_lock_until', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('last_activity_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('closed_at', slipway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['parent_app_id'], ['apps.id'], name=op.f('fk_previews_parent_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_previews_app_id_apps'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_previews')),
    sa.UniqueConstraint('parent_app_id', 'number', name='uq_previews_pr')
    )
    op.create_index('ix_previews_parent_app_id', 'previews', ['parent_app_id'])
    op.create_index('ix_previews_state_activity', 'previews', ['state', 'last_activity_at'])
    op.create_table('preview_configs',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('shared_keys', sa.JSON(), nullable=False),
    sa.Column('overrides_enc', sa.Text(), nullable=True),
    sa.Column('fork_safe_keys', sa.JSON(), nullable=False),
    sa.Column('max_previews', sa.Integer(), nullable=True),
    sa.Column('updated_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_preview_configs_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_preview_configs'))
    )
    op.create_table('forge_links',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('api_url', sa.String(length=1024), nullable=False),
    sa.Column('token_enc', sa.Text(), nullable=False),
    sa.Column('repo', sa.String(length=255), nullable=True),
    sa.Column('comments', sa.Boolean(), nullable=False),
    sa.Column('updated_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_forge_links_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_forge_links'))
    )
    op.create_table('forge_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('deploy_id', sa.Integer(), nullable=True),
    sa.Column('preview_id', sa.Integer(), nullable=True),
    sa.Column('repo', sa.String(length=255), nullable=False),
    sa.Column('sha', sa.String(length=64), nullable=False),
    sa.Column('context', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=140), nullable=False),
    sa.Column('target_url', sa.String(length=1024), nullable=True),
    sa.Column('posted_state', sa.String(length=16), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_forge_targets_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deploy_id'], ['deploys.id'], name=op.f('fk_forge_targets_deploy_id_deploys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['preview_id'], ['previews.id'], name=op.f('fk_forge_targets_preview_id_previews'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forge_targets'))
    )
    op.create_index('ix_forge_targets_app_id', 'forge_targets', ['app_id'])
    op.create_index('ix_forge_targets_deploy_id', 'forge_targets', ['deploy_id'])


def downgrade() -> None:
    op.drop_table('forge_targets')
    op.drop_table('forge_links')
    op.drop_table('preview_configs')
    op.drop_table('previews')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_apps_parent_app_id_apps'), 'apps', type_='foreignkey')
    op.drop_index('ix_apps_parent_app_id', 'apps')
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('parent_app_id')
        batch_op.drop_column('environment')
