"""The routing feature's hand-written SQL, one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name` (every statement here); SQL run on the raw driver
would use psycopg's `%(name)s`.
"""

from __future__ import annotations

# Live responsibility zones covering a point, smallest first (zones_at). Hand-written: three columns of the zones
# (grids' model), with the point built in PostGIS from two numbers and ordered by area.
ZONES_AT_SQL = (
    "SELECT code, kind, department_code FROM responsibility_zones"
    " WHERE retired_at IS NULL AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
    " ORDER BY ST_Area(geom), code"
)
