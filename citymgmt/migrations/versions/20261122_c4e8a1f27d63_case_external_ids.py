"""case external ids: where an imported case came from (citymgmt cases import)

Revision ID: c4e8a1f27d63
Revises: c41d7e5a9f20
Create Date: 2026-11-22 08:25:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c4e8a1f27d63'
down_revision = 'c41d7e5a9f20'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('cases', sa.Column('external_system', sa.String(length=40), nullable=True))
    op.add_column('cases', sa.Column('external_id', sa.String(length=100), nullable=True))
    op.create_unique_constraint('uq_cases_external', 'cases', ['external_system', 'external_id'])


def downgrade():
    op.drop_constraint('uq_cases_external', 'cases', type_='unique')
    op.drop_column('cases', 'external_id')
    op.drop_column('cases', 'external_system')
