"""The notifications feature's hand-written SQL, one named statement each.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver`) uses psycopg's `%(name)s`, never positional `%s`. Every statement here runs on the driver.
"""

from __future__ import annotations

# The live channels of a department (None: the centre's) that asked for an event (notify). Hand-written for the
# driver, prepared: every automatic dispatch at intake asks this.
CHANNELS_SQL = (
    "SELECT id FROM notification_channels WHERE department_code IS NOT DISTINCT FROM %(department)s"
    " AND retired_at IS NULL AND events @> %(events)s::varchar[] ORDER BY id"
)
