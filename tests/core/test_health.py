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


# -- the system's function, not only its liveness ------------------------------------------------------------


def live_worker_and_scheduler(app: Flask, redis) -> SimpleWorker:  # type: ignore[no-untyped-def]
    worker = SimpleWorker([get_queue("default", connection=redis)], connection=redis)
    worker.register_birth()
    worker.heartbeat()
    Scheduler(redis, app.config["SQLALCHEMY_DATABASE_URI"], heartbeat_ttl=30).tick(SystemClock().now())
    return worker


def test_a_broken_sla_sweep_makes_health_fail_naming_it(
    app: Flask, client, redis, db_session, run_jobs, clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import text

    from citymgmt.core import periodic
    from citymgmt.core.periodic import Periodic, enqueue_due
    from tests.conftest import clear_failed_jobs

    worker = live_worker_and_scheduler(app, redis)
    try:
        enqueue_due(redis, clock.now())
        run_jobs()  # every periodic job once, successfully
        body = client.get("/healthz").get_json()
        assert body["failing"] == [], body
        assert body["checks"]["periodic"]["jobs"]["sla-sweep"]["state"] == "ok"
        assert body["checks"]["matching"] == {"ok": True}

        # The sweep breaks (as it did when jobs were handed the scoped session): each run fails.
        def broken(session, now, settings):  # type: ignore[no-untyped-def]
            raise AttributeError("'scoped_session' object has no attribute 'get_transaction'")

        sweep = periodic._PERIODIC["sla-sweep"]
        monkeypatch.setitem(periodic._PERIODIC, "sla-sweep", Periodic(sweep.name, sweep.every, broken, sweep.queue))
        for minute in range(1, 4):
            enqueue_due(redis, clock.now() + timedelta(minutes=minute))
            run_jobs()
        # Its last success is now more than three sweep intervals ago.
        db_session.execute(
            text("UPDATE periodic_runs SET last_success_at = now() - interval '181 seconds' WHERE name = 'sla-sweep'")
        )
        db_session.commit()
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 503
        assert body["failing"] == ["periodic"]
        assert body["checks"]["periodic"]["error"].startswith("sla-sweep has not succeeded for 18")
        assert body["checks"]["periodic"]["jobs"]["sla-sweep"]["failures_in_a_row"] == 3
        assert "periodic" in body["error"]["message"]
        assert "get_transaction" not in response.get_data(as_text=True)  # no internals
        assert len(clear_failed_jobs(redis)) == 3
    finally:
        worker.register_death()


def test_jobs_that_keep_failing_make_health_fail(app: Flask, client, redis, db_session, run_jobs, clock) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.queue import get_queue
    from tests.conftest import clear_failed_jobs
    from tests.jobs_for_tests import explode

    worker = live_worker_and_scheduler(app, redis)
    try:
        queue = get_queue("default", connection=redis)
        limit = app.extensions["citymgmt.settings"].health_failed_jobs_limit
        for n in range(limit - 1):  # jobs with no retries: each fails for good at once
            queue.enqueue(explode, n, job_id=f"t-fail-{n}")
        run_jobs()
        body = client.get("/healthz").get_json()
        assert body["failing"] == [] and body["checks"]["jobs"]["failed_last_hour"] == limit - 1
        queue.enqueue(explode, limit, job_id="t-fail-last")
        run_jobs()
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 503 and "jobs" in body["failing"]
        assert body["checks"]["jobs"]["by_kind"] == {"explode": 10}
        assert body["checks"]["jobs"]["error"] == "10 jobs failed in the last hour (limit 10)"
        clear_failed_jobs(redis)
    finally:
        worker.register_death()


def test_a_broken_point_match_makes_health_fail(app: Flask, client, redis, db_session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    worker = live_worker_and_scheduler(app, redis)
    try:
        # What intake would meet: the cells' table (or PostGIS under it) not usable by the matching statement.
        db_session.execute(text("ALTER TABLE grid_cells RENAME TO grid_cells_away"))
        db_session.commit()  # (inside the test's transaction, rolled back at its end)
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 503
        assert "matching" in body["failing"]
        assert body["checks"]["matching"] == {"ok": False, "error": "probe failed (ProgrammingError)"}
    finally:
        worker.register_death()


def test_the_backlog_age_is_told_and_past_its_limit_unwell(app: Flask, client, redis) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from citymgmt.core.queue import job_options
    from tests.jobs_for_tests import explode

    worker = live_worker_and_scheduler(app, redis)
    try:
        body = client.get("/healthz").get_json()
        backlog = body["checks"]["backlog"]  # the periodic jobs the scheduler's tick just queued, and nothing else
        assert backlog["ok"] and backlog["oldest_s"] < 30 and backlog["limit_s"] == 120.0, backlog
        assert backlog["queues"]["default"] == 0.0 and set(backlog["queues"]) == {"high", "default", "low"}
        assert backlog["outbox_s"] == 0.0  # nothing waiting to be relayed
        now = SystemClock().now()
        queue = get_queue("default", connection=redis)
        # A backlog whose oldest job has waited 200 s, with a retry just put at its front (it ran before, and was
        # queued now): the age is the oldest job's, not the head's.
        oldest = queue.enqueue(explode, 1, job_id="t-oldest", **job_options())
        oldest.enqueued_at = now - timedelta(seconds=200)
        oldest.save()
        queue.enqueue(explode, 2, job_id="t-newer", **job_options())
        retry = queue.enqueue(explode, 3, job_id="t-retry", at_front=True, **job_options())
        retry.ended_at = now - timedelta(seconds=10)
        retry.save()
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 503 and body["failing"] == ["backlog"], body
        backlog = body["checks"]["backlog"]
        assert 200 <= backlog["oldest_s"] == backlog["queues"]["default"] < 230
        assert backlog["error"].startswith("the oldest queued job has waited 2")
        assert "backlog" in body["error"]["message"]
        queue.remove("t-oldest")  # what is left waited a moment: well again
        body = client.get("/healthz").get_json()
        assert body["failing"] == [] and body["checks"]["backlog"]["oldest_s"] < 30
    finally:
        worker.register_death()


def test_work_written_long_ago_and_never_tried_makes_health_fail(app: Flask, client, redis, db_session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from citymgmt.core import outbox

    worker = live_worker_and_scheduler(app, redis)
    try:
        message_id = outbox.add_job(db_session, "test.record_effect", note="lost").id
        db_session.commit()
        body = client.get("/healthz").get_json()
        assert body["failing"] == [], body
        assert body["checks"]["outbox"] | {"oldest_untried_s": 0} == {
            "ok": True,
            "pending": 1,
            "overdue": 0,
            "oldest_untried_s": 0,
            "limit_s": 300.0,
        }
        # As a job Redis lost: relayed six minutes ago and never tried since.
        db_session.execute(
            text("UPDATE outbox SET created_at = now() - interval '360 seconds', enqueued_at = now() WHERE id = :id"),
            {"id": message_id},
        )
        db_session.commit()
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 503 and body["failing"] == ["outbox"], body
        check = body["checks"]["outbox"]
        assert check["overdue"] == 1 and check["pending"] == 0 and 360 <= check["oldest_untried_s"] < 420
        assert check["error"].startswith("1 background job(s) written more than 300 s ago not yet tried (the oldest 3")
        assert "outbox" in body["error"]["message"]
        # Tried (a failing job is the retries' and the jobs check's to tell): well again.
        db_session.execute(text("UPDATE outbox SET attempts = 1 WHERE id = :id"), {"id": message_id})
        db_session.commit()
        assert client.get("/healthz").get_json()["failing"] == []
    finally:
        worker.register_death()
