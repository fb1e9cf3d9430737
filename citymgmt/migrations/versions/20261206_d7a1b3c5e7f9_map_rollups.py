"""map roll-ups: the areas' own roll-up rows (their cells' counts added up), the cases reported counted in the
roll-ups, each area's live cells' area and its outline kept simplified for a few zooms, so that the big screen's map
of a city's communities reads a row per area and day instead of adding up a million cells and their cases, and
simplifying a thousand outlines, on every refresh

Revision ID: d7a1b3c5e7f9
Revises: e7b3d5f1a9c2
Create Date: 2026-12-06 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry


revision = 'd7a1b3c5e7f9'
down_revision = 'e7b3d5f1a9c2'
branch_labels = None
depends_on = None

# The roll-ups' counts as of this revision, reported_cases last (dispatch.metrics.queries.COUNTS).
COUNTS = (
    'closed', 'closed_on_time', 'overdue_open', 'overdue_unhandled', 'handled', 'handled_on_time', 'reworked',
    'filed', 'filed_on_time', 'filed_cancelled', 'dispatched', 'dispatched_on_time', 'wrong_dispatches', 'reports',
    'valid_reports', 'verifications', 'verifications_on_time', 'checks', 'checks_on_time', 'verified_public',
    'missed', 'received', 'responded', 'callbacks', 'callbacks_resolved', 'callbacks_satisfied',
    'callbacks_basically_satisfied', 'reported_cases',
)
OUTLINE_ZOOMS = (8, 10, 12, 14)  # grids.maps.OUTLINE_ZOOMS as of this revision
# Each area level, its code's length and the area columns its rows carry.
LEVELS = (
    ('community', 'community_code', 'community_code, street_code, district_code'),
    ('street', 'street_code', 'NULL, street_code, district_code'),
    ('district', 'district_code', 'NULL, NULL, district_code'),
)


def upgrade():
    op.add_column('areas', sa.Column('cells_area_m2', sa.Float(), nullable=True))
    op.execute(
        """
        WITH c AS (SELECT community_code, sum(area_m2) AS m2 FROM grid_cells WHERE retired_at IS NULL
                   GROUP BY community_code),
        m AS (SELECT community_code AS code, m2 FROM c
              UNION ALL SELECT left(community_code, 9), sum(m2) FROM c GROUP BY 1
              UNION ALL SELECT left(community_code, 6), sum(m2) FROM c GROUP BY 1)
        UPDATE areas a SET cells_area_m2 = coalesce(m.m2, 0)
        FROM areas b LEFT JOIN m ON m.code = b.code
        WHERE a.code = b.code
        """
    )
    op.create_table(
        'area_outlines',
        sa.Column('code', sa.String(length=12), nullable=False),
        sa.Column('zoom', sa.SmallInteger(), nullable=False),
        sa.Column(
            'geom',
            Geometry(
                geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False,
                from_text='ST_GeomFromEWKT', name='geometry', nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(['code'], ['areas.code'], name=op.f('fk_area_outlines_code_areas')),
        sa.PrimaryKeyConstraint('code', 'zoom', name=op.f('pk_area_outlines')),
    )
    op.execute(
        f"""
        INSERT INTO area_outlines (code, zoom, geom)
        SELECT a.code, z.zoom, ST_Multi(ST_SimplifyPreserveTopology(a.geom, 360.0 / (256 * 2 ^ z.zoom) / 2))
        FROM areas a CROSS JOIN unnest(ARRAY{list(OUTLINE_ZOOMS)}) AS z (zoom)
        WHERE a.geom IS NOT NULL AND a.retired_at IS NULL
        """
    )
    for table in ('metric_days', 'metric_months'):
        # A map's view reads its cells' rows by key.
        op.create_index(
            f'ix_{table}_cell_key', table, ['key', 'day'], unique=False, postgresql_where=sa.text("dim = 'cell'")
        )
    sums = ', '.join(f'sum({c})' for c in COUNTS[:-1])
    for table in ('metric_days', 'metric_months'):
        op.add_column(table, sa.Column('reported_cases', sa.Integer(), server_default='0', nullable=False))
        op.alter_column(table, 'reported_cases', server_default=None)
        # The areas' rows from their cells' rows, until the next roll-up job rebuilds every day under the new build
        # name (dispatch.metrics.operations.BUILD) and counts the cases reported too.
        for dim, column, areas in LEVELS:
            op.execute(
                f"""
                INSERT INTO {table} (dim, day, key, community_code, street_code, district_code, {', '.join(COUNTS)})
                SELECT '{dim}', day, {column}, {areas}, {sums}, 0 FROM (
                    SELECT day, community_code, street_code, district_code, {', '.join(COUNTS[:-1])}
                    FROM {table} WHERE dim = 'cell' AND {column} IS NOT NULL
                ) c
                GROUP BY day, {column}, {areas.replace('NULL, ', '')}
                """
            )


def downgrade():
    for table in ('metric_days', 'metric_months'):
        op.drop_index(f'ix_{table}_cell_key', table_name=table, postgresql_where=sa.text("dim = 'cell'"))
        op.execute(f"DELETE FROM {table} WHERE dim IN ('community', 'street', 'district')")
        op.drop_column(table, 'reported_cases')
    op.drop_table('area_outlines')
    op.drop_column('areas', 'cells_area_m2')
