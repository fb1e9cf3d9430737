"""The workflow feature's hand-written SQL, one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name` (every statement here); SQL run on the raw driver
would use psycopg's `%(name)s`.
"""

from __future__ import annotations

# A case's point as longitude and latitude (case_file). Hand-written: the model maps the point as a geometry
# object, and two numbers are all the case's file needs.
CASE_POINT_SQL = "SELECT ST_X(point), ST_Y(point) FROM cases WHERE id = :id"

# The work queues and the case list at city scale, for the rest of the transaction (the request reading them):
# - no JIT: their counts' cost estimates pass its threshold, and compiling them (100-150 ms) costs far more than it
#   could save on a count that stops at a bound;
# - a plan for the values given, each time: psycopg prepares a statement run five times on a connection, and after
#   five more PostgreSQL may keep a generic plan, blind to what the values select (a request's kind, a light, the
#   sources), which read every dispatched case for the dispatchers' queue (190 ms instead of under 10).
READ_AT_SCALE_SQL = "SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"
