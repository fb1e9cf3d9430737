"""The metrics feature's hand-written SQL: the facts every figure is counted from (`FACTS_SQL`), the roll-ups built
from them, the counts read back, and the dashboard's (dashboard.py) cells, trends and feed.

Placeholders: every statement here runs through SQLAlchemy's `text()` and uses `:name`; SQL run on the raw driver
would use psycopg's `%(name)s`.

Hand-written rather than the ORM's: the facts are one UNION ALL of set-based SELECTs over cases and events, rolled
up with GROUPING SETS and INSERT ... SELECT, and the map's GeoJSON is built by PostgreSQL (json_agg), all in single
statements over millions of rows. The pieces are built from `COUNTS` (the count columns, the roll-up tables'
columns too), so the statements and the tables name the same counts.
"""

from __future__ import annotations

from dispatch.cases.models import FINAL_STATES, OPEN_STATES, State
from dispatch.cases.models import PUBLIC_SOURCES as PUBLIC

# The states written into the SQL as literals (the case model's, dispatch.cases.models), as the partial indexes of
# open cases name them: the planner uses those only for a predicate it can match to theirs.
_OPEN = ", ".join(f"'{s}'" for s in OPEN_STATES)
_NOT_RUNNING = ", ".join(f"'{s}'" for s in (*FINAL_STATES, State.suspended))  # no handling clock runs

# The counts of a fact, in this order: the columns of FACTS_SQL after its keys, and of the roll-up tables.
COUNTS = (
    "closed",
    "closed_on_time",
    "overdue_open",
    "overdue_unhandled",
    "handled",
    "handled_on_time",
    "reworked",
    "filed",
    "filed_on_time",
    "filed_cancelled",
    "dispatched",
    "dispatched_on_time",
    "wrong_dispatches",
    "reports",
    "valid_reports",
    "verifications",
    "verifications_on_time",
    "checks",
    "checks_on_time",
    "verified_public",
    "missed",
    "received",
    "responded",
    "callbacks",
    "callbacks_resolved",
    "callbacks_satisfied",
    "callbacks_basically_satisfied",
    "reported_cases",
)
PUBLIC_SOURCES = "(" + ", ".join(f"'{s}'" for s in PUBLIC) + ")"


# -- the facts ------------------------------------------------------------------------------------------------

_ZERO = {c: "0" for c in COUNTS}


def _row(
    day: str, cell: bool, department: str, inspector: str, leader: str = "NULL", dispatcher: str = "NULL", **counts: str
) -> str:
    cols = [
        f"{day} AS day",
        "c.cell_code" if cell else "NULL::varchar",
        "c.community_code" if cell else "NULL::varchar",
        "c.street_code" if cell else "NULL::varchar",
        "c.district_code" if cell else "NULL::varchar",
        f"{department}::varchar",
        f"{inspector}::varchar",
        f"{leader}::varchar",
        f"{dispatcher}::varchar",
    ]
    values = {**_ZERO, **counts}
    cols += [f"({values[c]})::int" for c in COUNTS]
    return "SELECT " + ", ".join(cols)


def _local_day(column: str) -> str:
    return f"({column} AT TIME ZONE :tz)::date"


_ON_TIME = "(e.step_due_at IS NULL OR e.at <= e.step_due_at)"
_IN_RANGE = "e.at >= :start AND e.at < :end"
_ASSIGNED = (
    "ic.cell_code = c.cell_code AND ic.assigned_at <= c.reported_at"
    " AND (ic.unassigned_at IS NULL OR ic.unassigned_at > c.reported_at)"
)
# Inspector ic did not report the problem of case c: no report of theirs was merged into it, nor it into theirs.
_NOT_REPORTED_BY_IC = (
    "NOT EXISTS (SELECT 1 FROM cases d WHERE d.reporter_id = ic.user_id AND d.source = 'inspector'"
    " AND (d.duplicate_of = c.id OR d.id = c.duplicate_of))"
)
_MISSED_CASE = f"c.source IN {PUBLIC_SOURCES} AND c.verified AND c.reported_at >= :start AND c.reported_at < :end"
# A closed case with no handling recorded (history imported from another system) is on time when it was closed by
# its handling deadline, or has none.
_LAST_HANDLE_ON_TIME = (
    "COALESCE((SELECT h.step_due_at IS NULL OR h.at <= h.step_due_at FROM case_events h"
    " WHERE h.case_id = c.id AND h.action = 'handle' ORDER BY h.at DESC, h.id DESC LIMIT 1),"
    " c.disposal_due_at IS NULL OR c.closed_at <= c.disposal_due_at)"
)

