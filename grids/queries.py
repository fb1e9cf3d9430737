"""grids' hand-written SQL (matching.py, maps.py, assignments.py, cli.py, addresses.py, codes.py, retire.py, and the
layers' import and generation: importer.py, generate.py), one named statement each.

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


# The codes of the live cells in a box (maps.cell_codes_in_box), by code.
CELL_CODES_IN_BOX_SQL = """
    SELECT code FROM grid_cells
    WHERE retired_at IS NULL AND geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
    ORDER BY code
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


# Every area's live cells' area (maps.refresh_area_maps): the communities' sums of their cells, the streets' and
# districts' of their communities; written only where it changed.
MEASURE_AREAS_SQL = """
    WITH c AS (SELECT community_code, sum(area_m2) AS m2 FROM grid_cells WHERE retired_at IS NULL
               GROUP BY community_code),
    m AS (SELECT community_code AS code, m2 FROM c
          UNION ALL SELECT left(community_code, 9), sum(m2) FROM c GROUP BY 1
          UNION ALL SELECT left(community_code, 6), sum(m2) FROM c GROUP BY 1)
    UPDATE areas a SET cells_area_m2 = coalesce(m.m2, 0)
    FROM areas b LEFT JOIN m ON m.code = b.code
    WHERE a.code = b.code AND a.cells_area_m2 IS DISTINCT FROM coalesce(m.m2, 0)
"""

# Every live area's outline simplified for each zoom of :zooms, to half a pixel there (maps.refresh_area_maps),
# written only where it changed.
AREA_OUTLINES_SQL = """
    INSERT INTO area_outlines AS o (code, zoom, geom)
    SELECT a.code, z.zoom, ST_Multi(ST_SimplifyPreserveTopology(a.geom, 360.0 / (256 * 2 ^ z.zoom) / 2))
    FROM areas a CROSS JOIN unnest(CAST(:zooms AS int[])) AS z (zoom)
    WHERE a.geom IS NOT NULL AND a.retired_at IS NULL
    ON CONFLICT (code, zoom) DO UPDATE SET geom = EXCLUDED.geom WHERE o.geom IS DISTINCT FROM EXCLUDED.geom
"""


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

# -- the demo (demo.py) ----------------------------------------------------------------------------------------------

# A point inside each of :cells, drawn by ST_GeneratePoints with the matching one of :seeds (the same seed, the same
# point), in the order given.
SEEDED_POINTS_SQL = """
    SELECT ST_X(g) AS lon, ST_Y(g) AS lat FROM (
        SELECT p.n, (ST_Dump(ST_GeneratePoints(c.geom, 1, p.seed))).geom AS g
        FROM unnest(CAST(:cells AS text[]), CAST(:seeds AS int[])) WITH ORDINALITY AS p(code, seed, n)
        JOIN grid_cells c ON c.code = p.code
    ) t ORDER BY n
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

# -- importing a layer of areas, cells or zones (importer.py) -------------------------------------------------------

# The checked features, staged for the checks that need PostGIS and for the upsert: a temporary table filled by COPY
# (STAGE_LAYER_COPY_SQL, in STAGED_LAYER_COLUMNS' order), its geometries then given their SRID or transformed.
STAGED_LAYER_COLUMNS = ("idx", "code", "name", "parent", "department", "kind", "source", "geom")
STAGE_LAYER_DROP_SQL = "DROP TABLE IF EXISTS import_rows"
STAGE_LAYER_SQL = (
    "CREATE TEMP TABLE import_rows (idx int, code text PRIMARY KEY, name text, parent text, department text,"
    " kind text, source text, geom geometry) ON COMMIT DROP"
)
STAGE_LAYER_COPY_SQL = f"COPY import_rows ({', '.join(STAGED_LAYER_COLUMNS)}) FROM STDIN"
STAGE_LAYER_TRANSFORM_SQL = "UPDATE import_rows SET geom = ST_Transform(ST_SetSRID(geom, :srid), 4326)"
STAGE_LAYER_WGS84_SQL = "UPDATE import_rows SET geom = ST_SetSRID(geom, 4326)"
STAGE_LAYER_INDEX_SQL = "CREATE INDEX ON import_rows USING gist (geom)"
STAGE_LAYER_ANALYZE_SQL = "ANALYZE import_rows"

# The live areas of a level among these codes (the parents a file's codes imply).
LIVE_AREAS_OF_LEVEL_SQL = "SELECT code FROM areas WHERE code = ANY(:codes) AND level = :level AND retired_at IS NULL"

# Staged cells that overlap one another (or lie within one another), with the area they share in m².
STAGED_OVERLAPS_SQL = """
    SELECT a.idx, a.code, b.code AS other, ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS m2
    FROM import_rows a JOIN import_rows b ON a.geom && b.geom AND a.code < b.code
    WHERE ST_Overlaps(a.geom, b.geom) OR ST_Within(a.geom, b.geom) OR ST_Within(b.geom, a.geom)
    ORDER BY a.idx
