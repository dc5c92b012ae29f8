"""custom domains: domains

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import slipway.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=253), nullable=False),
    sa.Column('redirect_to', sa.String(length=253), nullable=True),
    sa.Column('dns_status', sa.String(length=16), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('checked_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('https_redirect', sa.Boolean(), nullable=False),
    sa.Column('hsts', sa.Boolean(), nullable=False),
    sa.Column('cert_source', sa.String(length=16), nullable=False),
    sa.Column('cert_enc', sa.Text(), nullable=True),
    sa.Column('cert_issuer', sa.String(length=255), nullable=True),
    sa.Column('cert_not_after', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('cert_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('cert_checked_at', slipway.db.UTCDateTime(), nullable=True),
    sa.Column('expiry_warned', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', slipway.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', slipway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_domains_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('name', name=op.f('uq_domains_name'))
    )
    op.create_index(op.f('ix_domains_app_id'), 'domains', ['app_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_domains_app_id'), table_name='domains')
    op.drop_table('domains')
