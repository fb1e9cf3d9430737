"""A job taken from its queue is never lost before it starts: Redis stopping, the worker stopped or killed in that
moment, the job runs once all the same (citymgmt/core/dequeue.py)."""

from __future__ import annotations

import pytest
import redis as redis_lib
from rq import Queue
from rq.job import Job
from sqlalchemy import text

from citymgmt.core import outbox
from citymgmt.core.dequeue import claimed_key
from citymgmt.core.queue import QUEUES, get_queue
from citymgmt.core.worker import CitymgmtWorker
from citymgmt.local import EmbeddedRedis
from tests.jobs_for_tests import EFFECTS_DDL


@pytest.fixture
def effects(db_session):  # type: ignore[no-untyped-def]
    db_session.execute(text(EFFECTS_DDL))

    def notes() -> list[str]:
        return list(db_session.execute(text("SELECT note FROM test_effects ORDER BY id")).scalars())

    return notes


def _worker(connection: redis_lib.Redis, name: str | None = None) -> CitymgmtWorker:
    return CitymgmtWorker([get_queue(n, connection=connection) for n in QUEUES], connection=connection, name=name)


def _take(worker: CitymgmtWorker) -> tuple[Job, Queue]:
    """What the worker's dequeue does before it starts the job: the job and its queue."""
    taken = worker.queue_class.dequeue_any(worker.queues, None, connection=worker.connection)
    assert taken is not None
    return taken


def test_a_job_taken_as_redis_stops_runs_when_redis_is_back(db_session, effects, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = EmbeddedRedis(tmp_path / "redis")  # persistent, as `make run` has it: a stopped Redis keeps its jobs
    server.up()
    try:
        connection = redis_lib.Redis.from_url(server.url(0), socket_timeout=5)
        message_id = outbox.add_job(db_session, "test.record_effect", note="taken as Redis stopped").id
        db_session.commit()
        assert outbox.relay_pending(connection, clock.now()).moved == 1
        worker = _worker(connection)
        job, queue = _take(worker)
        assert job.id == f"outbox-{message_id}"
        assert get_queue("default", connection=connection).count == 0
        server.down()
        with pytest.raises(redis_lib.ConnectionError):  # the worker's next step, recording the job as started
            worker.execute_job(job, queue)
    except BaseException:
        server.down()
        raise
    server.up()
    try:
        # The worker starts again (`citymgmt worker` keeps its name) and finds the job it had taken.
        _worker(connection, name=worker.name).work(burst=True)
        assert effects() == ["taken as Redis stopped"]
        assert connection.llen(claimed_key(worker.name)) == 0
    finally:
        connection.close()
        server.down()


def test_a_job_taken_by_a_worker_killed_before_it_started_is_run_by_another(
    db_session, redis, run_jobs, effects, clock
) -> None:  # type: ignore[no-untyped-def]
    outbox.add_job(db_session, "test.record_effect", note="taken, worker killed")
    db_session.commit()
    outbox.relay_pending(redis, clock.now())
    killed = _worker(redis, name="killed")
    killed.register_birth()
    _take(killed)
    redis.delete(killed.key)  # killed: its registration lapses with its heartbeat
    assert get_queue("default", connection=redis).count == 0
    run_jobs()  # another worker: its maintenance releases the dead worker's claimed list
    assert effects() == ["taken, worker killed"]
    assert redis.llen(claimed_key("killed")) == 0


def test_a_worker_stopped_after_taking_a_job_puts_it_back_at_the_front(
    db_session, redis, run_jobs, effects, clock
) -> None:  # type: ignore[no-untyped-def]
    outbox.add_job(db_session, "test.record_effect", note="first")
    db_session.commit()
    outbox.relay_pending(redis, clock.now())
    stopped = _worker(redis)
    _take(stopped)
    outbox.add_job(db_session, "test.record_effect", note="second")
    db_session.commit()
    stopped.teardown()  # what the worker does when it stops (SIGTERM while idle raises in the dequeue)
    assert get_queue("default", connection=redis).count == 1
    run_jobs()
    assert effects() == ["first", "second"]


def test_a_started_job_is_never_put_back(db_session, redis, run_jobs, effects, clock) -> None:  # type: ignore[no-untyped-def]
    message_id = outbox.add_job(db_session, "test.record_effect", note="once").id
    db_session.commit()
    run_jobs()
    worker = _worker(redis, name="ran-it")
    # As if the worker had stopped just after the job started, before it left the claimed list.
    redis.rpush(claimed_key(worker.name), f"outbox-{message_id}")
    worker.teardown()
    assert get_queue("default", connection=redis).count == 0
    assert run_jobs() == 0
    assert effects() == ["once"]
