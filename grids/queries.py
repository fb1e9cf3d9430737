"""grids' hand-written SQL (matching.py, maps.py, assignments.py, cli.py), one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver` or a connection's driver connection: the report's cell, the staged bulk match) uses
psycopg's `%(name)s`, never positional `%s`.

Hand-written rather than the ORM's: point-in-polygon and nearest-cell questions in PostGIS (ST_Covers, KNN `<->`,
geography distances), arrays of points unnested in one statement, and geometries sent as WKB, simplified by zoom.
"""

from __future__ import annotations

# -- matching points to cells (matching.py) -------------------------------------------------------------------------

# A point given in a projected CRS (`{point}`: matching._point_sql, built from the CRS's SRID) with the cell that
# covers it, the smallest code on shared edges, and the point in WGS-84.
MATCH_SQL = """
    SELECT code, ST_X(p), ST_Y(p) FROM (SELECT {point} AS p) q
    LEFT JOIN LATERAL (
        SELECT code FROM grid_cells
        WHERE retired_at IS NULL AND ST_Covers(geom, q.p)
        ORDER BY code
        LIMIT 1
    ) c ON true
"""

# The hot path of every report: prepared once per connection, run on the session's own connection (and
# transaction), without the ORM's per-call work.
WGS84_MATCH_SQL = (
    "SELECT code FROM grid_cells WHERE retired_at IS NULL"
    " AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) ORDER BY code LIMIT 1"
)

# Whether PostGIS knows an SRID.
SRID_KNOWN_SQL = "SELECT 1 FROM spatial_ref_sys WHERE srid = :srid"

# The nearest live cell to a point outside every cell, and how far it is in metres (a KNN scan on the index).
NEAREST_CELL_SQL = """
    SELECT code, ST_Distance(geom::geography, p::geography) FROM grid_cells,
           (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS p) q
    WHERE retired_at IS NULL
    ORDER BY geom <-> p
    LIMIT 1
"""

# Many points at once (match_cells): each point (numbered from 1) with every live cell that covers it.
BULK_SQL = """
    SELECT p.n, c.code
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, n)
    CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS pt) q
    JOIN grid_cells c ON c.retired_at IS NULL AND ST_Covers(c.geom, q.pt)
"""

# Staged points: a temporary table loaded by binary COPY, with its own GiST index. The join then runs cell by cell
# (each live cell in the points' extent probes the points' index, and ST_Covers reuses the prepared cell for all its
# points), which is about 2.5× faster than probing the cells' index once per point. The planner still chooses the
# direction from the statistics, so a few points over a huge grid go point by point. All on the driver; `{table}`
# is the staging table's generated name (match_points_<uuid>).
STAGE_SQL = (
    "CREATE TEMPORARY TABLE {table} (n int4 NOT NULL, lon float8 NOT NULL, lat float8 NOT NULL,"
    " p geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED)"
)
STAGED_JOIN_SQL = (
    "SELECT t.n, c.code FROM grid_cells c JOIN {table} t ON ST_Covers(c.geom, t.p)"
    " WHERE c.retired_at IS NULL AND c.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)"
)
JIT_OFF_SQL = "SET LOCAL jit = off"  # compiling the join's huge cost estimate costs more than it saves
STAGE_COPY_SQL = "COPY {table} (n, lon, lat) FROM STDIN (FORMAT BINARY)"
STAGE_INDEX_SQL = "CREATE INDEX ON {table} USING gist (p)"
STAGE_ANALYZE_SQL = "ANALYZE {table}"
STAGE_DROP_SQL = "DROP TABLE {table}"

# The live cells in an extent, counted on the index up to :cap.
CELLS_IN_EXTENT_SQL = (
    "SELECT count(*) FROM (SELECT 1 FROM grid_cells WHERE retired_at IS NULL"
    " AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) LIMIT :cap) c"
)

# The live cells of an extent with their polygons (WKB), by code, for the in-process STRtree.
CELL_SHAPES_IN_EXTENT_SQL = (
    "SELECT code, ST_AsBinary(geom) FROM grid_cells WHERE retired_at IS NULL"
    " AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) ORDER BY code"
)

# -- the maps (maps.py) ---------------------------------------------------------------------------------------------

# A live cell with its community, street and district (codes and names) and its polygon (WKB).
CELL_DETAIL_SQL = """
    SELECT c.code, c.area_m2, ST_AsBinary(c.geom),
           com.code, com.name, st.code, st.name, d.code, d.name
    FROM grid_cells c
    JOIN areas com ON com.code = c.community_code
    LEFT JOIN areas st ON st.code = com.parent_code
    LEFT JOIN areas d ON d.code = st.parent_code
    WHERE c.code = :code AND c.retired_at IS NULL
"""

# The live cells in a box, simplified by :tol, by code, at most :limit.
CELLS_IN_VIEW_SQL = """
    SELECT code, community_code, ST_AsBinary(ST_SimplifyPreserveTopology(geom, :tol))
    FROM grid_cells
    WHERE retired_at IS NULL AND geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
    ORDER BY code
    LIMIT :limit
"""


