"""The analysis feature's hand-written SQL: the cases of a scope counted by place, window, cluster and hour.

Placeholders: every statement here runs through SQLAlchemy's `text()` and uses `:name`.

Hand-written rather than the ORM's: sliding windows (`RANGE ... FOLLOWING`), PostGIS's `ST_ClusterDBSCAN` in a
metric projection, all set-based. Every
statement reads the same scope (`SCOPE`): the cases reported in the period, not cancelled (作废: not a real problem)
and not merged into another (the same problem), in the area (any level's code, or a cell's), of the category family
and category code prefix when given.
"""

from __future__ import annotations

# The places a case is counted under: the column of cases that names it.
PLACE_COLUMNS = {
    "cell": "c.cell_code",
    "community": "c.community_code",
    "street": "c.street_code",
    "district": "c.district_code",
    "component": "c.component_id",
}

_FILTERS = """c.status <> 'cancelled' AND c.duplicate_of IS NULL
  AND (CAST(:area AS varchar) IS NULL OR :area IN (c.district_code, c.street_code, c.community_code, c.cell_code))
  AND (CAST(:family AS varchar) IS NULL OR k.family = :family)
  AND (CAST(:category AS varchar) IS NULL OR c.category_code LIKE :category || '%')"""
SCOPE = f"c.reported_at >= :start AND c.reported_at < :end AND {_FILTERS}"


def recurring_sql(place: str) -> str:
    """Places where one category had at least :min_cases cases within :days days (a sliding window from each case),
    ranked by the most cases in one window, each with its cases."""
    column = PLACE_COLUMNS[place]
    return f"""
WITH scoped AS (
  SELECT c.id, c.code, c.category_code, c.reported_at, c.closed_at, c.status, {column} AS place
  FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE {SCOPE} AND {column} IS NOT NULL
), windows AS (
  SELECT place, category_code,
         count(*) OVER (PARTITION BY place, category_code ORDER BY reported_at
                        RANGE BETWEEN CURRENT ROW AND :window FOLLOWING) AS in_window
  FROM scoped
), places AS (
  SELECT place, category_code, max(in_window) AS most FROM windows
  GROUP BY place, category_code HAVING max(in_window) >= :min_cases
)
SELECT p.place, p.category_code, p.most, count(*) AS cases,
       json_agg(json_build_object('id', s.id, 'code', s.code, 'reported_at', s.reported_at,
                                  'closed_at', s.closed_at, 'status', s.status)
                ORDER BY s.reported_at, s.id) AS case_list
FROM places p JOIN scoped s ON s.place = p.place AND s.category_code = p.category_code
GROUP BY p.place, p.category_code, p.most
ORDER BY p.most DESC, count(*) DESC, p.place, p.category_code
LIMIT :limit
"""  # noqa: S608 (constants only)


def repeats_sql(place: str) -> str:
    """Cases closed in the period (of the scope's area and category) followed by a new case of the same category at
    the same place within :window of the closure: a fix that did not hold. The first such case for each closure."""
    column = PLACE_COLUMNS[place]
    return f"""
SELECT {column} AS place, c.category_code, c.id, c.code, c.closed_at,
       n.id AS next_id, n.code AS next_code, n.reported_at AS next_reported_at, n.status AS next_status
FROM cases c JOIN categories k ON k.id = c.category_id
JOIN LATERAL (
  SELECT n.id, n.code, n.reported_at, n.status FROM cases n
  WHERE {column.replace("c.", "n.")} = {column} AND n.category_code = c.category_code
    AND n.reported_at > c.closed_at AND n.reported_at <= c.closed_at + :window
    AND n.status <> 'cancelled' AND n.duplicate_of IS NULL AND n.id <> c.id
  ORDER BY n.reported_at, n.id LIMIT 1
) n ON true
WHERE c.status = 'closed' AND c.closed_at >= :start AND c.closed_at < :end AND {_FILTERS} AND {column} IS NOT NULL
ORDER BY c.closed_at, c.id
"""  # noqa: S608 (constants only)


# The UTM zone (WGS 84, EPSG:326xx north, 327xx south) of the scope's cases: DBSCAN's distance is in its metres.
UTM_SRID_SQL = f"""
SELECT CASE WHEN avg(ST_Y(c.point)) >= 0 THEN 32600 ELSE 32700 END
       + least(60, greatest(1, floor((avg(ST_X(c.point)) + 180) / 6)::int + 1)) AS srid
FROM cases c JOIN categories k ON k.id = c.category_id
WHERE {SCOPE}
"""  # noqa: S608 (constants only)


