"""area source code: the city's own code of an area (or the name it was keyed by) when its boundary file has no
DB11 code, so that importing or generating the file again finds the area and keeps the code it was given

Revision ID: b1d3f5a7c9e1
Revises: f1d4b7c9e2a6
Create Date: 2026-12-06 15:10:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'b1d3f5a7c9e1'
down_revision = 'f1d4b7c9e2a6'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('areas', sa.Column('source_code', sa.String(length=80), nullable=True))
    op.create_index(op.f('ix_areas_level_source_code'), 'areas', ['level', 'source_code'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_areas_level_source_code'), table_name='areas')
    op.drop_column('areas', 'source_code')
