"""components: the component registry (部件普查) and a case's asset

Revision ID: 6c1f3e2a9b47
Revises: 9284387a239d
Create Date: 2026-11-22 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = '6c1f3e2a9b47'
down_revision = '9284387a239d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_geospatial_table('components',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('class_code', sa.String(length=5), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('owner_department_code', sa.String(length=40), nullable=True),
    sa.Column('point', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('cell_code', sa.String(length=15), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='in_use', nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("id ~ '^[0-9]{16}$' AND class_code = 'C' || substr(id, 7, 4) AND district_code = left(id, 6)", name=op.f('ck_components_id_parts')),
    sa.CheckConstraint("status IN ('in_use', 'damaged', 'missing', 'retired')", name=op.f('ck_components_status')),
    sa.CheckConstraint("(status = 'retired') = (retired_at IS NOT NULL)", name=op.f('ck_components_retired')),
    sa.ForeignKeyConstraint(['cell_code'], ['grid_cells.code'], name=op.f('fk_components_cell_code_grid_cells')),
    sa.ForeignKeyConstraint(['owner_department_code'], ['departments.code'], name=op.f('fk_components_owner_department_code_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_components'))
    )
    op.create_index(op.f('ix_components_cell_code'), 'components', ['cell_code'], unique=False)
    op.create_index(op.f('ix_components_class_code'), 'components', ['class_code'], unique=False)
    op.create_index(op.f('ix_components_owner_department_code'), 'components', ['owner_department_code'], unique=False)
    op.create_geospatial_index('ix_components_live_point', 'components', ['point'], unique=False, postgresql_using='gist', postgresql_where=sa.text('retired_at IS NULL'), postgresql_ops={})
    op.add_column('cases', sa.Column('component_id', sa.String(length=16), nullable=True))
    op.add_column('cases', sa.Column('component_source', sa.String(length=10), nullable=True))
    op.create_index(op.f('ix_cases_component_id'), 'cases', ['component_id'], unique=False)
    op.create_foreign_key(op.f('fk_cases_component_id_components'), 'cases', 'components', ['component_id'], ['id'])
    op.create_check_constraint(
        op.f('ck_cases_component_source'),
        'cases',
        "(component_id IS NULL AND component_source IS NULL)"
        " OR (component_id IS NOT NULL AND component_source IN ('named', 'suggested'))",
    )


def downgrade():
    op.drop_constraint(op.f('ck_cases_component_source'), 'cases', type_='check')
    op.drop_constraint(op.f('fk_cases_component_id_components'), 'cases', type_='foreignkey')
    op.drop_index(op.f('ix_cases_component_id'), table_name='cases')
    op.drop_column('cases', 'component_source')
    op.drop_column('cases', 'component_id')
    op.drop_geospatial_index('ix_components_live_point', table_name='components', postgresql_using='gist', postgresql_where=sa.text('retired_at IS NULL'), column_name='point')
    op.drop_index(op.f('ix_components_owner_department_code'), table_name='components')
    op.drop_index(op.f('ix_components_class_code'), table_name='components')
    op.drop_index(op.f('ix_components_cell_code'), table_name='components')
    op.drop_geospatial_table('components')
