"""delivery ids: a notification's UUID, unique across restores, for receivers to drop a repeated delivery

Revision ID: b3d5f7a9c1e2
Revises: a7b8c9d0e1f2
Create Date: 2026-12-06 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = 'b3d5f7a9c1e2'
down_revision = 'a7b8c9d0e1f2'
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
