"""append-only audit: case_events and the new audit_log refuse UPDATE, DELETE and TRUNCATE

Revision ID: c41d7e5a9f20
Revises: b7e3a91c5d20
Create Date: 2026-11-22 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'c41d7e5a9f20'
down_revision = 'b7e3a91c5d20'
branch_labels = None
depends_on = None

APPEND_ONLY = ('case_events', 'audit_log')

REFUSE = """
CREATE FUNCTION citymgmt_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade():
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=60), nullable=False),
        sa.Column('target', sa.String(length=200), nullable=False),
        sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_target', 'audit_log', ['target'], unique=False)
    op.execute(REFUSE)
    for table in APPEND_ONLY:
        op.execute(
            f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}'
            ' FOR EACH ROW EXECUTE FUNCTION citymgmt_refuse_change()'
        )
        op.execute(
            f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}'
            ' FOR EACH STATEMENT EXECUTE FUNCTION citymgmt_refuse_change()'
        )


def downgrade():
    for table in APPEND_ONLY:
        op.execute(f'DROP TRIGGER {table}_no_truncate ON {table}')
        op.execute(f'DROP TRIGGER {table}_append_only ON {table}')
    op.execute('DROP FUNCTION citymgmt_refuse_change()')
    op.drop_index('ix_audit_log_target', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