"""

# The part of each staged cells' community (m²) that none of them covers.
STAGED_GAPS_SQL = """
    SELECT a.code AS community, ST_Area(ST_Difference(a.geom, ST_Union(r.geom))::geography) AS m2
    FROM import_rows r JOIN areas a ON a.code = r.parent
    WHERE a.geom IS NOT NULL
    GROUP BY a.code, a.geom
    ORDER BY a.code
"""

# The staged rows upserted by code into their level's table (UPSERT_STAGED_SQL, by level): a changed or retired row
# is updated (and made live), an unchanged one left alone. Each returns, for every row written, whether it was new.
UPSERT_STAGED_CELLS_SQL = """
    INSERT INTO grid_cells AS t (code, community_code, geom, area_m2, updated_at)
    SELECT code, parent, geom, ST_Area(geom::geography), :now FROM import_rows
    ON CONFLICT (code) DO UPDATE SET community_code = EXCLUDED.community_code, geom = EXCLUDED.geom,
        area_m2 = EXCLUDED.area_m2, retired_at = NULL, updated_at = :now
    WHERE NOT (t.geom = EXCLUDED.geom AND t.community_code = EXCLUDED.community_code)
       OR t.retired_at IS NOT NULL
    RETURNING (xmax = 0)
"""
UPSERT_STAGED_ZONES_SQL = """
    INSERT INTO responsibility_zones AS t (code, department_code, name, kind, geom, updated_at)
    SELECT code, department, name, coalesce(kind, 'other'), geom, :now FROM import_rows
    ON CONFLICT (code) DO UPDATE SET department_code = EXCLUDED.department_code, name = EXCLUDED.name,
        kind = EXCLUDED.kind, geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now
    WHERE NOT (t.geom = EXCLUDED.geom AND t.name = EXCLUDED.name
               AND t.department_code = EXCLUDED.department_code AND t.kind = EXCLUDED.kind)
       OR t.retired_at IS NOT NULL
    RETURNING (xmax = 0)
"""
UPSERT_STAGED_AREAS_SQL = """
    INSERT INTO areas AS t (code, name, level, parent_code, generated, source_code, geom, updated_at)
    SELECT code, name, CAST(:level AS area_level), parent, false, source, geom, :now FROM import_rows
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, parent_code = EXCLUDED.parent_code,
        geom = EXCLUDED.geom, generated = false, retired_at = NULL, updated_at = :now,
        source_code = coalesce(EXCLUDED.source_code, t.source_code)
    WHERE NOT (t.geom IS NOT DISTINCT FROM EXCLUDED.geom AND t.name = EXCLUDED.name)
       OR t.retired_at IS NOT NULL OR t.generated
    RETURNING (xmax = 0)
