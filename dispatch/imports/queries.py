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
    """The staging table: the file's columns (`name type`, built from positions), the line, why the line is refused
    (its column and reason, NULL while it is good) and, where a closed time before the created time was set to the
    created time, the closed time given."""
    return (
        f"CREATE TEMP TABLE {STAGING} (line bigint GENERATED ALWAYS AS IDENTITY (START 2), {', '.join(columns)},"
        " reject_column text, reject_reason text, closed_given timestamptz)"
    )


def copy_staging_sql(names: str) -> str:
    """The file as it is into the staging table's columns `names` (driver: COPY)."""
    return f"COPY {STAGING} ({names}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')"


# How the session writes times, read before the COPY and restored after it (driver).
TIME_SETTINGS_SQL = "SELECT current_setting('TimeZone'), current_setting('DateStyle')"
# How the file writes its times, for this transaction (driver; also restores the saved ones).
SET_TIME_SETTINGS_SQL = "SELECT set_config('TimeZone', %(zone)s, true), set_config('DateStyle', %(style)s, true)"


def located_sql(lat: str, lon: str) -> str:
    """A staged row has a point: both coordinates, and not (0, 0), which exports write for "no location"."""
    return f"({lat} IS NOT NULL AND {lon} IS NOT NULL AND NOT ({lat} = 0 AND {lon} = 0))"


def count_unlocated_sql(lat: str, lon: str) -> str:
    """The good staged rows with no point (columns `lat`, `lon`), and how many of them are at (0, 0)."""
    return (
        f"SELECT count(*), count(*) FILTER (WHERE {lat} = 0 AND {lon} = 0) FROM {STAGING}"
        f" WHERE reject_reason IS NULL AND NOT {located_sql(lat, lon)}"
    )


# -- reading a file staged as text (--rejects): a value that is not a time or a number refuses its row only ----------

