"""analysis roll-up: the cases of each local day and hour per cell, category and component (reported, closed), which
the analyses read instead of the cases; the grid's neighbourhoods kept for hot spots (each live cell's neighbours,
and their number and area per level); an index of closed cases by their closing time (the roll-up's rebuild of a
day reads the cases closed on it)

Revision ID: a7b1c3d5e7f9
Revises: d7a1b3c5e7f9
Create Date: 2026-12-06 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'a7b1c3d5e7f9'
down_revision = 'd7a1b3c5e7f9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'analysis_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('hour', sa.SmallInteger(), nullable=False),
        sa.Column('cell_code', sa.String(length=15), nullable=False),
        sa.Column('category_code', sa.String(length=10), nullable=False),
        sa.Column('component_id', sa.String(length=20), nullable=False),
        sa.Column('community_code', sa.String(length=12), nullable=False),
        sa.Column('street_code', sa.String(length=9), nullable=False),
        sa.Column('district_code', sa.String(length=6), nullable=False),
        sa.Column('family', sa.String(length=10), nullable=False),
        sa.Column('reported', sa.Integer(), nullable=False),
        sa.Column('closed', sa.Integer(), nullable=False),
        sa.Column('longest_open_days', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            'day', 'hour', 'cell_code', 'category_code', 'component_id', name=op.f('pk_analysis_days')
        ),
    )
    op.create_index('ix_analysis_days_district', 'analysis_days', ['district_code', 'day'], unique=False)
    op.create_index('ix_analysis_days_component', 'analysis_days', ['component_id', 'day'], unique=False,
                    postgresql_where=sa.text("component_id <> ''"))
    op.create_table(
        'analysis_cells',
        sa.Column('code', sa.String(length=15), nullable=False),
        sa.Column('area_m2', sa.Float(), nullable=False),
        sa.Column('k_city', sa.Integer(), nullable=False),
        sa.Column('area_city', sa.Float(), nullable=False),
        sa.Column('k_district', sa.Integer(), nullable=False),
        sa.Column('area_district', sa.Float(), nullable=False),
        sa.Column('k_street', sa.Integer(), nullable=False),
        sa.Column('area_street', sa.Float(), nullable=False),
        sa.Column('k_community', sa.Integer(), nullable=False),
        sa.Column('area_community', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_analysis_cells')),
    )
    op.create_table(
        'analysis_neighbours',
        sa.Column('neighbour_code', sa.String(length=15), nullable=False),
        sa.Column('cell_code', sa.String(length=15), nullable=False),
        sa.PrimaryKeyConstraint('neighbour_code', 'cell_code', name=op.f('pk_analysis_neighbours')),
    )
    op.create_index('ix_cases_closed_at', 'cases', ['closed_at'], unique=False,
                    postgresql_where=sa.text("status = 'closed'"))


def downgrade():
    op.drop_index('ix_cases_closed_at', table_name='cases', postgresql_where=sa.text("status = 'closed'"))
    op.drop_table('analysis_neighbours')
    op.drop_table('analysis_cells')
    op.drop_table('analysis_days')
