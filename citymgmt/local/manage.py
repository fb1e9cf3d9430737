"""`citymgmt services up|down|status`: the embedded servers, or the external ones named by the URLs."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import redis as redis_lib
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from citymgmt.core.config import Settings
from citymgmt.local.postgres import EmbeddedPostgres, ensure_postgis
from citymgmt.local.process import ServiceError, ServiceStatus
from citymgmt.local.redis import EmbeddedRedis

Echo = Callable[[str], None]


def embedded_postgres(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.var_dir / "postgres")


def embedded_redis(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.var_dir / "redis")


def _show(status: ServiceStatus, echo: Echo) -> None:
    echo(f"{status.name:<9} {status.state:<13} {status.detail}")


def _external_postgres(settings: Settings, create_postgis: bool) -> ServiceStatus:
    url = make_url(settings.database_url)
    where = f"{url.host or 'local socket'}/{url.database}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        if create_postgis:
            ensure_postgis(conninfo)
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
                .fetchone()
            )
    except psycopg.Error as exc:
        reason = "permission denied creating the postgis extension" if "permission" in str(exc) else "unreachable"
        return ServiceStatus("postgres", "unreachable", f"DATABASE_URL ({where}): {reason}")
    if row is None:
        return ServiceStatus("postgres", "unreachable", f"DATABASE_URL ({where}): PostGIS extension missing")
    return ServiceStatus("postgres", "external", f"DATABASE_URL ({where}), PostGIS {row['extversion']}")


def _external_redis(settings: Settings) -> ServiceStatus:
    try:
        redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5).ping()
    except redis_lib.RedisError:
        return ServiceStatus("redis", "unreachable", "REDIS_URL: unreachable")
    return ServiceStatus("redis", "external", "REDIS_URL")


def services_up(settings: Settings, echo: Echo) -> bool:
    ok = True
    for name, start in (
        ("postgres", lambda: embedded_postgres(settings).up() if settings.embedded_database else None),
        ("redis", lambda: embedded_redis(settings).up() if settings.embedded_redis else None),
    ):
        try:
            status = start()
        except ServiceError as exc:
            echo(f"{name:<9} failed        {exc}")
            ok = False
            continue
        if status is None:
            status = (
                _external_postgres(settings, create_postgis=True) if name == "postgres" else _external_redis(settings)
            )
        _show(status, echo)
        ok = ok and status.ok
    return ok


def services_down(settings: Settings, echo: Echo) -> None:
    if settings.embedded_redis:
        _show(embedded_redis(settings).down(), echo)
    else:
        echo("redis     external      REDIS_URL is set: nothing to stop")
    if settings.embedded_database:
        _show(embedded_postgres(settings).down(), echo)
    else:
        echo("postgres  external      DATABASE_URL is set: nothing to stop")


def services_status(settings: Settings, echo: Echo) -> bool:
    statuses = [
        embedded_postgres(settings).status()
        if settings.embedded_database
        else _external_postgres(settings, create_postgis=False),
        embedded_redis(settings).status() if settings.embedded_redis else _external_redis(settings),
    ]
    for status in statuses:
        _show(status, echo)
    return all(s.ok for s in statuses)


def ensure_services(settings: Settings, echo: Echo) -> None:
    """Start the embedded servers if a command needs them and they are not running (no-op for external ones)."""
    if settings.embedded_database and embedded_postgres(settings).status().state != "running":
        _show(embedded_postgres(settings).up(), echo)
    if settings.embedded_redis and embedded_redis(settings).status().state != "running":
        _show(embedded_redis(settings).up(), echo)