"""
UPSERT_STAGED_SQL = {"cell": UPSERT_STAGED_CELLS_SQL, "zone": UPSERT_STAGED_ZONES_SQL}  # areas: the rest

# -- generating a district's cells (generate.py) ----------------------------------------------------------------------

# The working tables of a generation; they live in its transaction only.
DROP_GENERATION_TABLES_SQL = (
    "DROP TABLE IF EXISTS gen_boundary, gen_pieces, gen_edges, gen_squares, gen_cells, gen_communities"
)

# The transaction's JIT setting, read before JIT_OFF_SQL and put back after (:jit).
JIT_SETTING_SQL = "SELECT current_setting('jit') AS jit"
JIT_RESTORE_SQL = "SELECT set_config('jit', :jit, true)"

# A boundary's (:wkb, WGS-84) centroid, which chooses its UTM zone.
CENTROID_SQL = "SELECT ST_X(c) AS lon, ST_Y(c) AS lat FROM ST_Centroid(ST_GeomFromWKB(:wkb, 4326)) c"

# The district's boundary (:wkb, WGS-84) projected to its UTM zone (:srid), small holes (under :min_hole m²) filled,
# cut into small pieces and edges, and covered with squares of :size metres. Scripts are run statement by statement
# (generate.py's `step`), their parameters bound server-side.
GENERATE_BOUNDARY_SQL = """
    CREATE TEMP TABLE gen_boundary ON COMMIT DROP AS
    SELECT ST_CollectionExtract(ST_MakeValid(ST_Transform(ST_GeomFromWKB(:wkb, 4326), :srid)), 3) AS geom;
    -- Holes smaller than a sliver are hairline gaps between the polygons a boundary was made of, not places
    -- (a real enclave is far larger): fill them, or they leave cells with needle-thin holes.
    UPDATE gen_boundary b SET geom = (
        SELECT ST_Multi(ST_Collect(ST_MakePolygon(
            ST_ExteriorRing(d.geom),
            ARRAY(
                SELECT ST_ExteriorRing(r.geom) FROM ST_DumpRings(d.geom) r
                WHERE r.path[1] > 0 AND ST_Area(r.geom) >= :min_hole
            )
        )))
        FROM ST_Dump(b.geom) d
    );
    CREATE TEMP TABLE gen_pieces ON COMMIT DROP AS SELECT ST_Subdivide(geom, 64) AS geom FROM gen_boundary;
    CREATE INDEX ON gen_pieces USING gist (geom);
    CREATE TEMP TABLE gen_edges ON COMMIT DROP AS
    SELECT ST_Subdivide(ST_Boundary(geom), 64) AS geom FROM gen_boundary;
    CREATE INDEX ON gen_edges USING gist (geom);
    CREATE TEMP TABLE gen_squares ON COMMIT DROP AS
    SELECT s.i, s.j, s.geom FROM gen_boundary b, ST_SquareGrid(:size, b.geom) s;
    CREATE INDEX ON gen_squares USING gist (geom);
    ANALYZE gen_pieces;
    ANALYZE gen_edges;
    ANALYZE gen_squares;
"""

# The squares kept as cells: those wholly inside as they are, those on the boundary clipped.
GENERATE_CLIP_SQL = """
    CREATE TEMP TABLE gen_cells (id serial PRIMARY KEY, i int, j int, geom geometry) ON COMMIT DROP;
    -- Squares no boundary edge touches are wholly inside or wholly outside: the centre tells which.
    INSERT INTO gen_cells (i, j, geom)
    SELECT s.i, s.j, s.geom FROM gen_squares s
    WHERE NOT EXISTS (SELECT 1 FROM gen_edges e WHERE ST_Intersects(e.geom, s.geom))
      AND EXISTS (SELECT 1 FROM gen_pieces p WHERE ST_Intersects(p.geom, ST_Centroid(s.geom)));
    -- Squares on the boundary are clipped; a square cut in two makes two cells.
    INSERT INTO gen_cells (i, j, geom)
    SELECT i, j, part.geom FROM (
        SELECT s.i, s.j, ST_UnaryUnion(ST_Collect(ST_Intersection(s.geom, p.geom))) AS clipped
        FROM gen_squares s JOIN gen_pieces p ON ST_Intersects(p.geom, s.geom)
        WHERE EXISTS (SELECT 1 FROM gen_edges e WHERE ST_Intersects(e.geom, s.geom))
        GROUP BY s.i, s.j
    ) c, ST_Dump(ST_CollectionExtract(c.clipped, 3)) part
    WHERE ST_Area(part.geom) >= 1;
    CREATE INDEX ON gen_cells USING gist (geom);
    ANALYZE gen_cells;
