"""What /healthz reports: each dependency checked, and which ones are not well."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from citymgmt.core.outbox import OutboxMessage
from citymgmt.core.queue import queue_depth
from citymgmt.core.scheduler import HEARTBEAT_KEY


def check_health(
    session: Session, redis: Redis, now: datetime, worker_within: float, scheduler_within: float
) -> dict[str, Any]:
    checks: dict[str, dict[str, Any]] = {}

    checks.update(_database_checks(session))
    try:
        redis.ping()
        checks["redis"] = {"ok": True}
        depth = queue_depth(redis)
        checks["queue"] = {"ok": True, "depth": sum(depth.values()), "queues": depth}
        beats = [w.last_heartbeat for w in Worker.all(connection=redis) if w.last_heartbeat is not None]
        alive = [b for b in beats if (now - b).total_seconds() <= worker_within]
        checks["worker"] = {"ok": bool(alive), "alive": len(alive)}
        if not alive:
            checks["worker"]["error"] = "no worker heartbeat" if not beats else "worker heartbeat too old"
        beat = redis.get(HEARTBEAT_KEY)
        checks["scheduler"] = {"ok": beat is not None}
        if beat is None:
            checks["scheduler"]["error"] = f"no scheduler heartbeat in the last {int(scheduler_within)} s"
    except RedisError:
        checks["redis"] = {"ok": False, "error": "unreachable"}
        for name in ("queue", "worker", "scheduler"):
            checks[name] = {"ok": False, "error": "Redis unreachable"}

    failing = [name for name, c in checks.items() if not c["ok"]]
    return {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks}


def _database_checks(session: Session) -> dict[str, dict[str, Any]]:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        session.rollback()
        return {
            "database": {"ok": False, "error": "unreachable"},
            "postgis": {"ok": False, "error": "unknown"},
        }
    checks: dict[str, dict[str, Any]] = {"database": {"ok": True}}
    try:
        version = session.execute(text("SELECT postgis_lib_version()")).scalar_one()
        checks["postgis"] = {"ok": True, "version": version}
    except SQLAlchemyError:
        session.rollback()
        checks["postgis"] = {"ok": False, "error": "PostGIS extension missing"}
    try:
        pending = session.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.enqueued_at.is_(None))
        ).scalar_one()
        checks["outbox"] = {"ok": True, "pending": pending}
    except SQLAlchemyError:
        session.rollback()
        checks["outbox"] = {"ok": False, "error": "schema not migrated (run citymgmt db upgrade)"}
    session.rollback()
    return checks
