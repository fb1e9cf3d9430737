"""open311 status style: a client reads mySociety's extended statuses (the default) or plain OPEN/CLOSED

Revision ID: c6e8a0b2d4f6
Revises: d7f9b1c3e5a8
Create Date: 2026-12-06 12:30:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c6e8a0b2d4f6'
down_revision = 'd7f9b1c3e5a8'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'open311_keys',
        sa.Column('status_style', sa.String(length=10), server_default='extended', nullable=False),
    )
    op.create_check_constraint(
        op.f('ck_open311_keys_status_style'), 'open311_keys', "status_style IN ('extended', 'plain')"
    )


def downgrade():
    op.drop_constraint(op.f('ck_open311_keys_status_style'), 'open311_keys', type_='check')
    op.drop_column('open311_keys', 'status_style')
