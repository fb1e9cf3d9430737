"""The analysis feature's hand-written SQL: the cases of a scope counted by place, window, cluster and hour, directly
from cases or from the roll-up `analysis_days`.

Placeholders: every statement here runs through SQLAlchemy's `text()` and uses `:name`.

Hand-written rather than the ORM's: sliding windows (`RANGE ... FOLLOWING`), PostGIS's `ST_ClusterDBSCAN` in a
metric projection, all set-based. Every statement reads the same scope: the cases reported in the period, not
cancelled (作废: not a real problem) and not merged into another (the same problem), in the area, of the category
family and category code prefix when given. The area is matched on the column of its level (`AREA_COLUMNS`, by the
length of its code), so that a district's or a street's cases are read through their own index.

The roll-up (`analysis_days`, rebuilt for the days that changed by the hourly job) counts those cases per local day,
hour, cell, category and component: reported (on the day and hour of the report) and closed (on those of the
closing), with the longest a case closed that day had been open, in days. The analyses read their counts from it and
go back to the cases only for what must name cases (recurrence's lists, DBSCAN's points), and then only for the
places the counts allow.
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

# The column naming an area of each level, by the length of its code (DB11: district 6, street 9, community 12,
# cell 15 digits); cases and the roll-up both carry all four.
AREA_COLUMNS = {6: "district_code", 9: "street_code", 12: "community_code", 15: "cell_code"}


def _area(alias: str, area_column: str | None) -> str:
    return "true" if area_column is None else f"{alias}.{area_column} = :area"


def _filters(area_column: str | None) -> str:
    """Cases of the scope's area, family and category, neither cancelled nor merged."""
    return f"""c.status <> 'cancelled' AND c.duplicate_of IS NULL AND {_area("c", area_column)}
  AND (CAST(:family AS varchar) IS NULL OR k.family = :family)
  AND (CAST(:category AS varchar) IS NULL OR c.category_code LIKE :category || '%')"""


def _scope(area_column: str | None) -> str:
    return f"c.reported_at >= :start AND c.reported_at < :end AND {_filters(area_column)}"


def _rolled_area(area_column: str | None) -> str:
    """Roll-up rows of the area, read through the district's index (the one the roll-up has beside its key)."""
    if area_column in (None, "district_code"):
        return _area("r", area_column)
    return f"r.district_code = left(:area, 6) AND {_area('r', area_column)}"


def _rolled(area_column: str | None) -> str:
    """Roll-up rows of the scope's area, family and category (the period is each statement's own)."""
    return f"""{_rolled_area(area_column)}
  AND (CAST(:family AS varchar) IS NULL OR r.family = :family)
  AND (CAST(:category AS varchar) IS NULL OR r.category_code LIKE :category || '%')"""


# The places of the roll-up's rows: the column that names them ('' is no component).
ROLLED_PLACES = {
    "cell": "r.cell_code",
    "community": "r.community_code",
    "street": "r.street_code",
    "district": "r.district_code",
    "component": "NULLIF(r.component_id, '')",
}