def clusters_sql(srid: int) -> str:
    """DBSCAN clusters of the scope's cases (ST_ClusterDBSCAN, :eps metres in the given metric projection, at least
    :min_points cases within reach of a core case), largest first, with their hull and centre in WGS-84."""
    return f"""
WITH points AS (
  SELECT c.id, c.code, c.category_code, ST_Transform(c.point, {int(srid)}) AS p
  FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE {SCOPE}
), clustered AS (
  SELECT *, ST_ClusterDBSCAN(p, eps := :eps, minpoints := :min_points) OVER () AS cluster FROM points
)
SELECT cluster, count(*) AS cases,
       mode() WITHIN GROUP (ORDER BY category_code) AS top_category,
       ST_AsGeoJSON(ST_Transform(ST_ConvexHull(ST_Collect(p)), 4326), 6) AS hull,
       ST_X(ST_Transform(ST_Centroid(ST_Collect(p)), 4326)) AS lon,
       ST_Y(ST_Transform(ST_Centroid(ST_Collect(p)), 4326)) AS lat,
       json_agg(code ORDER BY id) AS case_codes
FROM clustered WHERE cluster IS NOT NULL
GROUP BY cluster ORDER BY count(*) DESC, min(id)
LIMIT :limit
"""  # noqa: S608 (constants only)


# The live cells of the area (all when :area is NULL) with the scope's cases in each, their area and their outline
# (WKB), in code order: their neighbourhoods are found in the process (hotspots.py).
CELLS_SQL = f"""
WITH counted AS (
  SELECT c.cell_code, count(*) AS cases FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE {SCOPE} GROUP BY c.cell_code
)
SELECT g.code, g.area_m2, coalesce(n.cases, 0) AS cases, ST_AsBinary(g.geom) AS wkb
FROM grid_cells g
JOIN areas cm ON cm.code = g.community_code LEFT JOIN areas st ON st.code = cm.parent_code
LEFT JOIN counted n ON n.cell_code = g.code
WHERE g.retired_at IS NULL
  AND (CAST(:area AS varchar) IS NULL OR :area IN (g.code, cm.code, st.code, st.parent_code))
ORDER BY g.code
"""  # noqa: S608 (constants only)

# The places' geometries as GeoJSON (WGS-84), by code: cells' and areas' polygons, components' points.
PLACE_GEOMETRY_SQL = {
    "cell": "SELECT code, ST_AsGeoJSON(geom, 6) AS geometry FROM grid_cells"
    " WHERE code = ANY(CAST(:codes AS varchar[]))",
    "area": "SELECT code, ST_AsGeoJSON(geom, 6) AS geometry FROM areas WHERE code = ANY(CAST(:codes AS varchar[]))",
    "component": "SELECT id AS code, ST_AsGeoJSON(point, 7) AS geometry FROM components"
    " WHERE id = ANY(CAST(:codes AS varchar[]))",
}


def anomaly_counts_sql(place: str) -> str:
    """Per place and category: the cases in window 0 (the period) and in windows 1..weeks (its baseline), each
    window given by its bounds (:starts, :ends, :weeks arrays)."""
    column = PLACE_COLUMNS[place]
    return f"""
SELECT {column} AS place, c.category_code,
       count(*) FILTER (WHERE win.w = 0) AS count, count(*) FILTER (WHERE win.w > 0) AS baseline
FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]), CAST(:weeks AS int[])) AS win(s, e, w)
JOIN cases c ON c.reported_at >= win.s AND c.reported_at < win.e
JOIN categories k ON k.id = c.category_id
WHERE {_FILTERS} AND {column} IS NOT NULL
GROUP BY 1, 2
"""  # noqa: S608 (constants only)


# Cases of the scope by category, ISO weekday (1 = Monday) and hour, in the city's zone.
HOUR_OF_WEEK_SQL = f"""
SELECT c.category_code, extract(isodow FROM c.reported_at AT TIME ZONE :tz)::int AS weekday,
       extract(hour FROM c.reported_at AT TIME ZONE :tz)::int AS hour, count(*) AS cases
FROM cases c JOIN categories k ON k.id = c.category_id
WHERE {SCOPE}
GROUP BY 1, 2, 3
"""  # noqa: S608 (constants only)

# The names of categories (of any taxonomy version, the current one first) and of areas, by code.
CATEGORY_NAMES_SQL = """
SELECT DISTINCT ON (k.code) k.code, k.name, k.name_en FROM categories k
JOIN taxonomy_versions v ON v.code = k.version_code
WHERE k.code = ANY(CAST(:codes AS varchar[])) ORDER BY k.code, v.current DESC, v.loaded_at DESC
"""
AREA_NAMES_SQL = "SELECT code, name FROM areas WHERE code = ANY(CAST(:codes AS varchar[]))"
