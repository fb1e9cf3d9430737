"""The components feature's hand-written SQL, one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver` or the connection's cursor) uses psycopg's `%(name)s`, never positional `%s`. Here the
driver only runs a COPY, which takes no parameters.
"""

from __future__ import annotations

# Live assets (of a class, if given) within a radius of a point, nearest first (nearby_components). Hand-written:
# a box for the partial GiST index, a KNN scan (`<->`) of a bounded number of candidates, then the distance on the
# spheroid to decide and order.
NEARBY_SQL = """
    SELECT id, d FROM (
        SELECT c.id, ST_Distance(c.point::geography, q.p::geography) AS d
        FROM components c, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS p) q
        WHERE c.retired_at IS NULL
          AND (CAST(:class AS text) IS NULL OR c.class_code = :class)
          AND c.point && ST_Expand(q.p, :deg)
        ORDER BY c.point <-> q.p
        LIMIT :candidates
    ) k
    WHERE d <= :within
    ORDER BY d, id
    LIMIT :limit
"""

# The distance in metres from a report's point to the asset it names (case_component). Hand-written: a geography
# distance to a point given as two numbers.
NAMED_DISTANCE_SQL = (
    "SELECT ST_Distance(point::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)"
    " FROM components WHERE id = :id"
)

# -- the registry's import (importer.py) --------------------------------------------------------------------------

# A file's points transformed to WGS-84 by PostGIS, in their order. Hand-written: unnest of two arrays in one
# round trip.
TO_WGS84_SQL = """
    SELECT ST_X(g), ST_Y(g) FROM (
        SELECT n, ST_Transform(ST_SetSRID(ST_MakePoint(x, y), :srid), 4326) AS g
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, n)
    ) t ORDER BY n
"""

# The staging table of checked rows (a temporary table, which the ORM does not model), filled by COPY on the driver.
DROP_STAGING_SQL = "DROP TABLE IF EXISTS component_rows"
CREATE_STAGING_SQL = (
    "CREATE TEMP TABLE component_rows (id text PRIMARY KEY, class_code text, owner text, lon float8,"
    " lat float8, cell text, status text, name text, address text, attributes jsonb) ON COMMIT DROP"
)
STAGING_COLUMNS = "id, class_code, owner, lon, lat, cell, status, name, address, attributes"
COPY_STAGING_SQL = f"COPY component_rows ({STAGING_COLUMNS}) FROM STDIN"
DROP_STAGED_SQL = "DROP TABLE component_rows"

# The staged rows into the registry: new ones inserted, changed ones updated, the unchanged left alone; returns
# for each row written whether it was new. Hand-written: INSERT ... SELECT ... ON CONFLICT with a WHERE over the
# whole row, in one statement.
UPSERT_SQL = """
    INSERT INTO components AS t (id, class_code, district_code, owner_department_code, point, cell_code, status,
                                 name, address, attributes, imported_at, updated_at, retired_at)
    SELECT id, class_code, left(id, 6), owner, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, status,
           name, address, attributes, :now, :now, CASE WHEN status = 'retired' THEN CAST(:now AS timestamptz) END
    FROM component_rows
    ON CONFLICT (id) DO UPDATE SET
        owner_department_code = EXCLUDED.owner_department_code, point = EXCLUDED.point,
        cell_code = EXCLUDED.cell_code, status = EXCLUDED.status, name = EXCLUDED.name,
        address = EXCLUDED.address, attributes = EXCLUDED.attributes, updated_at = :now,
        retired_at = CASE WHEN EXCLUDED.status = 'retired' THEN coalesce(t.retired_at, EXCLUDED.retired_at) END
    WHERE (t.owner_department_code, t.cell_code, t.status, t.name, t.address, t.attributes, t.point)
          IS DISTINCT FROM
          (EXCLUDED.owner_department_code, EXCLUDED.cell_code, EXCLUDED.status, EXCLUDED.name, EXCLUDED.address,
           EXCLUDED.attributes, EXCLUDED.point)
    RETURNING (xmax = 0)
"""

# Retire the live assets of some districts (an unloaded demo city): out of service, kept for history.
RETIRE_IN_DISTRICTS_SQL = """
    UPDATE components SET status = 'retired', retired_at = :now, updated_at = :now
    WHERE district_code = ANY(:districts) AND retired_at IS NULL
"""
