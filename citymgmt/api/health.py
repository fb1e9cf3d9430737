"""GET /healthz: 200 only when the database, PostGIS, Redis, a worker and the scheduler are all well, and the
system works: periodic jobs succeeding on time, background jobs not failing, the features' probes passing."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from citymgmt.core.access import allow_public
from citymgmt.core.clock import SystemClock
from citymgmt.core.db import REPLICA, db
from citymgmt.core.health import check_health
from citymgmt.core.queue import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@allow_public
def healthz() -> Response:
    settings = current_app.extensions["citymgmt.settings"]
    report = check_health(
        db.session(),
        get_redis(),
        SystemClock().now(),  # heartbeats are wall-clock facts, whatever time the app is told it is
        worker_within=settings.worker_heartbeat_seconds,
        scheduler_within=settings.scheduler_heartbeat_seconds,
        failed_jobs_limit=settings.health_failed_jobs_limit,
        replica=db.engines.get(REPLICA),
        replica_max_lag_s=settings.replica_max_lag_s,
        backlog_limit_s=settings.health_backlog_seconds,
        outbox_limit_s=settings.health_outbox_seconds,
    )
    if report["failing"]:
        report["error"] = {"code": "unavailable", "message": "not ready: " + ", ".join(report["failing"])}
    response = jsonify(report)
    response.status_code = 200 if not report["failing"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response
