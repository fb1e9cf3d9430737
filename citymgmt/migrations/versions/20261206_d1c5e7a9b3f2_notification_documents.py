"""notification documents: a notification may carry a document sent as it is (the weekly analysis report, HTML)
instead of a list of cases

Revision ID: d1c5e7a9b3f2
Revises: b1d3f5a7c9e1
Create Date: 2026-12-06 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'd1c5e7a9b3f2'
down_revision = 'b1d3f5a7c9e1'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('notifications', sa.Column('document', sa.Text(), nullable=True))


def downgrade():
    op.drop_column('notifications', 'document')