"""

# Slivers (clipped cells under :min_area m²) merged into the neighbour with which each shares the longest edge, where
# the union stays one polygon; returns the slivers merged.
MERGE_SLIVERS_SQL = """
    WITH slivers AS (SELECT id, geom FROM gen_cells WHERE ST_Area(geom) < :min_area),
    best AS (
        SELECT DISTINCT ON (s.id) s.id AS sliver, n.id AS target
        FROM slivers s
        JOIN gen_cells n ON n.geom && s.geom AND n.id <> s.id AND ST_Area(n.geom) >= :min_area
        WHERE ST_Length(ST_CollectionExtract(ST_Intersection(n.geom, s.geom), 2)) > 0
        ORDER BY s.id, ST_Length(ST_CollectionExtract(ST_Intersection(n.geom, s.geom), 2)) DESC, n.id
    ),
    unions AS (
        SELECT b.target, ST_UnaryUnion(ST_Collect(t.geom, ST_Collect(s.geom))) AS geom,
               array_agg(b.sliver) AS ids
        FROM best b JOIN gen_cells s ON s.id = b.sliver JOIN gen_cells t ON t.id = b.target
        GROUP BY b.target, t.geom
    ),
    ok AS (SELECT * FROM unions WHERE GeometryType(geom) = 'POLYGON'),
    grown AS (UPDATE gen_cells c SET geom = ok.geom FROM ok WHERE c.id = ok.target RETURNING c.id)
    DELETE FROM gen_cells WHERE id IN (SELECT unnest(ids) FROM ok) RETURNING id
"""

# Each cell's community block (:cb cells a side) and street block (:sb communities a side).
GENERATE_BLOCKS_SQL = """
    ALTER TABLE gen_cells ADD COLUMN ci int, ADD COLUMN cj int, ADD COLUMN si int, ADD COLUMN sj int,
        ADD COLUMN street text, ADD COLUMN community text, ADD COLUMN code text;
    UPDATE gen_cells SET ci = floor(i::numeric / :cb), cj = floor(j::numeric / :cb);
    UPDATE gen_cells SET si = floor(ci::numeric / :sb), sj = floor(cj::numeric / :sb);
"""

# DB11 codes under :district for streets, communities and cells, numbered north to south and west to east.
GENERATE_CODES_SQL = """
    -- North to south (j falls), west to east (i rises), at every level.
    WITH s AS (SELECT si, sj, row_number() OVER (ORDER BY sj DESC, si) AS n FROM gen_cells GROUP BY si, sj)
    UPDATE gen_cells g SET street = :district || lpad(s.n::text, 3, '0') FROM s WHERE g.si = s.si AND g.sj = s.sj;
    WITH c AS (
        SELECT street, ci, cj, row_number() OVER (PARTITION BY street ORDER BY cj DESC, ci) AS n
        FROM gen_cells GROUP BY street, ci, cj
    )
    UPDATE gen_cells g SET community = g.street || lpad(c.n::text, 3, '0')
    FROM c WHERE g.street = c.street AND g.ci = c.ci AND g.cj = c.cj;
    WITH k AS (
        SELECT id, row_number() OVER (
            PARTITION BY community ORDER BY j DESC, i, ST_YMax(geom) DESC, ST_XMin(geom)
        ) AS n FROM gen_cells
    )
    UPDATE gen_cells g SET code = g.community || lpad(k.n::text, 3, '0') FROM k WHERE g.id = k.id;
