"""The kernel's hand-written SQL (revisions.py, identity.py, outbox.py, health.py, backup.py), one named statement
each, with a comment saying what it does.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver`, or a connection of its own for backups) uses psycopg's `%(name)s`, never positional `%s`.
Every column read back is named; nothing is decoded by position.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

# -- the revisions of the caches (revisions.py) ---------------------------------------------------------------------

# The revisions as named columns, also for a hot statement that reads them with its own work (intake's first, one
# round trip instead of two: measured, docs/architecture.md); `revisions.remember` takes them back by these names.
REVISION_COLUMNS = (
    "(SELECT coalesce(max(revision), 0) FROM routing_rules) AS rules_revision,"
    " (SELECT coalesce(max(revision), 0) FROM calendar_days) AS calendar_revision"
)
REVISIONS_SQL = "SELECT " + REVISION_COLUMNS


# -- a session's credential (identity.py) ---------------------------------------------------------------------------


def credential_sql(token_columns: Sequence[str], user_columns: Sequence[str]) -> str:
    """A secret's unrevoked token row and its user in one statement, on the driver (every signed-in request runs it,
    prepared): the token's columns named `token_<column>`, the user's `user_<column>`, the models' own columns."""
    named = [sql.SQL("t.{} AS {}").format(sql.Identifier(c), sql.Identifier(f"token_{c}")) for c in token_columns]
    named += [sql.SQL("u.{} AS {}").format(sql.Identifier(c), sql.Identifier(f"user_{c}")) for c in user_columns]
    return (
        sql.SQL(
            "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = %(token_hash)s AND t.kind = %(kind)s AND t.revoked_at IS NULL"
        )
        .format(sql.SQL(", ").join(named))
        .as_string()
    )


# -- reads at city scale (db.py read_at_scale) ---------------------------------------------------------------------

# For the rest of the transaction (a request reading the work queues, the case list or an analysis):
# - no JIT: the counts' cost estimates pass its threshold at scale, and compiling them (100-150 ms) costs far more
#   than it could save on a count that stops at a bound;
# - a plan for the values given, each time: psycopg prepares a statement run five times on a connection, and after
#   five more PostgreSQL may keep a generic plan, blind to what the values select (a request's kind, a light, the
#   sources, an optional family or category), which read every dispatched case for the dispatchers' queue (190 ms
#   instead of under 10). Planning each time costs about a millisecond.
READ_AT_SCALE_SQL = "SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"


# -- the outbox (outbox.py) -----------------------------------------------------------------------------------------

# Wake the relay's listeners on :channel when (and only if) the transaction commits.
NOTIFY_SQL = "SELECT pg_notify(:channel, '')"

# -- health (health.py) ---------------------------------------------------------------------------------------------

# Whether the database answers at all.
PING_SQL = "SELECT 1"

# The PostGIS library's version (fails when the extension is missing).
POSTGIS_VERSION_SQL = "SELECT postgis_lib_version()"

# Whether this is a standby, and how far behind its replay is in seconds. Behind only while something received is
# not yet replayed: an idle primary sends nothing, and its replica is then current however old its last replayed
# transaction is.
REPLICA_LAG_SQL = """
SELECT pg_is_in_recovery() AS standby,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag_s
"""

# -- backups (backup.py, on a connection of their own) --------------------------------------------------------------

# The other client connections to this database, counted by application name.
OTHER_CONNECTIONS_SQL = (
    "SELECT coalesce(nullif(application_name, ''), '(unnamed)') AS name, count(*) AS connections"
    " FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    " GROUP BY 1 ORDER BY 2 DESC, 1"
)

# The schema's migration revision.
SCHEMA_REVISION_SQL = "SELECT version_num FROM alembic_version"

# Whether the database holds cases (a restore over them must be asked for): the table at all, then a row in it.
CASES_TABLE_SQL = "SELECT to_regclass('public.cases') IS NOT NULL AS present"
ANY_CASE_SQL = "SELECT EXISTS (SELECT 1 FROM cases) AS present"