def areas_sql(in_box: bool) -> str:
    """The live areas of a level (:level), simplified by :tol, by code, at most :limit; with `in_box` only those
    touching the box (:w, :s, :e, :n)."""
    box = "AND geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)" if in_box else ""
    return f"""
            SELECT code, name, ST_AsBinary(ST_SimplifyPreserveTopology(geom, :tol)), source_code
            FROM areas
            WHERE retired_at IS NULL AND level = CAST(:level AS area_level) AND geom IS NOT NULL {box}
            ORDER BY code
            LIMIT :limit
            """  # noqa: S608 (the one fragment is a constant)


# -- inspectors' beats (assignments.py) ----------------------------------------------------------------------------

# The live cells whose codes start with one of :prefixes (a cell, community, street or district code).
COUNT_PREFIXED_CELLS_SQL = (
    "SELECT count(*) FROM grid_cells c WHERE c.retired_at IS NULL"
    " AND EXISTS (SELECT 1 FROM unnest(CAST(:prefixes AS text[])) p WHERE c.code LIKE p || '%')"
)

# Those cells given to an inspector, the ones already given left alone (the partial unique index).
ASSIGN_CELLS_SQL = """
    INSERT INTO inspector_cells (user_id, cell_code, assigned_at)
    SELECT :user_id, c.code, :now FROM grid_cells c
    WHERE c.retired_at IS NULL
      AND EXISTS (SELECT 1 FROM unnest(CAST(:prefixes AS text[])) p WHERE c.code LIKE p || '%')
    ON CONFLICT (user_id, cell_code) WHERE unassigned_at IS NULL DO NOTHING
"""

# An inspector's current cells under :prefixes taken back at :now.
UNASSIGN_CELLS_SQL = """
    UPDATE inspector_cells SET unassigned_at = :now
    WHERE user_id = :user_id AND unassigned_at IS NULL
      AND EXISTS (SELECT 1 FROM unnest(CAST(:prefixes AS text[])) p WHERE cell_code LIKE p || '%')
"""

# The active inspectors whose beat includes a cell now.
INSPECTORS_OF_SQL = (
    "SELECT u.username FROM inspector_cells a JOIN users u ON u.id = a.user_id"
    " WHERE a.cell_code = :code AND a.unassigned_at IS NULL AND u.deactivated_at IS NULL ORDER BY 1"
)

# An inspector's current cells.
BEAT_OF_SQL = "SELECT cell_code FROM inspector_cells WHERE user_id = :u AND unassigned_at IS NULL ORDER BY 1"

# -- the command line (cli.py) ---------------------------------------------------------------------------------------

# A boundary (WKB) in a projected CRS (:srid) transformed to WGS-84 by PostGIS.
BOUNDARY_TO_WGS84_SQL = "SELECT ST_AsBinary(ST_Transform(ST_GeomFromWKB(:wkb, :srid), 4326))"

# -- the address gazetteer (addresses.py) ---------------------------------------------------------------------------

# Checked rows of a file into the gazetteer in one statement (arrays unnested), upserted by the address text: a new
# point (moved by more than about a centimetre: a GCJ-02 file's points come back from their conversion a hair apart)
# or cell updates the row, an unchanged row is left alone. Returns for each row written whether it was new.
UPSERT_ADDRESSES_SQL = """
    INSERT INTO addresses AS a (address, point, cell_code, created_at, updated_at)
    SELECT r.address, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326), r.cell, :now, :now
    FROM unnest(CAST(:addresses AS text[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:cells AS text[]))
         AS r(address, lon, lat, cell)
    ON CONFLICT (address) DO UPDATE SET point = EXCLUDED.point, cell_code = EXCLUDED.cell_code, updated_at = :now
    WHERE a.cell_code IS DISTINCT FROM EXCLUDED.cell_code OR NOT ST_DWithin(a.point, EXCLUDED.point, 1e-7)
    RETURNING xmax = 0
"""

# How alike (pg_trgm's word similarity) an address must be to be found by SEARCH_ADDRESSES_SQL's `<%`, for the rest
# of the transaction. The default 0.6 finds almost no misspelt Chinese address: every character is a third of three
# trigrams, so one wrong character of a short text loses most of them.
WORD_THRESHOLD_SQL = "SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true)"

# Addresses like the text, best first: the same text, then those containing it (LIKE, `:pattern` escaped by the
# caller), then by pg_trgm's word similarity (the text against the best-matching stretch of an address, so a part of
# an address with a typo still finds it), shorter ones first. Both conditions use the trigram GIN index.
SEARCH_ADDRESSES_SQL = """
    SELECT id, address, ST_X(point) AS lon, ST_Y(point) AS lat, cell_code,
           CASE WHEN address = :q THEN 1.0 ELSE word_similarity(:q, address) END AS score
    FROM addresses
    WHERE address ILIKE :pattern OR :q <% address
    ORDER BY address = :q DESC, address ILIKE :pattern DESC, score DESC, length(address), address
    LIMIT :limit
"""

