"""The outbox: work is enqueued only after commit, never lost while Redis is down, and takes effect once."""

from __future__ import annotations

import pytest
import redis as redis_lib
from rq.job import Job
from sqlalchemy import select, text

from citymgmt.core import outbox
from citymgmt.core.outbox import OutboxMessage
from tests.jobs_for_tests import EFFECTS_DDL


@pytest.fixture
def effects(db_session):  # type: ignore[no-untyped-def]
    db_session.execute(text(EFFECTS_DDL))

    def notes() -> list[str]:
        return list(db_session.execute(text("SELECT note FROM test_effects ORDER BY id")).scalars())

    return notes


def test_committed_job_is_relayed_and_runs_once(db_session, redis, run_jobs, effects, clock) -> None:  # type: ignore[no-untyped-def]
    message_id = outbox.add_job(db_session, "test.record_effect", note="one").id
    db_session.commit()
    assert run_jobs() == 1
    assert effects() == ["one"]
    message = db_session.get_one(OutboxMessage, message_id)  # the job's session is gone with its objects
    assert message.enqueued_at == clock.now() and message.done_at is not None and message.attempts == 1
    # Nothing left to relay, nothing runs twice.
    assert run_jobs() == 0
    assert effects() == ["one"]


def test_rolled_back_job_never_reaches_the_queue(db_session, redis, run_jobs, effects) -> None:  # type: ignore[no-untyped-def]
    db_session.commit()
    outbox.add_job(db_session, "test.record_effect", note="never")
    db_session.rollback()
    assert run_jobs() == 0
    assert effects() == []
    assert redis.keys("rq:job:*") == []


def test_a_job_delivered_twice_takes_effect_once(db_session, redis, run_jobs, effects) -> None:  # type: ignore[no-untyped-def]
    message_id = outbox.add_job(db_session, "test.record_effect", note="once").id
    db_session.commit()
    run_jobs()
    # As if the relay had crashed after enqueueing but before recording it: the same row delivered again.
    assert outbox.run_message(message_id) == "already done"
    assert effects() == ["once"]


def test_redis_down_means_work_waits(db_session, redis, run_jobs, effects, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outbox.add_job(db_session, "test.record_effect", note="waits")
    db_session.commit()
    gone = redis_lib.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), socket_connect_timeout=1)
    with pytest.raises(redis_lib.ConnectionError):
        outbox.relay(db_session, gone, clock.now())
    pending = db_session.execute(select(OutboxMessage).where(OutboxMessage.enqueued_at.is_(None))).scalars().all()
    assert [m.args for m in pending] == [{"note": "waits"}]
    # Redis is back: the row goes out and runs.
    assert run_jobs() == 1
    assert effects() == ["waits"]


def test_a_failing_job_is_recorded_and_its_effects_rolled_back(db_session, redis, run_jobs, effects) -> None:  # type: ignore[no-untyped-def]
    message_id = outbox.add_job(db_session, "test.fail", note="half-done").id
    db_session.commit()
    run_jobs()
    assert effects() == []  # the job's own writes went with its transaction
    message = db_session.get_one(OutboxMessage, message_id)
    assert message.done_at is None and message.attempts == 1
    assert message.last_error == "RuntimeError: failing on purpose: half-done"
    job = Job.fetch(f"outbox-{message_id}", connection=redis)
    assert job.get_status() == "scheduled"  # retried later with backoff


def test_a_due_retry_runs_before_the_backlog(db_session, redis, run_jobs, effects) -> None:  # type: ignore[no-untyped-def]
    """A retry due in 10 s must not wait behind the jobs queued meanwhile (issue 25: one ran 4 min 38 s late)."""
    from datetime import UTC, datetime

    from rq.registry import ScheduledJobRegistry

    message_id = outbox.add_job(db_session, "test.fail_once", note="retried").id
    db_session.commit()
    run_jobs()  # the first attempt fails: the job waits its 10 s in the scheduled registry
    assert Job.fetch(f"outbox-{message_id}", connection=redis).get_status() == "scheduled"
    for n in range(30):
        outbox.add_job(db_session, "test.record_effect", note=f"backlog-{n}")
    db_session.commit()
    # The 10 s have passed (said to Redis, whose registry RQ's scheduler reads by the wall clock), and the backlog
    # was relayed meanwhile.
    registry = ScheduledJobRegistry("default", connection=redis)
    registry.schedule(Job.fetch(f"outbox-{message_id}", connection=redis), datetime.now(UTC))
    assert run_jobs() == 30  # relayed: 30 queued; the worker's RQ scheduler then puts the due retry in front
    assert effects() == ["retried"] + [f"backlog-{n}" for n in range(30)]
    assert db_session.get_one(OutboxMessage, message_id).attempts == 2


