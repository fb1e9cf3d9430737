"""Periodic jobs: each slot is enqueued once however many schedulers run, and runs in its own transaction."""

from __future__ import annotations

from datetime import timedelta

from citymgmt.core.periodic import enqueue_due, registered_periodic, slot_of


def test_each_slot_is_enqueued_once_across_schedulers(redis, clock) -> None:  # type: ignore[no-untyped-def]
    first = enqueue_due(redis, clock.now())
    second = enqueue_due(redis, clock.now())  # another scheduler, same moment
    assert "outbox-reconcile" in registered_periodic()
    every = registered_periodic()["outbox-reconcile"].every
    assert f"periodic-outbox-reconcile-{slot_of(clock.now(), every)}" in first
    assert second == []
    later = enqueue_due(redis, clock.now() + timedelta(seconds=every))
    assert f"periodic-outbox-reconcile-{slot_of(clock.now(), every) + every}" in later


def test_the_reconcile_job_runs(db_session, redis, run_jobs, clock) -> None:  # type: ignore[no-untyped-def]
    enqueue_due(redis, clock.now())
    assert run_jobs() >= 1
    assert redis.zcard("rq:wip:low") == 0
