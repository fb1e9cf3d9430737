"""delivery ids: a notification's UUID, unique across restores, for receivers to drop a repeated delivery

Revision ID: d7f9b1c3e5a8
Revises: c4e6a8b0d2f3
Create Date: 2026-12-06 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = 'd7f9b1c3e5a8'
down_revision = 'c4e6a8b0d2f3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'notifications',
        sa.Column(
            'delivery_id', postgresql.UUID(as_uuid=True), server_default=sa.text('gen_random_uuid()'), nullable=False
        ),
    )
    op.create_unique_constraint(op.f('uq_notifications_delivery_id'), 'notifications', ['delivery_id'])


def downgrade():
    op.drop_constraint(op.f('uq_notifications_delivery_id'), 'notifications', type_='unique')
    op.drop_column('notifications', 'delivery_id')
