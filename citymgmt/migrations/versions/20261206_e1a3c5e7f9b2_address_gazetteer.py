"""address gazetteer and hotline intake: the city's standard addresses (标准地址 / 门牌) searched with pg_trgm, and a
case's kind of request (投诉 / 求助 / 咨询 / 建议)

Revision ID: e1a3c5e7f9b2
Revises: a1d3e5f7b9c1
Create Date: 2026-12-06 15:10:00.000000
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = 'e1a3c5e7f9b2'
down_revision = 'a1d3e5f7b9c1'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_geospatial_table('addresses',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('point', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('cell_code', sa.String(length=15), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['cell_code'], ['grid_cells.code'], name=op.f('fk_addresses_cell_code_grid_cells')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses')),
    sa.UniqueConstraint('address', name=op.f('uq_addresses_address')),
    )
    op.create_index(op.f('ix_addresses_cell_code'), 'addresses', ['cell_code'], unique=False)
    op.create_index(
        'ix_addresses_address_trgm', 'addresses', ['address'], unique=False, postgresql_using='gin',
        postgresql_ops={'address': 'gin_trgm_ops'},
    )
    op.add_column('cases', sa.Column('request_kind', sa.String(length=12), nullable=True))
    op.create_check_constraint(
        op.f('ck_cases_request_kind'),
        'cases',
        "request_kind IS NULL OR request_kind IN ('complaint', 'help', 'consultation', 'suggestion')",
    )


def downgrade():
    op.drop_constraint(op.f('ck_cases_request_kind'), 'cases', type_='check')
    op.drop_column('cases', 'request_kind')
    op.drop_index('ix_addresses_address_trgm', table_name='addresses', postgresql_using='gin')
    op.drop_index(op.f('ix_addresses_cell_code'), table_name='addresses')
    op.drop_geospatial_table('addresses')
    # pg_trgm stays: another schema may use it, and it holds no data