# Per case (DOMAIN.md §6), not per move: the case's first handling (处置) decides whether it was handled on time, and
# carries the case's rework (返工: any failed check) once, however many handlings and checks followed.
_FIRST_HANDLE = (
    "e.action = 'handle' AND NOT EXISTS (SELECT 1 FROM case_events h WHERE h.case_id = e.case_id"
    " AND h.action = 'handle' AND (h.at, h.id) < (e.at, e.id))"
)
_REWORKED = (
    "EXISTS (SELECT 1 FROM case_events k WHERE k.case_id = e.case_id AND k.action = 'check'"
    " AND k.payload->>'result' = 'fail')"
)
# A wrong dispatch (错误派遣) is the dispatch the case was returned from and then dispatched to another department:
# the next dispatch records the department it corrects (redispatch_from). It counts on the wrong dispatch, against
# its dispatcher and its day, not on the corrected one.
_WRONG_DISPATCH = (
    "e.action = 'dispatch' AND (SELECT n.payload->>'redispatch_from' FROM case_events n WHERE n.case_id = e.case_id"
    " AND n.action = 'dispatch' AND (n.at, n.id) > (e.at, e.id) ORDER BY n.at, n.id LIMIT 1) IS NOT NULL"
)
# A filing later cancelled (作废 of the filed case) counts on the filing, against the shift leader who filed it.
_FILED_CANCELLED = (
    "e.action = 'file' AND EXISTS (SELECT 1 FROM case_events x WHERE x.case_id = e.case_id AND x.action = 'cancel'"
    " AND x.from_status = 'filed')"
)

# 接诉即办: the centre's first answer to a report from the public (accepting it one way or another: filing it, sending
# it to be verified, verifying it by phone, cancelling or merging it) was made within its step's limit.
_RESPONDED = (
    "(SELECT a.step_due_at IS NULL OR a.at <= a.step_due_at FROM case_events a WHERE a.case_id = c.id"
    " AND a.action IN ('file', 'request_verification', 'verify_by_phone', 'cancel', 'merge')"
    " ORDER BY a.at, a.id LIMIT 1) IS TRUE"
)
# A case's call-back (回访) is counted once, by its latest: a case reopened after an unsatisfied call-back and
# closed again counts by the caller's last answer, on its day.
_LAST_CALLBACK = (
    "e.action = 'callback' AND NOT EXISTS (SELECT 1 FROM case_events l WHERE l.case_id = e.case_id"
    " AND l.action = 'callback' AND (l.at, l.id) > (e.at, e.id))"
)

