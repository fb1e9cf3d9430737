"""outbox batches: the RQ job that carries an outbox row when it is delivered with others in one job (notices), so
that the reconcile can tell a row whose job Redis lost from one waiting in its batch

Revision ID: e7b3d5f1a9c2
Revises: c7b2d4f6a8c0
Create Date: 2026-12-06 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'e7b3d5f1a9c2'
down_revision = 'c7b2d4f6a8c0'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('outbox', sa.Column('rq_job', sa.String(length=100), nullable=True))


def downgrade():
    op.drop_column('outbox', 'rq_job')
