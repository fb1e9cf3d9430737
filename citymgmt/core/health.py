"""What /healthz reports: each dependency checked, and whether the system works: every periodic job succeeding
on time, background jobs not failing, and the probes the features register (a point matched to its cell)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from citymgmt.core.outbox import OutboxMessage, oldest_pending_s
from citymgmt.core.periodic import PeriodicRun, registered_periodic
from citymgmt.core.queries import PING_SQL, POSTGIS_VERSION_SQL, REPLICA_LAG_SQL
from citymgmt.core.queue import QUEUES, backlog_age, queue_depth
from citymgmt.core.scheduler import HEARTBEAT_KEY

STALE_AFTER_INTERVALS = 3  # a periodic job with no success for this many of its intervals makes the system unwell
FAILED_JOBS_WINDOW = timedelta(hours=1)

# Probes of the features' own function, registered by them (the kernel imports no domain package): each runs the
# real code path on the request's session and raises if it is broken.
Probe = Callable[[Session], None]
_PROBES: dict[str, Probe] = {}


def health_probe(name: str) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        _PROBES[name] = fn
        return fn

    return register


def check_health(
    session: Session,
    redis: Redis,
    now: datetime,
    worker_within: float,
    scheduler_within: float,
    failed_jobs_limit: int = 10,
    replica: Engine | None = None,
    replica_max_lag_s: float = 60.0,
    backlog_limit_s: float = 120.0,
    outbox_limit_s: float = 300.0,
) -> dict[str, Any]:
    checks: dict[str, dict[str, Any]] = {}

    checks.update(_database_checks(session, outbox_limit_s))
    if replica is not None:
        checks["replica"] = _replica_check(replica, replica_max_lag_s)
    if checks["database"]["ok"]:
        checks.update(_probe_checks(session))
        checks["periodic"] = _periodic_check(session)
    try:
        redis.ping()
        checks["redis"] = {"ok": True}
        depth = queue_depth(redis)
        checks["queue"] = {"ok": True, "depth": sum(depth.values()), "queues": depth}
        checks["backlog"] = _backlog_check(redis, now, backlog_limit_s, _outbox_oldest_s(session, now, checks))
        beats = [w.last_heartbeat for w in Worker.all(connection=redis) if w.last_heartbeat is not None]
        alive = [b for b in beats if (now - b).total_seconds() <= worker_within]
        checks["worker"] = {"ok": bool(alive), "alive": len(alive)}
        if not alive:
            checks["worker"]["error"] = "no worker heartbeat" if not beats else "worker heartbeat too old"
        beat = redis.get(HEARTBEAT_KEY)
        checks["scheduler"] = {"ok": beat is not None}
        if beat is None:
            checks["scheduler"]["error"] = f"no scheduler heartbeat in the last {int(scheduler_within)} s"
        checks["jobs"] = _failed_jobs_check(redis, now, failed_jobs_limit)
    except RedisError:
        checks["redis"] = {"ok": False, "error": "unreachable"}
        for name in ("queue", "backlog", "worker", "scheduler", "jobs"):
            checks[name] = {"ok": False, "error": "Redis unreachable"}

    failing = [name for name, c in checks.items() if not c["ok"]]
    return {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks}


def _replica_check(engine: Engine, max_lag_s: float) -> dict[str, Any]:
    """The read replica (the dashboards' and metrics' reads): reachable, a standby, and not further behind its
    primary than `max_lag_s`."""
    try:
        lag = replica_lag_s(engine)
    except SQLAlchemyError:
        return {"ok": False, "error": "unreachable"}
    if lag is None:
        return {"ok": False, "error": "not a standby (CITYMGMT_REPLICA_URL names a primary)"}
    found: dict[str, Any] = {"ok": lag <= max_lag_s, "lag_s": round(lag, 1)}
    if lag > max_lag_s:
        found["error"] = f"replay {lag:.0f} s behind the primary (limit {max_lag_s:.0f} s)"
    return found


def replica_lag_s(engine: Engine) -> float | None:
    """How far the replica's replay is behind, in seconds: 0 when it has replayed all it received, None if it is
    not a standby."""
    with engine.connect() as connection:
        row = connection.execute(text(REPLICA_LAG_SQL)).one()
    if not row.standby:
        return None
    return float(row.lag_s or 0.0)


def _database_checks(session: Session, outbox_limit_s: float) -> dict[str, dict[str, Any]]:
    try:
        session.execute(text(PING_SQL))
    except SQLAlchemyError:
        session.rollback()
        return {
            "database": {"ok": False, "error": "unreachable"},
            "postgis": {"ok": False, "error": "unknown"},
        }
    checks: dict[str, dict[str, Any]] = {"database": {"ok": True}}
    try:
        version = session.execute(text(POSTGIS_VERSION_SQL)).scalar_one()
        checks["postgis"] = {"ok": True, "version": version}
    except SQLAlchemyError:
        session.rollback()
        checks["postgis"] = {"ok": False, "error": "PostGIS extension missing"}
    try:
        checks["outbox"] = _outbox_check(session, outbox_limit_s)
    except SQLAlchemyError:
        session.rollback()
        checks["outbox"] = {"ok": False, "error": "schema not migrated (run citymgmt db upgrade)"}
    session.rollback()
    return checks


def _outbox_check(session: Session, limit_s: float) -> dict[str, Any]:
    """The outbox's rows not done: `pending` (not yet relayed to Redis) and `overdue`, never tried though written
    more than `limit_s` ago (in the database's clock). An overdue row is work that should have run: Redis or the
    workers away (their own checks say so too), the workers far behind, or a job Redis lost (the reconcile
    re-delivers it). Rows tried and failing are the retries' and the `jobs` check's."""
    never_tried = OutboxMessage.attempts == 0
    row = session.execute(
        select(
            func.count().filter(OutboxMessage.enqueued_at.is_(None)).label("pending"),
            func.count()
            .filter(never_tried, OutboxMessage.created_at < func.now() - timedelta(seconds=limit_s))
            .label("overdue"),
            func.extract("epoch", func.now() - func.min(OutboxMessage.created_at).filter(never_tried)).label("oldest"),
        ).where(OutboxMessage.done_at.is_(None))
    ).one()
    check: dict[str, Any] = {
        "ok": not row.overdue,
        "pending": row.pending,
        "overdue": row.overdue,
        "oldest_untried_s": round(float(row.oldest or 0.0), 1),
        "limit_s": limit_s,
    }
    if row.overdue:
        check["error"] = (
            f"{row.overdue} background job(s) written more than {int(limit_s)} s ago not yet tried (the oldest"
            f" {int(check['oldest_untried_s'])} s): queues, workers or Redis"
        )
    return check


def _probe_checks(session: Session) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    for name, probe in _PROBES.items():
        try:
            with session.begin_nested():
                probe(session)
            checks[name] = {"ok": True}
        except Exception as exc:  # whatever breaks the feature: named, without internals (the savepoint is undone)
            checks[name] = {"ok": False, "error": f"probe failed ({type(exc).__name__})"}
    return checks


def _periodic_check(session: Session) -> dict[str, Any]:
    """Each periodic job's last success; unwell when one has not succeeded for STALE_AFTER_INTERVALS of its
    intervals, or has only failed so far. A job not run yet (the system just started) is said, not counted."""
    try:
        db_now = session.execute(select(func.now())).scalar_one()
        runs = {r.name: r for r in session.execute(select(PeriodicRun)).scalars()}
    except SQLAlchemyError:
        session.rollback()
        return {"ok": False, "error": "schema not migrated (run citymgmt db upgrade)"}
    jobs: dict[str, dict[str, Any]] = {}
    problems = []
    for name, p in sorted(registered_periodic().items()):
        run = runs.get(name)
        job: dict[str, Any] = {"every_s": p.every}
        if run is not None:
            job |= {
                "last_success_at": run.last_success_at.isoformat() if run.last_success_at else None,
                "last_failure_at": run.last_failure_at.isoformat() if run.last_failure_at else None,
                "failures_in_a_row": run.failures,
            }
        limit = STALE_AFTER_INTERVALS * p.every
        if run is None or (run.last_success_at is None and not run.failures):
            job["state"] = "not run yet"
        elif run.last_success_at is None:
            job["state"] = "failing"
            problems.append(f"{name} has never succeeded ({run.failures} failures)")
        elif (age := (db_now - run.last_success_at).total_seconds()) > limit:
            job["state"] = "late"
            problems.append(f"{name} has not succeeded for {int(age)} s (every {p.every} s)")
        else:
            job["state"] = "ok"
        jobs[name] = job
    check: dict[str, Any] = {"ok": not problems, "jobs": jobs}
    if problems:
        check["error"] = "; ".join(problems)
    return check


def _outbox_oldest_s(session: Session, now: datetime, checks: dict[str, dict[str, Any]]) -> float:
    """How long the oldest outbox row not yet relayed has waited (0 if the outbox cannot be read: said elsewhere)."""
    if not checks.get("outbox", {}).get("ok"):
        return 0.0
    try:
        return oldest_pending_s(session, now)
    except SQLAlchemyError:
        session.rollback()
        return 0.0
    finally:
        session.rollback()


def _backlog_check(redis: Redis, now: datetime, limit_s: float, outbox_s: float) -> dict[str, Any]:
    """How long the oldest queued job has waited, or the oldest outbox row not yet relayed (notices wait there while
    the queue is full enough, outbox.RELAY_AHEAD): past the limit the workers are behind (notices go out late)."""
    ages = backlog_age(redis, now)
    oldest = max([*ages.values(), outbox_s])
    check: dict[str, Any] = {
        "ok": oldest <= limit_s,
        "oldest_s": round(oldest, 1),
        "limit_s": limit_s,
        "queues": {name: round(age, 1) for name, age in ages.items()},
        "outbox_s": round(outbox_s, 1),
    }
    if oldest > limit_s:
        check["error"] = f"the oldest queued job has waited {int(oldest)} s (limit {int(limit_s)} s): add workers"
    return check


def _failed_jobs_check(redis: Redis, now: datetime, limit: int) -> dict[str, Any]:
    """The background jobs that failed for good in the last hour (retries exhausted), by kind."""
    since = now - FAILED_JOBS_WINDOW
    by_kind: dict[str, int] = {}
    recent = 0
    for name in QUEUES:
        ids = FailedJobRegistry(name, connection=redis).get_job_ids()
        for job in Job.fetch_many(ids, connection=redis):
            if job is None or job.ended_at is None or job.ended_at < since:
                continue
            recent += 1
            kind = _job_kind(job)
            by_kind[kind] = by_kind.get(kind, 0) + 1
    check: dict[str, Any] = {"ok": recent < limit, "failed_last_hour": recent, "by_kind": by_kind}
    if recent >= limit:
        check["error"] = f"{recent} jobs failed in the last hour (limit {limit})"
    return check


def _job_kind(job: Job) -> str:
    """periodic-sla-sweep-1764998400 → periodic:sla-sweep; outbox-17 → outbox; else the function's name."""
    if job.id.startswith("periodic-"):
        return "periodic:" + job.id.removeprefix("periodic-").rsplit("-", 1)[0]
    if job.id.startswith("outbox-"):
        return "outbox"
    return (job.func_name or "?").rsplit(".", 1)[-1]