# One row per fact: (day, cell, community, street, district, department, inspector, *COUNTS) for [start, end).
FACTS_SQL = " UNION ALL ".join(
    [
        # Moves, under the case's cell and the department / inspector / shift leader / dispatcher of the move.
        _row(  # noqa: S608 (constants only)
            _local_day("e.at"),
            True,
            "CASE WHEN e.action IN ('handle', 'check', 'callback') THEN e.department_code END",
            "CASE WHEN e.action IN ('verify', 'check') OR (e.action = 'report' AND c.source = 'inspector')"
            " THEN e.actor_id::text END",
            leader="CASE WHEN e.action = 'file' THEN e.actor_id::text END",
            dispatcher="CASE WHEN e.action = 'dispatch' THEN e.actor_id::text END",
            handled=_FIRST_HANDLE,
            handled_on_time=f"{_FIRST_HANDLE} AND {_ON_TIME}",
            reworked=f"{_FIRST_HANDLE} AND {_REWORKED}",
            filed="e.action = 'file'",
            filed_on_time=f"e.action = 'file' AND {_ON_TIME}",
            filed_cancelled=_FILED_CANCELLED,
            dispatched="e.action = 'dispatch'",
            dispatched_on_time=f"e.action = 'dispatch' AND {_ON_TIME}",
            wrong_dispatches=_WRONG_DISPATCH,
            reports="e.action = 'report' AND c.source = 'inspector'",
            # a report merged into another case (a duplicate) is not a valid report, even if it was filed first
            valid_reports="e.action = 'report' AND c.source = 'inspector' AND c.duplicate_of IS NULL"
            " AND EXISTS (SELECT 1 FROM case_events f WHERE f.case_id = c.id AND f.action = 'file')",
            verifications="e.action = 'verify'",
            verifications_on_time=f"e.action = 'verify' AND {_ON_TIME}",
            checks="e.action = 'check'",
            checks_on_time=f"e.action = 'check' AND {_ON_TIME}",
            verified_public=f"e.action IN ('verify', 'verify_by_phone') AND e.payload->>'result' = 'pass'"
            f" AND c.source IN {PUBLIC_SOURCES}",
            received=f"e.action = 'report' AND c.source IN {PUBLIC_SOURCES}",
            responded=f"e.action = 'report' AND c.source IN {PUBLIC_SOURCES} AND {_RESPONDED}",
            callbacks=_LAST_CALLBACK,
            callbacks_resolved=f"{_LAST_CALLBACK} AND (e.payload->>'resolved')::boolean",
            callbacks_satisfied=f"{_LAST_CALLBACK} AND e.payload->>'result' = 'satisfied'",
            callbacks_basically_satisfied=f"{_LAST_CALLBACK} AND e.payload->>'result' = 'basically_satisfied'",
        )
        + " FROM case_events e JOIN cases c ON c.id = e.case_id"
        f" WHERE {_IN_RANGE} AND e.action IN ('report', 'file', 'verify', 'verify_by_phone', 'dispatch', 'handle',"
        " 'check', 'callback')",
        # Closed cases, on their closing day.
        _row(
            _local_day("c.closed_at"),
            True,
            "c.department_code",
            "NULL",
            closed="1",
            closed_on_time=_LAST_HANDLE_ON_TIME,
        )
        + " FROM cases c WHERE c.status = 'closed' AND c.closed_at >= :start AND c.closed_at < :end",
        # Open cases past their handling deadline (suspended ones left out), on the deadline's day.
        _row(  # noqa: S608 (constants only)
            _local_day("c.disposal_due_at"),
            True,
            "c.department_code",
            "NULL",
            overdue_open="1",
            # never handled (a reworked case back with the department counts as handled, at its first handling)
            overdue_unhandled="c.status = 'dispatched'"
            " AND NOT EXISTS (SELECT 1 FROM case_events h WHERE h.case_id = c.id AND h.action = 'handle')",
        )
        + f" FROM cases c WHERE c.status NOT IN ({_NOT_RUNNING})"
        " AND c.disposal_due_at >= :start AND c.disposal_due_at < :end AND c.disposal_due_at <= :now",
        # Cases reported, on their report's day, under their cell: a case merged into another as its duplicate is no
        # second problem (the big screen's density, 案件密度).
        _row(_local_day("c.reported_at"), True, "NULL", "NULL", reported_cases="1")
        + " FROM cases c WHERE c.reported_at >= :start AND c.reported_at < :end AND c.duplicate_of IS NULL",
        # Missed reports: once per region ...
        _row(_local_day("c.reported_at"), True, "NULL", "NULL", missed="1")  # noqa: S608 (constants only)
        + f" FROM cases c WHERE {_MISSED_CASE} AND EXISTS (SELECT 1 FROM inspector_cells ic WHERE {_ASSIGNED})"  # noqa: S608 (constants only)
        f" AND NOT EXISTS (SELECT 1 FROM inspector_cells ic WHERE {_ASSIGNED} AND NOT {_NOT_REPORTED_BY_IC})",
        # ... and for each assigned inspector who missed it.
        _row(_local_day("c.reported_at"), False, "NULL", "ic.user_id::text", missed="1")
        + f" FROM cases c JOIN inspector_cells ic ON {_ASSIGNED} WHERE {_MISSED_CASE} AND {_NOT_REPORTED_BY_IC}",
        # The inspector's beat: cases filed in the cells they were assigned when the case was reported.
        _row(_local_day("e.at"), False, "NULL", "ic.user_id::text", filed="1")
        + f" FROM case_events e JOIN cases c ON c.id = e.case_id JOIN inspector_cells ic ON {_ASSIGNED}"
        f" WHERE {_IN_RANGE} AND e.action = 'file'",
    ]
)
_FACT_COLUMNS = (
    "day, cell_code, community_code, street_code, district_code, department_code, inspector_id, leader_id,"
    " dispatcher_id"
)
_SUMS = ", ".join(f"sum({c})::int AS {c}" for c in COUNTS)
_COLUMNS = ", ".join(COUNTS)
_ROLLUP_COLUMNS = f"dim, day, key, community_code, street_code, district_code, {_COLUMNS}"