# Read a text as a time (in the transaction's TimeZone and DateStyle, the file's) or a number; NULL when it is not
# one. Temporary functions (pg_temp): they live as long as the connection and belong to no schema of the app.
TIME_READER_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.citymgmt_import_time(v text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN RETURN CAST(v AS timestamptz); EXCEPTION WHEN data_exception THEN RETURN NULL; END $$
"""
NUMBER_READER_SQL = """
CREATE OR REPLACE FUNCTION pg_temp.citymgmt_import_number(v text) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN CAST(v AS float8); EXCEPTION WHEN data_exception THEN RETURN NULL; END $$
"""
READERS = {"timestamptz": "pg_temp.citymgmt_import_time", "float8": "pg_temp.citymgmt_import_number"}


def unreadable_sql(column: str, kind: str) -> str:
    """Refuse the good rows whose `column` (text) holds something that is not a `kind` (timestamptz or float8):
    :column names it, the reason is the value quoted and :reason."""
    return (
        f"UPDATE {STAGING} SET reject_column = :column, reject_reason = quote_literal({column}) || :reason"
        f" WHERE reject_reason IS NULL AND btrim({column}) <> '' AND {READERS[kind]}({column}) IS NULL"
    )


def cast_sql(column: str, kind: str) -> str:
    """`column` (text) as a `kind` column, blank as NULL, in one pass: fails on the first value that is not one."""
    return f"ALTER TABLE {STAGING} ALTER COLUMN {column} TYPE {kind} USING CAST(NULLIF(btrim({column}), '') AS {kind})"


def retype_sql(column: str, kind: str) -> str:
    """`column` (text) as a `kind` column, what cannot be read (refused above) or is blank as NULL."""
    return (
        f"ALTER TABLE {STAGING} ALTER COLUMN {column} TYPE {kind}"
        f" USING CASE WHEN btrim({column}) = '' THEN NULL ELSE {READERS[kind]}({column}) END"
    )


# -- checking the staged rows: each bad row is marked with its first problem ---------------------------------------


def fix_closed_sql(closed: str, created: str) -> str:
    """A closed time before the created time: keep the given one aside and close at the created time."""
    return (
        f"UPDATE {STAGING} SET closed_given = {closed}, {closed} = {created}"
        f" WHERE {closed} < {created} AND reject_reason IS NULL"
    )


# Each marking statement checks the good rows `scope` (a condition on the staging's columns) keeps: all of them, or
# with --skip-unlocated only those with a point (located_sql), the others being left out whatever else is wrong.


def mark_checks_sql(cases: str, scope: str) -> str:
    """Mark each good row with its first failing check (`cases`: WHEN condition THEN its number, from 1): the
    check's column and reason from :columns and :reasons."""
    return (
        f"UPDATE {STAGING} SET reject_column = (CAST(:columns AS text[]))[CASE {cases} END],"
        f" reject_reason = (CAST(:reasons AS text[]))[CASE {cases} END]"
        f" WHERE reject_reason IS NULL AND {scope} AND (CASE {cases} END) IS NOT NULL"
    )


def mark_repeated_sql(ident: str, scope: str) -> str:
    """Mark the good rows whose id an earlier line gives too, naming that line."""
    return f"""
        UPDATE {STAGING} s SET reject_column = :column, reject_reason = 'repeated (first at line ' || f.first || ')'
        FROM (SELECT {ident} AS v, min(line) AS first FROM {STAGING} WHERE {ident} IS NOT NULL AND {scope}
              GROUP BY {ident} HAVING count(*) > 1) f
        WHERE s.{ident} = f.v AND s.line > f.first AND s.reject_reason IS NULL
    """


def mark_unmapped_sql(column: str, table: str, scope: str) -> str:
    """Mark the good rows whose `column` value `table` (lookup_table_sql) maps to nothing: the value and :reason."""
    return f"""
        UPDATE {STAGING} s SET reject_column = :column, reject_reason = quote_literal(s.{column}) || ': ' || :reason
        WHERE s.reject_reason IS NULL AND {scope} AND s.{column} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ({table}) m WHERE m.value = s.{column})
    """


# Mark the lines :lines, whose points no cell took, as outside the grid.
MARK_OUTSIDE_SQL = (
    f"UPDATE {STAGING} SET reject_column = :column, reject_reason = :reason WHERE line = ANY(CAST(:lines AS bigint[]))"
)


# The rows whose closed time was set to the created time that became cases now (those the matching took).
FIXED_IMPORTED_SQL = (
    f"SELECT count(*) FROM {STAGING} r WHERE closed_given IS NOT NULL AND reject_reason IS NULL"
    f" AND EXISTS (SELECT 1 FROM {MATCHED} m WHERE m.line = r.line)"
)

# The refused rows: how many, and in how many kinds (a column and a reason).
REJECT_COUNTS_SQL = (
    f"SELECT count(*), count(DISTINCT (reject_column, reject_reason)) FROM {STAGING} WHERE reject_reason IS NOT NULL"
)


def reject_kinds_sql(ident: str) -> str:
    """Each kind of problem (column, reason), first line first: its first line and id, and how many rows have it."""
    return (
        f"SELECT reject_column, reject_reason, min(line), (array_agg({ident} ORDER BY line))[1], count(*)"
        f" FROM {STAGING} WHERE reject_reason IS NOT NULL GROUP BY 1, 2 ORDER BY 3 LIMIT {MAX_PROBLEMS}"
    )


# Every refused line with its column and reason, in line order (for the rejects file).
REJECTED_LINES_SQL = (
    f"SELECT line, reject_column, reject_reason FROM {STAGING} WHERE reject_reason IS NOT NULL ORDER BY line"
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
    if name == "source":
        # The mapping's table first, then the case sources by their own names (:sources).
        return f"""
            SELECT value, target FROM ({given}) m
            UNION ALL SELECT s, s FROM unnest(CAST(:sources AS text[])) AS s
            WHERE s NOT IN (SELECT value FROM ({given}) g)
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
        f"SELECT line, {lon}, {lat} FROM {STAGING} r WHERE {located_sql(lat, lon)} AND reject_reason IS NULL"
        f" AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.external_system = %(system)s AND k.external_id = r.{ident})"
    )


DROP_MATCHED_SQL = f"DROP TABLE IF EXISTS {MATCHED}"
# snapped_m: the distance to a cell the point is outside of, attached to it by --snap-within (NULL: inside it).
CREATE_MATCHED_SQL = f"CREATE TEMP TABLE {MATCHED} (line bigint PRIMARY KEY, cell text NOT NULL, snapped_m float8)"
COPY_MATCHED_SQL = f"COPY {MATCHED} (line, cell, snapped_m) FROM STDIN"  # driver
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
    WHERE {located} AND r.reject_reason IS NULL
      AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.external_system = :system AND k.external_id = r.{id})
), inserted AS (
    INSERT INTO cases (code, source, category_id, category_code, urgency, description, address, point, cell_code,
                       community_code, street_code, district_code, department_code, status, reported_at,
                       updated_at, closed_at, verified, external_system, external_id)
    SELECT to_char({created} AT TIME ZONE :city_zone, 'YYYYMMDD') || lpad(n.num, greatest(5, length(n.num)), '0'),
           {source}, cat.id, cat.code, 'normal', {description}, {address},
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
    SELECT i.id, 'import', CAST(:actor AS integer), CAST(:now AS timestamptz), NULL, i.status,
           jsonb_build_object('system', CAST(:system AS text), 'external_id', i.external_id,
                              'file', CAST(:file AS text), 'by', CAST(:by AS text)){given}
    FROM inserted i
    {given_join}
)
SELECT count(*) FROM inserted
"""

# The import event of a case whose closed time was set to its created time also says the closed time given.
CLOSED_GIVEN_PAYLOAD = (
    " || CASE WHEN g.closed_given IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('closed_given', g.closed_given) END"
)


def closed_given_join(ident: str) -> str:
    """The row (of `new`, INSERT_SQL) of an inserted case (`i`) whose closed time was set to its created time."""
    return (
        f"LEFT JOIN (SELECT {ident}, closed_given FROM new WHERE closed_given IS NOT NULL) g"
        f" ON g.{ident} = i.external_id"
    )