def test_lost_jobs_are_delivered_again(db_session, redis, run_jobs, effects, clock) -> None:  # type: ignore[no-untyped-def]
    outbox.add_job(db_session, "test.record_effect", note="lost")
    db_session.commit()
    outbox.relay(db_session, redis, clock.now())
    redis.flushdb()  # Redis crashed and came back without the job
    clock.advance(minutes=11)
    assert outbox.reconcile(db_session, redis, clock.now()) == 1
    assert run_jobs() == 1
    assert effects() == ["lost"]


def test_jobs_left_queued_in_no_queue_are_delivered_again(db_session, redis, run_jobs, effects, clock) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.dequeue import claimed_key
    from citymgmt.core.queue import get_queue
    from citymgmt.core.worker import CitymgmtWorker

    popped = outbox.add_job(db_session, "test.record_effect", note="popped as Redis stopped").id
    taken = outbox.add_job(db_session, "test.record_effect", note="taken by a worker").id
    waiting = outbox.add_job(db_session, "test.record_effect", note="waiting").id
    db_session.commit()
    outbox.relay(db_session, redis, clock.now())
    # RQ's own dequeue popped the first (its hash still "queued") and its worker lost Redis; a worker has the second
    # in its claimed list; the third waits in its queue.
    assert redis.lpop("rq:queue:default") == f"outbox-{popped}".encode()
    assert redis.lpop("rq:queue:default") == f"outbox-{taken}".encode()
    worker = CitymgmtWorker([get_queue("default", connection=redis)], connection=redis, name="a-worker")
    worker.register_birth()
    redis.rpush(claimed_key("a-worker"), f"outbox-{taken}")
    clock.advance(minutes=11)
    assert outbox.reconcile(db_session, redis, clock.now()) == 1
    assert db_session.get_one(OutboxMessage, popped).enqueued_at is None
    assert db_session.get_one(OutboxMessage, taken).enqueued_at is not None
    assert db_session.get_one(OutboxMessage, waiting).enqueued_at is not None
    redis.delete(worker.key)  # that worker killed: its registration lapses with its heartbeat
    run_jobs()  # the first relayed again; the worker's maintenance puts the second back
    assert sorted(effects()) == ["popped as Redis stopped", "taken by a worker", "waiting"]


def test_unknown_job_or_queue_is_refused(db_session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown job 'nope'"):
        outbox.add_job(db_session, "nope")
    with pytest.raises(ValueError, match="unknown queue 'fast'"):
        outbox.add_job(db_session, "test.record_effect", queue="fast", note="x")


def test_a_batch_runs_its_rows_once_and_its_retry_only_the_failed(db_session, redis, run_jobs, effects) -> None:  # type: ignore[no-untyped-def]
    """Rows of a job with a batch function share one RQ job; a failed row leaves no effect and its error on its row,
    and the batch's retry runs it alone (issue 25: the notices' deliveries)."""
    from datetime import UTC, datetime

    from rq.registry import ScheduledJobRegistry

    ids = [outbox.add_job(db_session, "test.batch_effect", note=note).id for note in ("a", "fail-b", "c", "fail-d")]
    db_session.commit()
    assert run_jobs() == 4
    assert effects() == ["a", "c"]
    rows = {m.id: m for m in db_session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).scalars()}
    assert {m.rq_job for m in rows.values()} == {f"outbox-batch-{ids[0]}"}, "one RQ job for the four"
    assert [(rows[i].done_at is not None, rows[i].attempts) for i in ids] == [(True, 1), (False, 1)] * 2
    assert rows[ids[1]].last_error == "RuntimeError: failing the first attempt on purpose: fail-b"
    job = Job.fetch(f"outbox-batch-{ids[0]}", connection=redis)
    assert job.get_status() == "scheduled", "retried with RQ's backoff"

    ScheduledJobRegistry("default", connection=redis).schedule(job, datetime.now(UTC))  # its 10 s have passed
    run_jobs()
    assert effects() == ["a", "c", "fail-b", "fail-d"], "the retry ran the failed rows, and only them"
    db_session.expire_all()
    rows = {m.id: m for m in db_session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).scalars()}
    assert [(rows[i].done_at is not None, rows[i].attempts, rows[i].last_error) for i in ids] == [
        (True, 1, None),
        (True, 2, None),
    ] * 2


