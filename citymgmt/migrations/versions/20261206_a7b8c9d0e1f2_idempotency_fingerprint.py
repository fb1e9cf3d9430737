"""idempotency fingerprint: a digest of the report an Idempotency-Key was first used for

Revision ID: a7b8c9d0e1f2
Revises: f1a2b3c4d5e6
Create Date: 2026-12-06 10:10:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'a7b8c9d0e1f2'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    # Cases reported before have none: a retry of theirs is taken as it was.
    op.add_column('cases', sa.Column('idempotency_fingerprint', sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column('cases', 'idempotency_fingerprint')