# The roll-up rows of [start, end): one grouping per dimension, the rows without a key dropped. The areas (community,
# street, district) have rows of their own, their cells' counts added up, so that a map or a league of areas reads
# a row per area and day instead of one per cell.
_GROUPED = {c: f"GROUPING({c}) = 0" for c in ("cell_code", "community_code", "street_code", "district_code")}
# The areas a row is under: a cell's or an area's own and those above it (none for a department or a person).
_AREA_OF = {
    "community_code": f"{_GROUPED['cell_code']} OR {_GROUPED['community_code']}",
    "street_code": f"{_GROUPED['cell_code']} OR {_GROUPED['community_code']} OR {_GROUPED['street_code']}",
    "district_code": " OR ".join(_GROUPED.values()),
}
_AREAS = ", ".join(f"CASE WHEN {when} THEN min({column}) END AS {column}" for column, when in _AREA_OF.items())
ROLLUP_SQL = f"""
INSERT INTO metric_days (dim, day, key, community_code, street_code, district_code, {_COLUMNS})
SELECT dim, day, key, community_code, street_code, district_code, {_COLUMNS} FROM (
    SELECT CASE WHEN GROUPING(cell_code) = 0 THEN 'cell'
                WHEN GROUPING(community_code) = 0 THEN 'community'
                WHEN GROUPING(street_code) = 0 THEN 'street'
                WHEN GROUPING(district_code) = 0 THEN 'district'
                WHEN GROUPING(department_code) = 0 THEN 'department'
                WHEN GROUPING(inspector_id) = 0 THEN 'inspector'
                WHEN GROUPING(leader_id) = 0 THEN 'leader' ELSE 'dispatcher' END AS dim,
           day,
           COALESCE(cell_code, community_code, street_code, district_code, department_code, inspector_id, leader_id,
                    dispatcher_id) AS key,
           {_AREAS}, {_SUMS}
    FROM ({FACTS_SQL}) f ({_FACT_COLUMNS}, {_COLUMNS})
    GROUP BY GROUPING SETS ((day, cell_code), (day, community_code), (day, street_code), (day, district_code),
                            (day, department_code), (day, inspector_id), (day, leader_id), (day, dispatcher_id))
) g
WHERE key IS NOT NULL
"""  # noqa: S608 (constants only)


# The monthly roll-ups of the months from :first to before :end, from the daily ones.
MONTHS_SQL = f"""
INSERT INTO metric_months (dim, day, key, community_code, street_code, district_code, {_COLUMNS})
SELECT dim, date_trunc('month', day)::date, key, min(community_code), min(street_code), min(district_code), {_SUMS}
FROM metric_days WHERE day >= :first AND day < :end
GROUP BY dim, date_trunc('month', day)::date, key
"""  # noqa: S608 (constants only)


# -- the counts read back (operations.counts_sql) -----------------------------------------------------------------


