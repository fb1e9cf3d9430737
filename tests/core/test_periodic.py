"""Periodic jobs: each slot is enqueued once however many schedulers run, and each job, run by the worker class
`citymgmt worker` runs, succeeds and has its effect: a light moved, a roll-up written, a lost job re-delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citymgmt.core import outbox
from citymgmt.core.outbox import OutboxMessage
from citymgmt.core.periodic import Periodic, PeriodicRun, enqueue_due, registered_periodic, slot_of
from tests.conftest import clear_failed_jobs
from tests.jobs_for_tests import EFFECTS_DDL

GARBAGE = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "暴露垃圾"}  # 4 working hours


def test_each_slot_is_enqueued_once_across_schedulers(redis, clock) -> None:  # type: ignore[no-untyped-def]
    first = enqueue_due(redis, clock.now())
    second = enqueue_due(redis, clock.now())  # another scheduler, same moment
    assert "outbox-reconcile" in registered_periodic()
    every = registered_periodic()["outbox-reconcile"].every
    assert f"periodic-outbox-reconcile-{slot_of(clock.now(), every)}" in first
    assert second == []
    later = enqueue_due(redis, clock.now() + timedelta(seconds=every))
    assert f"periodic-outbox-reconcile-{slot_of(clock.now(), every) + every}" in later


def runs(session: Session) -> dict[str, PeriodicRun]:
    return {r.name: r for r in session.execute(select(PeriodicRun)).scalars()}


@pytest.mark.usefixtures("beijing")
def test_every_periodic_job_succeeds_and_has_its_effect(  # type: ignore[no-untyped-def]
    db_session: Session, redis, run_jobs, clock, client, token_for
) -> None:
    db_session.execute(text(EFFECTS_DDL))
    reported = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector"))
    assert reported.status_code == 201
    case_id = reported.get_json()["id"]
    # A job the relay handed to Redis, then lost there (a Redis crash): reconcile must deliver it again.
    lost_id = outbox.add_job(db_session, "test.record_effect", note="lost").id
    db_session.commit()
    run_jobs()
    Job.fetch(f"outbox-{lost_id}", connection=redis).delete()
    db_session.execute(text("UPDATE outbox SET done_at = NULL WHERE id = :id"), {"id": lost_id})
    db_session.execute(text("DELETE FROM test_effects"))
    db_session.commit()

    clock.advance(hours=30)  # past the case's deadline (4 working hours) and the reconcile's 10 minutes
    enqueued = enqueue_due(redis, clock.now())
    assert len(enqueued) == len(registered_periodic()) == 4
    assert run_jobs() >= 4  # through the worker class of `citymgmt worker`; a failed job fails the test

    done = runs(db_session)
    assert set(done) == set(registered_periodic())
    assert all(r.last_success_at is not None and r.failures == 0 and r.last_failure_at is None for r in done.values())
    light, actions = db_session.execute(
        text(
            "SELECT c.light, array_agg(e.action ORDER BY e.id) FROM cases c JOIN case_events e ON e.case_id = c.id"
            " WHERE c.id = :id GROUP BY c.light"
        ),
        {"id": case_id},
    ).one()
    assert light == "red" and "overdue" in actions  # warned and overdue at once: one move
    assert db_session.execute(text("SELECT count(*) FROM metric_days")).scalar_one() > 0
    builds = dict(db_session.execute(text("SELECT name, built_at FROM metric_builds")).all())
    grid = builds.pop("analysis-grid")  # the kept neighbourhoods: as of the grid's last change
    assert set(builds.values()) == {clock.now()} and len(builds) == 2  # the metrics' and the analyses' roll-ups
    assert grid is not None and db_session.execute(text("SELECT count(*) FROM analysis_cells")).scalar_one() > 0
    reported_today = (
        "SELECT sum(reported) FROM analysis_days WHERE cell_code = (SELECT cell_code FROM cases WHERE id = :id)"
    )
    assert db_session.execute(text(reported_today), {"id": case_id}).scalar_one() == 1
    assert db_session.get_one(OutboxMessage, lost_id).enqueued_at is None  # handed back to the relay
    run_jobs()
    assert db_session.execute(text("SELECT note FROM test_effects")).scalars().all() == ["lost"]


def test_a_failing_periodic_job_is_recorded_and_counted(  # type: ignore[no-untyped-def]
    db_session: Session, redis, run_jobs, clock, monkeypatch
) -> None:
    from citymgmt.core import periodic

    def broken(session: Session, now: object, settings: object) -> None:
        session.execute(text("SELECT 1"))
        raise RuntimeError("broken on purpose")

    sweep = periodic._PERIODIC["sla-sweep"]
    monkeypatch.setitem(periodic._PERIODIC, "sla-sweep", Periodic(sweep.name, sweep.every, broken, sweep.queue))
    for minute in range(2):
        enqueue_due(redis, clock.now() + timedelta(minutes=minute))
        run_jobs()
    failed = clear_failed_jobs(redis)
    assert any("periodic-sla-sweep" in f and "RuntimeError: broken on purpose" in f for f in failed)
    row = runs(db_session)["sla-sweep"]
    assert row.failures == 2 and row.last_success_at is None
    assert row.last_error == "RuntimeError: broken on purpose"