# The demo city's gazetteer: one door number (门牌) per live cell of the districts, named by its district, street
# and community and the cell's serial, at a point inside the cell. Existing addresses are left as they are.
DEMO_ADDRESSES_SQL = """
    INSERT INTO addresses (address, point, cell_code, created_at, updated_at)
    SELECT d.name || regexp_replace(st.name, '（生成）$', '') || regexp_replace(com.name, '（生成）$', '')
               || '第' || CAST(right(c.code, 3) AS int) || '号',
           ST_PointOnSurface(c.geom), c.code, :now, :now
    FROM grid_cells c
    JOIN areas com ON com.code = c.community_code
    JOIN areas st ON st.code = com.parent_code
    JOIN areas d ON d.code = st.parent_code
    WHERE c.retired_at IS NULL AND d.code = ANY(:districts)
    ON CONFLICT (address) DO NOTHING
"""

# -- the city's own codes (codes.py) ---------------------------------------------------------------------------------

# The DB11 codes already given to the city's own codes (or names) at a level, under a parent (any, for districts).
AREAS_BY_SOURCE_CODE_SQL = """
    SELECT DISTINCT ON (source_code) source_code, code FROM areas
    WHERE level = CAST(:level AS area_level) AND source_code = ANY(:keys)
      AND (CAST(:parent AS text) IS NULL OR parent_code = :parent)
    ORDER BY source_code, retired_at IS NOT NULL, code
"""

# The highest code in use at a level under a prefix of the assigned scheme (retired ones too: codes are not reused).
LAST_ASSIGNED_CODE_SQL = """
    SELECT max(code) FROM areas
    WHERE level = CAST(:level AS area_level) AND code LIKE :prefix || '%' AND code ~ :pattern
"""

# The loaded city's extent (its live districts), for maps with nothing else to centre on.
CITY_EXTENT_SQL = """
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (SELECT ST_Extent(geom) AS e FROM areas WHERE level = 'district' AND retired_at IS NULL) q
    WHERE e IS NOT NULL
"""

# The DB11 codes of live areas at a level, given by their code or by the city's own code (importer.py).
PARENTS_BY_CODE_OR_SOURCE_SQL = """
    SELECT v, coalesce(
        (SELECT code FROM areas WHERE level = CAST(:level AS area_level) AND retired_at IS NULL AND code = v),
        (SELECT min(code) FROM areas WHERE level = CAST(:level AS area_level) AND retired_at IS NULL
         AND source_code = v)
    ) AS code
    FROM unnest(CAST(:values AS text[])) v
    WHERE EXISTS (SELECT 1 FROM areas WHERE level = CAST(:level AS area_level) AND retired_at IS NULL
                  AND (code = v OR source_code = v))
"""

# Retire districts with everything under them (retire.py): areas by code prefix, their cells, and the beats on them.
RETIRE_DISTRICTS_SQL = """
    WITH beats AS (
        UPDATE inspector_cells SET unassigned_at = :now
        WHERE unassigned_at IS NULL AND left(cell_code, 6) = ANY(:districts)
        RETURNING 1
    ),
    cells AS (
        UPDATE grid_cells SET retired_at = :now, updated_at = :now
        WHERE retired_at IS NULL AND left(code, 6) = ANY(:districts)
        RETURNING 1
    ),
    areas AS (
        UPDATE areas SET retired_at = :now, updated_at = :now
        WHERE retired_at IS NULL AND left(code, 6) = ANY(:districts)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM areas), (SELECT count(*) FROM cells), (SELECT count(*) FROM beats)
"""

# Pairs of these districts whose boundaries overlap, and by how much (m²): a boundary file's own overlaps, reported by
# `grids generate` (cells on both sides cover the overlap; a point there goes to the smaller cell code).
DISTRICT_OVERLAPS_SQL = """
    SELECT a.code, b.code, ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS m2
    FROM areas a JOIN areas b ON a.geom && b.geom AND a.code < b.code
    WHERE a.code = ANY(:codes) AND b.code = ANY(:codes) AND a.level = 'district' AND b.level = 'district'
      AND ST_Intersects(a.geom, b.geom)
    ORDER BY m2 DESC
"""

# Many points no cell covers (an import's --snap-within): each point (numbered from 1) with the nearest live cell
# within :metres and the distance to it. The GiST index orders the few nearest candidates (<->, in degrees, on the
# point: the column is never transformed); the sphere's distance picks among them and bounds it.
NEAREST_WITHIN_SQL = """
    SELECT p.n, near.code, near.metres
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, n)
    CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS pt) q
    CROSS JOIN LATERAL (
        SELECT c.code, ST_Distance(c.geom::geography, q.pt::geography) AS metres
        FROM (SELECT code, geom FROM grid_cells WHERE retired_at IS NULL ORDER BY geom <-> q.pt LIMIT 4) c
        ORDER BY 2, 1
        LIMIT 1
    ) near
    WHERE near.metres <= :metres
"""