def direct_counts_sql(group_col: str, key: str, keyed: bool = False) -> str:
    """The counts per group (columns key, *COUNTS) straight from the facts, grouped on `group_col` (a fact column
    name, never a value) of the facts whose `key` column is set; parameters :start, :end, :now, :tz. With `keyed`,
    the groups of :keys (a text[]) alone."""
    only = f" AND {group_col} = ANY(CAST(:keys AS text[]))" if keyed else ""
    return (
        f"SELECT {group_col} AS key, {_SUMS} FROM ({FACTS_SQL}) f ({_FACT_COLUMNS}, {_COLUMNS})"  # noqa: S608 (constants only)
        f" WHERE {key} IS NOT NULL{only} GROUP BY {group_col}"
    )


def rollup_counts_sql(column: str, cells: bool = False) -> str:
    """The counts per group (columns key, *COUNTS) summed from the roll-ups, grouped on `column` (a roll-up column
    name, never a value): the whole months from metric_months, the days around them from metric_days; parameters
    :dim, :first, :last, :months_from, :months_to. With `cells`, the cells of :keys (a text[] of codes) alone, read
    by their key (the partial indexes of the cells' rows; :dim not used)."""
    dim = "dim = 'cell' AND key = ANY(CAST(:keys AS text[]))" if cells else "dim = :dim"
    return (
        f"SELECT {column} AS key, {_SUMS} FROM ("  # noqa: S608 (constants only)
        f" SELECT {_ROLLUP_COLUMNS} FROM metric_months WHERE {dim}"
        " AND day >= :months_from AND day < :months_to"
        f" UNION ALL SELECT {_ROLLUP_COLUMNS} FROM metric_days WHERE {dim}"
        " AND ((day >= :first AND day < :months_from) OR (day >= :months_to AND day <= :last))"
        f") r GROUP BY {column}"
    )


# -- rebuilding the roll-ups (operations.rebuild_range, refresh) ------------------------------------------------

# The roll-ups of a range of days and of months, deleted before they are built again.
DELETE_DAYS_SQL = "DELETE FROM metric_days WHERE day BETWEEN :first AND :last"
DELETE_MONTHS_SQL = "DELETE FROM metric_months WHERE day >= :first AND day < :end"

# One build of a kind at a time (:lock names it): a transaction-scoped advisory lock (no table to lock), released at
# the commit.
BUILD_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(:lock))"

# The first report ever, where the first build starts.
FIRST_REPORT_SQL = "SELECT min(reported_at) FROM cases"

# The days whose figures may have changed since `since`: every day any figure of a case moved since then could
# stand on (its events, the deadlines they set or ended, its report, closing and deadline), and the days whose
# handling deadlines passed since then (open cases become overdue without an event of their own).
CHANGED_DAYS_SQL = f"""
WITH touched AS (SELECT DISTINCT case_id FROM case_events WHERE at > :since)
SELECT DISTINCT (x AT TIME ZONE :tz)::date AS day FROM (
    SELECT unnest(ARRAY[e.at, e.step_due_at, e.due_at]) AS x
    FROM case_events e WHERE e.case_id IN (SELECT case_id FROM touched)
    UNION ALL
    SELECT unnest(ARRAY[c.reported_at, c.closed_at, c.disposal_due_at])
    FROM cases c WHERE c.id IN (SELECT case_id FROM touched)
    UNION ALL
    SELECT c.disposal_due_at FROM cases c
    WHERE c.status IN ({_OPEN})
      AND c.disposal_due_at > :since AND c.disposal_due_at <= :now
) t WHERE x IS NOT NULL ORDER BY day
"""  # noqa: S608 (constants only)


# -- what people call the groups (operations.names) -------------------------------------------------------------

# Names by key for a list of keys, in one statement per grouping (areas, departments, users: other features' and
# the kernel's tables, read here by code only).
AREA_NAMES_SQL = "SELECT code, name FROM areas WHERE code = ANY(:keys)"
DEPARTMENT_NAMES_SQL = "SELECT code, name FROM departments WHERE code = ANY(:keys)"
USER_NAMES_SQL = "SELECT id::text, display_name FROM users WHERE id::text = ANY(:keys)"


