"""The workflow feature's hand-written SQL, one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name` (every statement here); SQL run on the raw driver
would use psycopg's `%(name)s`.
"""

from __future__ import annotations

# A case's point as longitude and latitude (case_file). Hand-written: the model maps the point as a geometry
# object, and two numbers are all the case's file needs.
CASE_POINT_SQL = "SELECT ST_X(point), ST_Y(point) FROM cases WHERE id = :id"
