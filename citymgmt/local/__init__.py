"""The embedded default: a project-owned PostgreSQL+PostGIS and Redis under ./var.

Used when DATABASE_URL / REDIS_URL are not set. Both listen on Unix sockets only (never a TCP port), so they
cannot collide with a system server or another checkout.
"""

from citymgmt.local.postgres import EmbeddedPostgres
from citymgmt.local.process import ServiceStatus
from citymgmt.local.redis import EmbeddedRedis

__all__ = ["EmbeddedPostgres", "EmbeddedRedis", "ServiceStatus"]
