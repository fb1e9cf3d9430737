"""The history import's hand-written SQL (history.py): a file staged in a temporary table, checked, matched to
cells and written as cases with their events, each step one set-based statement.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver` or the connection's cursor: the COPYs, the time settings around the file's COPY, the
points to match) uses psycopg's `%(name)s`, never positional `%s`.

Hand-written rather than the ORM's: the staging tables are temporary and their columns are the file's (c0, c1, ...
in file order, typed where mapped), so most statements are built from those column names (never from values:
values are always parameters), and the bulk writes are INSERT ... SELECT over millions of rows.
"""

# ruff: noqa: S608 (the statements are built from the staging's column names and checks, never from values)

from __future__ import annotations

STAGING = "case_import_rows"
MATCHED = "case_import_cells"  # each staged line's cell
MAX_PROBLEMS = 50

# -- staging the file ---------------------------------------------------------------------------------------------

DROP_STAGING_SQL = f"DROP TABLE IF EXISTS {STAGING}"
DROP_STAGED_SQL = f"DROP TABLE {STAGING}"
COUNT_STAGED_SQL = f"SELECT count(*) FROM {STAGING}"


def create_staging_sql(columns: list[str]) -> str:
    """The staging table: the file's columns (`name type`, built from positions), and the line."""
    return f"CREATE TEMP TABLE {STAGING} (line bigint GENERATED ALWAYS AS IDENTITY (START 2), {', '.join(columns)})"


def copy_staging_sql(names: str) -> str:
    """The file as it is into the staging table's columns `names` (driver: COPY)."""
    return f"COPY {STAGING} ({names}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')"


# How the session writes times, read before the COPY and restored after it (driver).
TIME_SETTINGS_SQL = "SELECT current_setting('TimeZone'), current_setting('DateStyle')"
# How the file writes its times, for this transaction (driver; also restores the saved ones).
SET_TIME_SETTINGS_SQL = "SELECT set_config('TimeZone', %(zone)s, true), set_config('DateStyle', %(style)s, true)"


def count_unlocated_sql(lat: str, lon: str) -> str:
    """The staged rows with no point (columns `lat`, `lon`)."""
    return f"SELECT count(*) FROM {STAGING} WHERE {lat} IS NULL OR {lon} IS NULL"


# -- checking the staged rows -------------------------------------------------------------------------------------


def bad_rows_sql(ident: str, cases: str) -> str:
    """The first failing check (`cases`: WHEN condition THEN its index) of each bad row, in line order."""
    return (
        f"SELECT line, {ident}, k FROM (SELECT line, {ident}, CASE {cases} END AS k FROM {STAGING}) s"
        f" WHERE k IS NOT NULL ORDER BY line LIMIT {MAX_PROBLEMS}"
    )


def repeated_ids_sql(ident: str) -> str:
    """The ids given on more than one line, with their first and last lines."""
    return (
        f"SELECT {ident}, min(line), max(line) FROM {STAGING} WHERE {ident} IS NOT NULL GROUP BY {ident}"
        f" HAVING count(*) > 1 ORDER BY 2 LIMIT {MAX_PROBLEMS}"
    )


def unmapped_sql(column: str, table: str) -> str:
    """The values of `column` that `table` (lookup_table_sql) maps to nothing, with their first line and count."""
    return (
        f"SELECT v, min(line), count(*) FROM (SELECT {column} AS v, line FROM {STAGING}) s"
        f" WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ({table}) m WHERE m.value = s.v)"
        " GROUP BY v ORDER BY 2 LIMIT 20"
    )


def lookup_table_sql(name: str) -> str:
    """A (value, target) table for a looked-up field, from the mapping's table (:keys → :targets) and the database."""
    given = "SELECT k AS value, t AS target FROM unnest(CAST(:keys AS text[]), CAST(:targets AS text[])) AS m(k, t)"
    if name == "category":
        # The current taxonomy's minor categories by code, name or English name; the mapping's table first.
        return f"""
            SELECT DISTINCT ON (value) value, id FROM (
                SELECT m.value, c.id, 0 AS pref FROM ({given}) m
                JOIN categories c ON c.code = m.target AND c.level = 'minor'
                JOIN taxonomy_versions v ON v.code = c.version_code AND v.current
                UNION ALL
                SELECT x.value, c.id, 1 FROM categories c
                JOIN taxonomy_versions v ON v.code = c.version_code AND v.current
                CROSS JOIN LATERAL (VALUES (c.code), (c.name), (c.name_en)) AS x(value)
                WHERE c.level = 'minor'
            ) o ORDER BY value, pref
        """
    if name == "department":
        return f"""
            SELECT m.value, d.code AS target FROM ({given}) m JOIN departments d ON d.code = m.target
            UNION ALL SELECT code, code FROM departments WHERE code NOT IN (SELECT value FROM ({given}) g)
        """
    return given


