"""open311: API keys of Open311 clients, and what their requests brought beside the report

Revision ID: 5e0c311a4b2d
Revises: 6c1f3e2a9b47
Create Date: 2026-11-22 07:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '5e0c311a4b2d'
down_revision = '6c1f3e2a9b47'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('open311_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_open311_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_open311_keys_key_hash')),
    sa.UniqueConstraint('name', name=op.f('uq_open311_keys_name'))
    )
    op.create_table('open311_requests',
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('media_url', sa.String(length=2000), nullable=True),
    sa.Column('address_id', sa.String(length=200), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_open311_requests_case_id_cases')),
    sa.ForeignKeyConstraint(['key_id'], ['open311_keys.id'], name=op.f('fk_open311_requests_key_id_open311_keys')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_open311_requests'))
    )
    op.create_index('ix_open311_requests_key', 'open311_requests', ['key_id'], unique=False)


def downgrade():
    op.drop_index('ix_open311_requests_key', table_name='open311_requests')
    op.drop_table('open311_requests')
    op.drop_table('open311_keys')
