"""disposal limit hours: the whole handling limit, extensions included, on which the warning point is placed

Revision ID: b3d5f7a9c1e2
Revises: a7b8c9d0e1f2
Create Date: 2026-12-06 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'b3d5f7a9c1e2'
down_revision = 'a7b8c9d0e1f2'
branch_labels = None
depends_on = None


def upgrade():
    # Cases dispatched before have none: their warning point is placed on their category's limit.
    op.add_column('cases', sa.Column('disposal_limit_hours', sa.Float(), nullable=True))


def downgrade():
    op.drop_column('cases', 'disposal_limit_hours')