def test_a_batch_row_is_redelivered_only_when_its_batch_is_lost(db_session, redis, run_jobs, effects, clock) -> None:  # type: ignore[no-untyped-def]
    for note in ("x", "y"):
        outbox.add_job(db_session, "test.batch_effect", note=note)
    db_session.commit()
    outbox.relay(db_session, redis, clock.now())
    clock.advance(minutes=11)
    assert outbox.reconcile(db_session, redis, clock.now()) == 0, "its batch's job is still queued"
    redis.flushdb()  # Redis crashed and came back without the batch's job
    assert outbox.reconcile(db_session, redis, clock.now()) == 2
    assert run_jobs() == 2
    assert effects() == ["x", "y"]


def test_batch_rows_wait_in_the_outbox_while_their_queue_is_full(db_session, redis, run_jobs, effects, clock) -> None:  # type: ignore[no-untyped-def]
    """A worker behind: rows of batch jobs are not relayed a few at a time behind the queued jobs, they wait in
    PostgreSQL and go as one batch once the worker has taken what it had; other jobs are relayed as ever."""
    from datetime import timedelta

    for n in range(outbox.RELAY_AHEAD):
        outbox.add_job(db_session, "test.record_effect", note=f"ahead-{n}")
    db_session.commit()
    assert outbox.relay_pending(redis, clock.now()) == (outbox.RELAY_AHEAD, 0)
    ids = [outbox.add_job(db_session, "test.batch_effect", note=f"batch-{n}").id for n in range(3)]
    outbox.add_job(db_session, "test.record_effect", note="single")
    db_session.commit()
    assert outbox.relay_pending(redis, clock.now()) == (1, 3), "the single job moved, the batch's rows held"
    created = db_session.get_one(OutboxMessage, ids[0]).created_at
    assert outbox.oldest_pending_s(db_session, created + timedelta(seconds=5)) == 5.0, "part of the backlog's age"

    assert run_jobs() == outbox.RELAY_AHEAD + 1 + 3
    assert effects() == [f"ahead-{n}" for n in range(outbox.RELAY_AHEAD)] + ["single", "batch-0", "batch-1", "batch-2"]
    rows = db_session.execute(select(OutboxMessage.rq_job, OutboxMessage.done_at).where(OutboxMessage.id.in_(ids)))
    assert {(job, done is not None) for job, done in rows} == {(f"outbox-batch-{ids[0]}", True)}


def test_a_redis_started_again_without_its_last_jobs_has_them_back_at_once(
    app, db_session, effects, clock, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.queue import QUEUES, get_queue
    from citymgmt.core.scheduler import Scheduler
    from citymgmt.core.worker import CitymgmtWorker
    from citymgmt.local import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis")  # persistent, as `make run` has it
    server.up()
    connection = redis_lib.Redis.from_url(server.url(0), socket_timeout=5)
    try:
        scheduler = Scheduler(connection, app.config["SQLALCHEMY_DATABASE_URI"], heartbeat_ttl=30)
        outbox.add_job(db_session, "test.record_effect", note="given just before the crash")
        db_session.commit()
        scheduler.tick(clock.now())  # relayed
        assert get_queue("default", connection=connection).count == 1
        # Redis crashes within a second of taking the job (its append-only file written every second): it comes
        # back without it, and the row says it was enqueued.
        connection.flushdb()
        server.down()
        server.up()
        clock.advance(seconds=2)
        scheduler.tick(clock.now())  # a Redis it has not seen: reconciled at once, and the row relayed again
        assert get_queue("default", connection=connection).count == 1
        scheduler.tick(clock.now())  # the same Redis: nothing more
        assert get_queue("default", connection=connection).count == 1
        queues = [get_queue(n, connection=connection) for n in QUEUES]
        CitymgmtWorker(queues, connection=connection).work(burst=True)
        assert effects() == ["given just before the crash"]
    finally:
        connection.close()
        server.down()
