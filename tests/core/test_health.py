"""GET /healthz: 200 only when every dependency is well, 503 naming what is not."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker

from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db
from citymgmt.core.queue import get_queue
from citymgmt.core.scheduler import Scheduler
from tests.conftest import make_test_app


def test_unready_without_worker_and_scheduler(client, redis) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["worker", "scheduler"]
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["postgis"]["version"].startswith("3.")
    assert body["error"]["code"] == "unavailable"
    assert "worker" in body["error"]["message"] and "scheduler" in body["error"]["message"]
    assert response.headers["Cache-Control"] == "no-store"


def test_healthy_with_a_live_worker_and_scheduler(app: Flask, client, redis) -> None:  # type: ignore[no-untyped-def]
    worker = SimpleWorker([get_queue("default", connection=redis)], connection=redis)
    worker.register_birth()
    worker.heartbeat()
    Scheduler(redis, app.config["SQLALCHEMY_DATABASE_URI"], heartbeat_ttl=30).tick(SystemClock().now())
    try:
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 200, body
        assert body["status"] == "ok" and body["failing"] == []
        assert body["checks"]["worker"]["alive"] == 1
        assert body["checks"]["queue"]["depth"] >= 0
    finally:
        worker.register_death()


def test_stale_worker_heartbeat_is_not_alive(client, redis) -> None:  # type: ignore[no-untyped-def]
    worker = SimpleWorker([get_queue("default", connection=redis)], connection=redis)
    worker.register_birth()
    # What a hung worker leaves behind: its registration, with a heartbeat long past.
    redis.hset(worker.key, "last_heartbeat", "2020-01-01T00:00:00.000000Z")
    try:
        body = client.get("/healthz").get_json()
        assert "worker" in body["failing"]
        assert body["checks"]["worker"]["error"] == "worker heartbeat too old"
    finally:
        worker.register_death()


def test_database_unreachable_is_named(servers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A real server that is not there: a socket directory with no PostgreSQL in it.
    dead = make_test_app(servers, f"postgresql+psycopg://citymgmt@/citymgmt?host={tmp_path}")
    response = dead.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == {"ok": False, "error": "unreachable"}
    assert "database" in body["failing"]
    assert "psycopg" not in response.get_data(as_text=True)  # no internals


def test_redis_unreachable_is_named(servers, database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dead = make_test_app(servers, database_url, redis_url=f"unix://{tmp_path}/none.sock")
    response = dead.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"][:1] == ["redis"]
    assert body["checks"]["redis"] == {"ok": False, "error": "unreachable"}
    with dead.app_context():
        db.engine.dispose()
