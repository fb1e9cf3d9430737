"""The cases feature's hand-written SQL, one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver`) uses psycopg's `%(name)s`, never positional `%s`. Every statement here runs on the driver.
"""

from __future__ import annotations

# Open cases of a category near a point, nearest first (find_candidates). Hand-written: the index box in degrees
# (`point && ST_Expand`) before the exact distance on the spheroid, and run unprepared on the driver, which the ORM
# would not say as directly.
CANDIDATES_SQL = """
    SELECT id, code, ST_Distance(point::geography, p::geography) AS d, reported_at
    FROM cases, (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS p) q
    WHERE category_code = %(category)s AND reported_at >= %(since)s AND reported_at <= %(now)s
      AND status = ANY(%(open)s) AND duplicate_of IS NULL
      AND point && ST_Expand(p, %(deg)s)
      AND ST_DWithin(point::geography, p::geography, %(radius)s)
    ORDER BY d, reported_at
    LIMIT %(limit)s
"""