# -- the dashboard (dashboard.py) --------------------------------------------------------------------------------

# The value of each of the map's indicators (dashboard.CELL_INDICATORS) over a cell's counts (m), its reports (r)
# and its area (g).
_VALUE = {
    "on_time_closing_rate": "round(m.closed_on_time::numeric / NULLIF(m.closed + m.overdue_open, 0), 4)::float8",
    "overdue_open": "COALESCE(m.overdue_open, 0)::float8",
    "density": "round(COALESCE(r.reported, 0) / (g.area_m2 / 1e6)::numeric, 2)::float8",
}


def cells_sql(indicator: str, counts: str, with_geometry: bool, keyed: bool) -> str:
    """The live cells with their value and counts (`counts`: by cell); with `keyed`, the cells of :keys (a text[] of
    codes: those in a map's view) alone, their counts and cases read by key instead of the whole city's added up."""
    geometry = ", ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tol), 6)::json AS geometry" if with_geometry else ""
    cells = "AND g.code = ANY(CAST(:keys AS text[]))" if keyed else ""
    # a merged duplicate is no second problem; a view's cells counted one by one (the cell's index, not the month's
    # cases of the whole city), the whole city's grouped
    reported = (
        """LEFT JOIN LATERAL (SELECT count(*)::int AS reported FROM cases
                             WHERE cell_code = g.code AND reported_at >= :start AND reported_at < :end
                               AND duplicate_of IS NULL) r ON true"""
        if keyed
        else """LEFT JOIN (SELECT cell_code, count(*)::int AS reported FROM cases
                      WHERE reported_at >= :start AND reported_at < :end AND duplicate_of IS NULL
                      GROUP BY cell_code) r ON r.cell_code = g.code"""
    )
    return f"""
    SELECT g.code, g.community_code, {_VALUE[indicator]} AS value,
           COALESCE(r.reported, 0) AS reported,
           COALESCE(m.closed + m.overdue_open, 0) AS due, COALESCE(m.closed, 0) AS closed,
           COALESCE(m.closed_on_time, 0) AS closed_on_time, COALESCE(m.overdue_open, 0) AS overdue_open,
           round((g.area_m2 / 1e6)::numeric, 4)::float8 AS area_km2{geometry}
    FROM grid_cells g
    LEFT JOIN ({counts}) m ON m.key = g.code
    {reported}
    WHERE g.retired_at IS NULL {cells}
    """  # noqa: S608 (constants and the evaluation's own SQL only)


def cell_features_sql(indicator: str, counts: str, columns: tuple[str, ...], keyed: bool) -> str:
    """The live cells (with `keyed`, those of :keys) as one GeoJSON FeatureCollection (text), built by PostgreSQL,
    each with the `columns` of cells_sql as its properties; parameters those of cells_sql, :tol and :indicator."""
    properties = ", ".join(f"'{c}', c.{c}" for c in columns)
    return f"""
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'indicator', CAST(:indicator AS text),
        'features', COALESCE(json_agg(json_build_object(
            'type', 'Feature', 'id', c.code, 'geometry', c.geometry,
            'properties', json_build_object({properties})) ORDER BY c.code), '[]'::json)
    )::text
    FROM ({cells_sql(indicator, counts, True, keyed)}) c
    """  # noqa: S608 (constants only)


# The value of each indicator over a community's counts (its cells added up, s): what the map shows at district zoom.
_COMMUNITY_VALUE = {
    "on_time_closing_rate": "round(s.closed_on_time::numeric / NULLIF(s.due, 0), 4)::float8",
    "overdue_open": "s.overdue_open::float8",
    "density": "round(s.reported / NULLIF(s.area_km2, 0)::numeric, 2)::float8",
}