def recurring_sql(place: str, area_column: str | None, rolled: bool) -> str:
    """Places where one category had at least :min_cases cases within :days days (a sliding window from each case),
    ranked by the most cases in one window, each with its cases. Rolled: only the places and categories with at
    least :min_cases cases in the period by the roll-up are read from cases."""
    column = PLACE_COLUMNS[place]
    candidates = (
        f"""candidates AS (
  SELECT {ROLLED_PLACES[place]} AS place, r.category_code FROM analysis_days r
  WHERE r.day BETWEEN :first AND :last AND r.reported > 0 AND {_rolled(area_column)}
    AND {ROLLED_PLACES[place]} IS NOT NULL
  GROUP BY 1, 2 HAVING sum(r.reported) >= :min_cases
), """  # noqa: S608 (constants only)
        if rolled
        else ""
    )
    among = f"AND ({column}, c.category_code) IN (SELECT place, category_code FROM candidates)" if rolled else ""  # noqa: S608
    return f"""
WITH {candidates}scoped AS (
  SELECT c.id, c.code, c.category_code, c.reported_at, c.closed_at, c.status, {column} AS place
  FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE {_scope(area_column)} AND {column} IS NOT NULL {among}
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


def repeats_sql(place: str, area_column: str | None, rolled: bool) -> str:
    """Cases closed in the period (of the scope's area and category) followed by a new case of the same category at
    the same place within :window of the closure: a fix that did not hold. The first such case for each closure.

    Rolled: only the places and categories that could have one by the roll-up are read from cases: a closure in the
    period and, from the first day to :reports_last (the period's last day + the window + a day of slack for a
    shorter day), two reports, or one when a case closed there had been reported before the period (open longer
    than since the first day). A cell's or community's next case is in the same area; a component's may not be."""
    column = PLACE_COLUMNS[place]
    rolled_place = ROLLED_PLACES[place]
    same_area = _rolled_area(area_column) if place != "component" else "r.component_id <> ''"  # (its index)
    joined = rolled_place if place != "component" else "r.component_id"
    candidates = (
        f"""WITH closures AS (
  SELECT {rolled_place} AS place, r.category_code, bool_or(r.longest_open_days > r.day - :first) AS early
  FROM analysis_days r
  WHERE r.day BETWEEN :first AND :last AND r.closed > 0 AND {_rolled(area_column)} AND {rolled_place} IS NOT NULL
  GROUP BY 1, 2
), candidates AS (
  SELECT x.place, x.category_code FROM closures x
  JOIN analysis_days r ON {joined} = x.place AND r.category_code = x.category_code
  WHERE r.day BETWEEN :first AND :reports_last AND r.reported > 0 AND {same_area}
  GROUP BY x.place, x.category_code, x.early HAVING sum(r.reported) >= CASE WHEN x.early THEN 1 ELSE 2 END
)
"""  # noqa: S608 (constants only)
        if rolled
        else ""
    )
    among = f"AND ({column}, c.category_code) IN (SELECT place, category_code FROM candidates)" if rolled else ""  # noqa: S608
    return f"""{candidates}
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
WHERE c.status = 'closed' AND c.closed_at >= :start AND c.closed_at < :end AND {_filters(area_column)}
  AND {column} IS NOT NULL {among}
ORDER BY c.closed_at, c.id
"""  # noqa: S608 (constants only)


def utm_srid_sql(area_column: str | None) -> str:
    """The UTM zone (WGS 84, EPSG:326xx north, 327xx south) of the scope's cases: DBSCAN's distance is in its
    metres."""
    return f"""
SELECT CASE WHEN avg(ST_Y(c.point)) >= 0 THEN 32600 ELSE 32700 END
       + least(60, greatest(1, floor((avg(ST_X(c.point)) + 180) / 6)::int + 1)) AS srid
FROM cases c JOIN categories k ON k.id = c.category_id
WHERE {_scope(area_column)}
"""  # noqa: S608 (constants only)


def clusters_sql(srid: int, area_column: str | None) -> str:
    """DBSCAN clusters of the scope's cases (ST_ClusterDBSCAN, :eps metres in the given metric projection, at least
    :min_points cases within reach of a core case), largest first, with their hull and centre in WGS-84."""
    return f"""
WITH points AS (
  SELECT c.id, c.code, c.category_code, ST_Transform(c.point, {int(srid)}) AS p
  FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE {_scope(area_column)}
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


# The cells of the area: codes nest (a cell's 15 digits begin with its community's 12, its street's 9, its
# district's 6), so the area's cells are a range of codes, read through the primary key.
# Written only when there is an area (no `:area IS NULL OR`): psycopg prepares a statement run often, and the
# server's generic plan for an optional area, used from the sixth run on, then took a district's 62,500 kept cells
# in 0.36 s where the plan for the area itself takes 0.17 s (medians, 1,000,000 cells).
def _cells_of_area(code: str, area_column: str | None) -> str:
    return "true" if area_column is None else f"{code} BETWEEN rpad(:area, 15, '0') AND rpad(:area, 15, '9')"


def cells_sql(area_column: str | None) -> str:
    """The live cells of the area (all when :area is NULL) with the scope's cases in each (counted from cases),
    their area and their outline (WKB), in code order: their neighbourhoods are found in the process
    (hotspots.py)."""
    return f"""
WITH counted AS (
  SELECT c.cell_code, count(*) AS cases FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE {_scope(area_column)} GROUP BY c.cell_code
)
SELECT g.code, g.area_m2, coalesce(n.cases, 0) AS cases, ST_AsBinary(g.geom) AS wkb
FROM grid_cells g LEFT JOIN counted n ON n.cell_code = g.code
WHERE g.retired_at IS NULL AND {_cells_of_area("g.code", area_column)}
ORDER BY g.code
"""  # noqa: S608 (constants only)


# The level whose neighbourhood sizes and areas (analysis_cells) an area's cells read: their neighbours in the same
# district, street or community, or anywhere (a single cell's are its community's: it is tested alone anyway).
KEPT_LEVELS = {None: "city", 6: "district", 9: "street", 12: "community", 15: "community"}


def kept_cells_sql(area_column: str | None, level: str, local: bool = True) -> str:
    """The same cells from what the job keeps: each cell's count summed from the roll-up, its neighbourhood's size
    and area (analysis_cells, at the area's level) and its neighbourhood's count (the counts of the cells with
    cases added to their neighbours in the area, analysis_neighbours; 0 without `local`, when the caller adds them up
    from the district's kept adjacency), in code order."""
    # Each counted cell's cases added to its neighbours' (those outside the area are not joined below).
    added = """, local AS (
  SELECT p.cell_code, sum(n.cases)::bigint AS cases
  FROM counted n JOIN analysis_neighbours p ON p.neighbour_code = n.cell_code
  GROUP BY p.cell_code
)"""
    return f"""
WITH counted AS (
  SELECT r.cell_code, sum(r.reported)::bigint AS cases FROM analysis_days r
  WHERE r.day BETWEEN :first AND :last AND r.reported > 0 AND {_rolled(area_column)} GROUP BY r.cell_code
){added if local else ""}
SELECT a.code, a.area_m2, coalesce(n.cases, 0) AS cases, a.k_{level} AS k, a.area_{level} AS neighbourhood_area,
       {"coalesce(l.cases, 0)" if local else "0"} AS local
FROM analysis_cells a LEFT JOIN counted n ON n.cell_code = a.code
{"LEFT JOIN local l ON l.cell_code = a.code" if local else ""}
WHERE {_cells_of_area("a.code", area_column)}
ORDER BY a.code
"""  # noqa: S608 (constants only)


# The places' geometries as GeoJSON (WGS-84), by code: cells' and areas' polygons, components' points.
PLACE_GEOMETRY_SQL = {
    "cell": "SELECT code, ST_AsGeoJSON(geom, 6) AS geometry FROM grid_cells"
    " WHERE code = ANY(CAST(:codes AS varchar[]))",
    "area": "SELECT code, ST_AsGeoJSON(geom, 6) AS geometry FROM areas WHERE code = ANY(CAST(:codes AS varchar[]))",
    "component": "SELECT id AS code, ST_AsGeoJSON(point, 7) AS geometry FROM components"
    " WHERE id = ANY(CAST(:codes AS varchar[]))",
}


def anomaly_counts_sql(place: str, area_column: str | None) -> str:
    """Per place and category: the cases in window 0 (the period) and in windows 1..weeks (its baseline), each
    window given by its bounds (:starts, :ends, :weeks arrays)."""
    column = PLACE_COLUMNS[place]
    return f"""
SELECT {column} AS place, c.category_code,
       count(*) FILTER (WHERE win.w = 0) AS count, count(*) FILTER (WHERE win.w > 0) AS baseline
FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]), CAST(:weeks AS int[])) AS win(s, e, w)
JOIN cases c ON c.reported_at >= win.s AND c.reported_at < win.e
JOIN categories k ON k.id = c.category_id
WHERE {_filters(area_column)} AND {column} IS NOT NULL
GROUP BY 1, 2
"""  # noqa: S608 (constants only)


def rolled_anomaly_counts_sql(place: str, area_column: str | None) -> str:
    """The same counts from the roll-up, for whole days: the day :day and its baseline days (:days, the day too)."""
    column = ROLLED_PLACES[place]
    return f"""
SELECT {column} AS place, r.category_code,
       coalesce(sum(r.reported) FILTER (WHERE r.day = :day), 0) AS count,
       coalesce(sum(r.reported) FILTER (WHERE r.day <> :day), 0) AS baseline
FROM analysis_days r
WHERE r.day = ANY(CAST(:days AS date[])) AND r.reported > 0 AND {_rolled(area_column)} AND {column} IS NOT NULL
GROUP BY 1, 2
"""  # noqa: S608 (constants only)


def hour_of_week_sql(area_column: str | None, rolled: bool) -> str:
    """Cases of the scope by category, ISO weekday (1 = Monday) and hour, in the city's zone."""
    if rolled:
        return f"""
SELECT r.category_code, extract(isodow FROM r.day)::int AS weekday, r.hour, sum(r.reported) AS cases
FROM analysis_days r
WHERE r.day BETWEEN :first AND :last AND r.reported > 0 AND {_rolled(area_column)}
GROUP BY 1, 2, 3
"""  # noqa: S608 (constants only)
    return f"""
SELECT c.category_code, extract(isodow FROM c.reported_at AT TIME ZONE :tz)::int AS weekday,
       extract(hour FROM c.reported_at AT TIME ZONE :tz)::int AS hour, count(*) AS cases
FROM cases c JOIN categories k ON k.id = c.category_id
WHERE {_scope(area_column)}
GROUP BY 1, 2, 3
"""  # noqa: S608 (constants only)


# -- the roll-up (rollups.py) --------------------------------------------------------------------------------------

# The roll-up's rows of days :first..:last, deleted before they are built again.
DELETE_DAYS_SQL = "DELETE FROM analysis_days WHERE day BETWEEN :first AND :last"

# The roll-up of the days from :start to :end (local midnights): the cases of the scope's rule (neither cancelled nor
# merged) by the day and hour (city's zone) of their report and, closed ones, of their closing.
ROLLUP_SQL = """
INSERT INTO analysis_days (day, hour, cell_code, category_code, component_id, community_code, street_code,
                           district_code, family, reported, closed, longest_open_days)
SELECT day, hour, cell_code, category_code, component_id, min(community_code), min(street_code), min(district_code),
       min(family), sum(reported), sum(closed), max(open_days)
FROM (
  SELECT (c.reported_at AT TIME ZONE :tz)::date AS day, extract(hour FROM c.reported_at AT TIME ZONE :tz)::int AS hour,
         c.cell_code, c.category_code, coalesce(c.component_id, '') AS component_id, c.community_code, c.street_code,
         c.district_code, k.family, 1 AS reported, 0 AS closed, 0 AS open_days
  FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE c.reported_at >= :start AND c.reported_at < :end AND c.status <> 'cancelled' AND c.duplicate_of IS NULL
  UNION ALL
  SELECT (c.closed_at AT TIME ZONE :tz)::date, extract(hour FROM c.closed_at AT TIME ZONE :tz)::int,
         c.cell_code, c.category_code, coalesce(c.component_id, ''), c.community_code, c.street_code,
         c.district_code, k.family, 0, 1,
         (c.closed_at AT TIME ZONE :tz)::date - (c.reported_at AT TIME ZONE :tz)::date
  FROM cases c JOIN categories k ON k.id = c.category_id
  WHERE c.status = 'closed' AND c.closed_at >= :start AND c.closed_at < :end AND c.duplicate_of IS NULL
) t
GROUP BY day, hour, cell_code, category_code, component_id
"""

# The names of categories (of any taxonomy version, the current one first) and of areas, by code.
CATEGORY_NAMES_SQL = """
SELECT DISTINCT ON (k.code) k.code, k.name, k.name_en FROM categories k
JOIN taxonomy_versions v ON v.code = k.version_code
WHERE k.code = ANY(CAST(:codes AS varchar[])) ORDER BY k.code, v.current DESC, v.loaded_at DESC
"""
AREA_NAMES_SQL = "SELECT code, name FROM areas WHERE code = ANY(CAST(:codes AS varchar[]))"

# -- the grid's neighbourhoods, kept (rollups.py) ---------------------------------------------------------------

# What the kept neighbourhoods were built from: the live cells and the last change to any cell (imports and
# retirements set updated_at).
GRID_STATE_SQL = "SELECT count(*) FILTER (WHERE retired_at IS NULL) AS live, max(updated_at) AS changed FROM grid_cells"
DELETE_NEIGHBOURS_SQL = "DELETE FROM analysis_neighbours"
DELETE_CELLS_SQL = "DELETE FROM analysis_cells"
DELETE_ADJACENCY_SQL = "DELETE FROM analysis_adjacency"
# Fresh statistics for the planner after a rebuild (the first questions would otherwise be planned as if the tables
# were empty: a scan of every neighbour pair instead of a probe for each cell with cases).
ANALYZE_KEPT_SQL = ("ANALYZE analysis_neighbours", "ANALYZE analysis_cells")
ANALYZE_DAYS_SQL = "ANALYZE analysis_days"

# Every live cell's neighbours, itself included: the live cells whose outline touches or overlaps its own (queen
# contiguity, the predicate of hotspots.neighbourhoods), through the live cells' GiST index.
NEIGHBOURS_SQL = """
INSERT INTO analysis_neighbours (neighbour_code, cell_code)
SELECT b.code, a.code FROM grid_cells a JOIN grid_cells b ON ST_Intersects(a.geom, b.geom) AND b.retired_at IS NULL
WHERE a.retired_at IS NULL
"""

# Each district's neighbourhoods among its own cells as one row, a sparse matrix in compressed rows: the district's
# kept cells numbered 0.. in code order (the order an area's cells are read in), `indptr` where each cell's
# neighbours begin in `indices` (cells + 1 numbers) and `indices` the neighbours' numbers, each a 4-byte big-endian
# integer (int4send). Hot spots of a district read this one row and add up each neighbourhood's cases in the
# process, instead of joining each counted cell to its neighbours' rows (240,000 rows at a month of a 62,500-cell
# district, most of the read's time).
ADJACENCY_SQL = """
INSERT INTO analysis_adjacency (district_code, cells, indptr, indices)
WITH numbered AS (
  SELECT code, left(code, 6) AS district, (row_number() OVER (PARTITION BY left(code, 6) ORDER BY code) - 1)::int AS i
  FROM analysis_cells
), rows AS (
  SELECT c.district, c.i, count(n.i) AS k,
         string_agg(int4send(n.i), ''::bytea ORDER BY n.i) AS js
  FROM numbered c
  LEFT JOIN analysis_neighbours p ON p.cell_code = c.code
  LEFT JOIN numbered n ON n.code = p.neighbour_code AND n.district = c.district
  GROUP BY c.district, c.i
), running AS (
  SELECT district, i, js, (sum(k) OVER (PARTITION BY district ORDER BY i))::int AS upto FROM rows
)
SELECT district, count(*), int4send(0) || string_agg(int4send(upto), ''::bytea ORDER BY i),
       string_agg(coalesce(js, ''::bytea), ''::bytea ORDER BY i)
FROM running GROUP BY district
"""

# A district's kept neighbourhoods (ADJACENCY_SQL).
ADJACENCY_OF_SQL = "SELECT cells, indptr, indices FROM analysis_adjacency WHERE district_code = :area"

# Each live cell's area and its neighbourhood's size and area among the cells of its district, street, community,
# and everywhere; written in code order, so that an area's cells (a range of codes) lie together on disk and are read
# in order through the key (measured at a district of 62,500 cells: 1,135 pages read instead of 13,642, and no sort).
CELLS_KEPT_SQL = """
INSERT INTO analysis_cells (code, area_m2, k_city, area_city, k_district, area_district, k_street, area_street,
                            k_community, area_community)
SELECT a.code, a.area_m2, count(*), sum(b.area_m2),
       count(*) FILTER (WHERE left(b.code, 6) = left(a.code, 6)),
       sum(b.area_m2) FILTER (WHERE left(b.code, 6) = left(a.code, 6)),
       count(*) FILTER (WHERE left(b.code, 9) = left(a.code, 9)),
       sum(b.area_m2) FILTER (WHERE left(b.code, 9) = left(a.code, 9)),
       count(*) FILTER (WHERE left(b.code, 12) = left(a.code, 12)),
       sum(b.area_m2) FILTER (WHERE left(b.code, 12) = left(a.code, 12))
FROM analysis_neighbours p JOIN grid_cells a ON a.code = p.cell_code JOIN grid_cells b ON b.code = p.neighbour_code
GROUP BY a.code, a.area_m2
ORDER BY a.code
"""