# -- the case tables' indexes and keys, dropped and built again around an exclusive import -----------------------

REBUILT_TABLES = ("cases", "case_events")
LOCK_REBUILT_SQL = f"LOCK TABLE {', '.join(REBUILT_TABLES)} IN ACCESS EXCLUSIVE MODE"
# maintenance_work_mem raised to :mem for this transaction, unless the server's is already larger.
RAISE_MAINTENANCE_MEMORY_SQL = (
    "SELECT set_config('maintenance_work_mem', :mem, true) WHERE pg_size_bytes(:mem)"
    " > pg_size_bytes(current_setting('maintenance_work_mem'))"
)
# The secondary indexes and own foreign keys of :tables, each as the statement dropping it and the one making it
# again (from the catalogue: pg_index, pg_constraint).
REBUILT_SQL = """
SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY (CAST(:tables AS regclass[])) AND NOT i.indisunique AND NOT i.indisprimary
UNION ALL
SELECT 'ALTER TABLE ' || c.conrelid::regclass::text || ' DROP CONSTRAINT ' || quote_ident(c.conname),
       'ALTER TABLE ' || c.conrelid::regclass::text || ' ADD CONSTRAINT ' || quote_ident(c.conname) || ' '
       || pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid = ANY (CAST(:tables AS regclass[]))
ORDER BY 1
"""


# -- matching the points to cells ----------------------------------------------------------------------------------


def unmatched_points_sql(lon: str, lat: str, ident: str) -> str:
    """The staged lines with a point whose id the system (%(system)s) has not imported before (driver)."""
    return (
        f"SELECT line, {lon}, {lat} FROM {STAGING} r WHERE {lon} IS NOT NULL AND {lat} IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.external_system = %(system)s AND k.external_id = r.{ident})"
    )


DROP_MATCHED_SQL = f"DROP TABLE IF EXISTS {MATCHED}"
CREATE_MATCHED_SQL = f"CREATE TEMP TABLE {MATCHED} (line bigint PRIMARY KEY, cell text NOT NULL)"
COPY_MATCHED_SQL = f"COPY {MATCHED} (line, cell) FROM STDIN"  # driver
ANALYZE_MATCHED_SQL = f"ANALYZE {MATCHED}"

# -- writing the cases ---------------------------------------------------------------------------------------------

# The cases of the staged lines not imported before, with an `import` event each; the count written. A template:
# its fields are the staging's column names and SQL built from them (history._insert), its values parameters.
INSERT_SQL = """
WITH new AS (
    SELECT r.*, cell.code AS cell, cell.community_code, nextval('case_number_seq')::text AS num  -- as public_code
    FROM {staging} r
    LEFT JOIN {matched} m ON m.line = r.line
    LEFT JOIN grid_cells cell ON cell.code = m.cell
    WHERE r.{lat} IS NOT NULL AND r.{lon} IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.external_system = :system AND k.external_id = r.{id})
), inserted AS (
    INSERT INTO cases (code, source, category_id, category_code, urgency, description, address, point, cell_code,
                       community_code, street_code, district_code, department_code, status, reported_at,
                       updated_at, closed_at, verified, external_system, external_id)
    SELECT to_char({created} AT TIME ZONE :city_zone, 'YYYYMMDD') || lpad(n.num, greatest(5, length(n.num)), '0'),
           :source, cat.id, cat.code, 'normal', {description}, {address},
           ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326), n.cell, n.community_code, left(n.community_code, 9),
           left(n.community_code, 6), {department}, {status}, {created}, :now, {closed_at}, true,
           :system, n.{id}
    FROM new n
    JOIN (SELECT m.value, c.id, c.code FROM ({categories}) m JOIN categories c ON c.id = m.id) cat
      ON cat.value = n.{category}
    {joins}
    {on_conflict}
    RETURNING id, status, external_id
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
    SELECT id, 'import', CAST(:actor AS integer), CAST(:now AS timestamptz), NULL, status,
           jsonb_build_object('system', CAST(:system AS text), 'external_id', external_id, 'file', CAST(:file AS text),
                              'by', CAST(:by AS text))
    FROM inserted
)
SELECT count(*) FROM inserted
"""


def outside_cells_sql(ident: str, lat: str, lon: str) -> str:
    """The staged lines whose point is in no live cell (asked only once the insert has found there is one)."""
    return f"""
            SELECT line, {ident} FROM {STAGING} r
            WHERE {lat} IS NOT NULL AND {lon} IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM grid_cells WHERE retired_at IS NULL
                AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(r.{lon}, r.{lat}), 4326)))
            ORDER BY line LIMIT {MAX_PROBLEMS}
            """
