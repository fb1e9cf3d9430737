"""analysis adjacency: each district's neighbourhoods among its own cells kept as one sparse matrix (compressed rows),
so that hot spots of a district add up its neighbourhoods' cases in the process from one row instead of joining
every counted cell to its neighbours' rows; the kept neighbourhoods' build is forgotten, so that the next hourly
analysis job rebuilds them with their matrices (until then the analyses count from the cases, as before a first
build)

Revision ID: f9a1c3e5b7d2
Revises: e9c1a3b5d7f9
Create Date: 2026-12-06 22:10:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'f9a1c3e5b7d2'
down_revision = 'e9c1a3b5d7f9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'analysis_adjacency',
        sa.Column('district_code', sa.String(length=6), nullable=False),
        sa.Column('cells', sa.Integer(), nullable=False),
        sa.Column('indptr', sa.LargeBinary(), nullable=False),
        sa.Column('indices', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('district_code', name=op.f('pk_analysis_adjacency')),
    )
    op.execute("DELETE FROM metric_builds WHERE name = 'analysis-grid'")


def downgrade():
    op.drop_table('analysis_adjacency')
