"""periodic runs: each periodic job's last success and failure, for /healthz

Revision ID: f1a2b3c4d5e6
Revises: e5a2c7d1b9f3
Create Date: 2026-12-06 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'f1a2b3c4d5e6'
down_revision = 'e5a2c7d1b9f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'periodic_runs',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_runs')),
    )


def downgrade():
    op.drop_table('periodic_runs')