"""

# The district, its generated streets and communities (named by :street_name and :community_name, `{serial}` their
# serial) and its cells upserted by code, made live again; areas a city named itself keep their names.
GENERATE_STORE_SQL = """
    INSERT INTO areas (code, name, level, parent_code, generated, source_code, geom, updated_at)
    SELECT :district, :district_name, 'district', NULL, false, :source_code,
           ST_Multi(ST_CollectionExtract(ST_Transform(geom, 4326), 3)), :now
    FROM gen_boundary
    ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now,
        source_code = coalesce(EXCLUDED.source_code, areas.source_code);

    -- Communities from their cells, streets from their communities: unions of tens of polygons, not thousands.
    CREATE TEMP TABLE gen_communities ON COMMIT DROP AS
    SELECT street, community, ST_Union(geom) AS geom FROM gen_cells GROUP BY street, community;

    INSERT INTO areas (code, name, level, parent_code, generated, geom, updated_at)
    SELECT street, replace(:street_name, '{serial}', right(street, 3)), 'street', :district, true,
           ST_Multi(ST_CollectionExtract(ST_Transform(ST_Union(geom), 4326), 3)), :now
    FROM gen_communities GROUP BY street
    ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now,
        name = CASE WHEN areas.generated THEN EXCLUDED.name ELSE areas.name END;

    INSERT INTO areas (code, name, level, parent_code, generated, geom, updated_at)
    SELECT community, replace(:community_name, '{serial}', right(community, 3)), 'community', street, true,
           ST_Multi(ST_CollectionExtract(ST_Transform(geom, 4326), 3)), :now
    FROM gen_communities
    ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now,
        name = CASE WHEN areas.generated THEN EXCLUDED.name ELSE areas.name END;

    INSERT INTO grid_cells (code, community_code, geom, area_m2, updated_at)
    SELECT code, community, ST_Transform(geom, 4326), ST_Area(geom), :now FROM gen_cells
    ON CONFLICT (code) DO UPDATE
    SET community_code = EXCLUDED.community_code, geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2,
        retired_at = NULL, updated_at = :now;
"""

# Cells and generated areas of the district (:district) that this run did not produce, retired at :now (never
# deleted); returns how many cells. The codes are found by range on the primary keys and compared as sets (EXCEPT):
# a city generated district by district in one transaction has no statistics on its new rows, and the planner,
# expecting one row, joined them to every cell of the run one by one (35 s for a district of 5,000 cells).
RETIRE_UNGENERATED_SQL = """
    WITH r AS (
        UPDATE grid_cells SET retired_at = :now, updated_at = :now
        WHERE code IN (
            SELECT code FROM grid_cells
            WHERE code BETWEEN :district || '000000000' AND :district || '999999999' AND retired_at IS NULL
            EXCEPT SELECT code FROM gen_cells
        )
        RETURNING 1
    ),
    a AS (
        UPDATE areas SET retired_at = :now, updated_at = :now
        WHERE code IN (
            SELECT code FROM areas
            WHERE code BETWEEN :district || '000' AND :district || '999999' AND level <> 'district'
              AND generated AND retired_at IS NULL
            EXCEPT SELECT street FROM gen_cells
            EXCEPT SELECT community FROM gen_cells
        )
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM r)
"""

# The cells left after clipping (none: the boundary was empty or smaller than a sliver).
CLIPPED_CELLS_SQL = "SELECT count(*) FROM gen_cells"

# What a generation made: its cells, communities and streets.
GENERATED_COUNTS_SQL = (
    "SELECT count(*) AS cells, count(DISTINCT community) AS communities, count(DISTINCT street) AS streets"
    " FROM gen_cells"
)

# The largest serial each level would need (streets; communities in a street; cells in a community).
SERIALS_SQL = """
    SELECT (SELECT count(*) FROM (SELECT DISTINCT si, sj FROM gen_cells) s) AS streets,
           (SELECT max(n) FROM (SELECT count(DISTINCT (ci, cj)) AS n FROM gen_cells GROUP BY si, sj) c) AS communities,
           (SELECT max(n) FROM (SELECT count(*) AS n FROM gen_cells GROUP BY ci, cj) k) AS cells
"""