def community_features_sql(indicator: str, counts: str, columns: tuple[str, ...]) -> str:
    """The live communities with live cells (those in the box) as one GeoJSON FeatureCollection of their outlines,
    with the same properties as cell_features_sql (`code` and `community_code` both the community's); `counts`
    grouped by community (counts_sql("community"): the roll-ups' own rows of the communities, their cells' counts
    added up when they were built, the cases reported among them), the area that of the community's live cells
    (`areas.cells_area_m2`, kept by grids), the outline the one kept simplified for :outline_zoom (`area_outlines`,
    kept by grids; null above them: simplified here by :tol). A row per community and day: no cell of the city is
    read. Parameters those of cell_features_sql and :outline_zoom."""
    properties = ", ".join(f"'{c}', c.{c}" for c in columns)
    return f"""
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'indicator', CAST(:indicator AS text),
        'level', 'community',
        'features', COALESCE(json_agg(json_build_object(
            'type', 'Feature', 'id', c.code,
            'geometry', ST_AsGeoJSON(c.geom, 6)::json,
            'properties', json_build_object({properties})) ORDER BY c.code), '[]'::json)
    )::text
    FROM (
        SELECT s.code, s.code AS community_code, s.geom, {_COMMUNITY_VALUE[indicator]} AS value,
               s.reported, s.due, s.closed, s.closed_on_time, s.overdue_open, s.area_km2
        FROM (SELECT a.code, COALESCE(o.geom, ST_SimplifyPreserveTopology(a.geom, :tol)) AS geom,
                     COALESCE(m.reported_cases, 0) AS reported,
                     COALESCE(m.closed + m.overdue_open, 0) AS due, COALESCE(m.closed, 0) AS closed,
                     COALESCE(m.closed_on_time, 0) AS closed_on_time, COALESCE(m.overdue_open, 0) AS overdue_open,
                     round((a.cells_area_m2 / 1e6)::numeric, 4)::float8 AS area_km2
              FROM areas a
              LEFT JOIN area_outlines o ON o.code = a.code AND o.zoom = CAST(:outline_zoom AS int)
              LEFT JOIN ({counts}) m ON m.key = a.code
              WHERE a.level = 'community' AND a.retired_at IS NULL AND a.geom IS NOT NULL AND a.cells_area_m2 > 0
                AND (CAST(:w AS float8) IS NULL OR a.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326))) s
    ) c
    """  # noqa: S608 (constants only)


# Per day of a period (the city's zone): cases reported, closed, and gone overdue (daily).
DAILY_SQL = """
SELECT d::date AS day,
       COALESCE(r.n, 0) AS reported, COALESCE(c.n, 0) AS closed, COALESCE(o.n, 0) AS overdue
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
LEFT JOIN (SELECT (reported_at AT TIME ZONE :tz)::date AS day, count(*)::int AS n FROM cases
           WHERE reported_at >= :start AND reported_at < :end GROUP BY 1) r ON r.day = d::date
LEFT JOIN (SELECT (closed_at AT TIME ZONE :tz)::date AS day, count(*)::int AS n FROM cases
           WHERE status = 'closed' AND closed_at >= :start AND closed_at < :end GROUP BY 1) c ON c.day = d::date
LEFT JOIN (SELECT (at AT TIME ZONE :tz)::date AS day, count(DISTINCT case_id)::int AS n FROM case_events
           WHERE action = 'overdue' AND at >= :start AND at < :end GROUP BY 1) o ON o.day = d::date
ORDER BY d
"""


# The latest new and overdue cases with their category's current name (feed): a lateral join the ORM would only
# spell at length.
FEED_SQL = """
SELECT e.id, e.at, e.action AS kind, c.id AS case_id, c.code, c.category_code,
       k.name AS category_name, k.name_en AS category_name_en, c.cell_code, c.status, c.light, c.urgency
FROM case_events e
JOIN cases c ON c.id = e.case_id
LEFT JOIN LATERAL (
    SELECT k.name, k.name_en FROM categories k JOIN taxonomy_versions v ON v.code = k.version_code
    WHERE k.code = c.category_code ORDER BY v.current DESC, v.effective_from DESC LIMIT 1
) k ON true
WHERE e.action IN ('report', 'overdue') AND e.at <= :now
ORDER BY e.at DESC, e.id DESC
LIMIT :limit
"""
