"""The RQ worker process, with what a Flask-SQLAlchemy app needs around it."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.worker import WorkerStatus
from sqlalchemy.orm import configure_mappers

from citymgmt.core.db import db
from citymgmt.core.dequeue import CLAIMANTS, ClaimingQueue, release_abandoned_claims, release_claimed
from citymgmt.core.queue import QUEUES, get_queue

log = logging.getLogger(__name__)


# A job whose worker died (SIGKILL, power loss) stays "started" until its heartbeat lapses; the registries'
# maintenance then retries it (RQ's StartedJobRegistry.cleanup). RQ's defaults make that up to 90 s + 10 min;
# here the heartbeat comes every JOB_HEARTBEAT_SECONDS and lapses ABANDONED_AFTER_SECONDS later, and maintenance
# runs every `worker_maintenance_seconds`. A job wrongly judged abandoned is harmless: outbox jobs take effect once.
JOB_HEARTBEAT_SECONDS = 10
ABANDONED_AFTER_SECONDS = 20


class CitymgmtWorker(SimpleWorker):
    """The worker of `citymgmt worker` and of the tests alike. Each job runs in this process (no fork per job: the
    mappers, compiled SQL and caches stay warm, at the cost of a fork's isolation: a job that crashes the
    interpreter takes the worker with it, and its job is retried as abandoned), with a fresh session removed after
    the job whatever happened. While a job runs, a thread keeps its heartbeat, as a forking worker's parent would,
    so that the job of a worker killed mid-way is found abandoned within ABANDONED_AFTER_SECONDS and retried.
    Job timeouts still apply (SIGALRM in the main thread).

    Jobs are taken into the worker's claimed list and leave it once recorded as started (citymgmt/core/dequeue.py),
    so that Redis stopping, or the worker being stopped, between the two loses none."""

    # While Redis is away the worker looks for it every 2 s (RQ doubles its wait up to 60 s, so a worker could resume
    # a minute after Redis came back).
    max_connection_wait_time = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue_class = ClaimingQueue.for_worker(self.name)

    def register_birth(self) -> None:
        super().register_birth()
        self.connection.sadd(CLAIMANTS, self.name)  # so that what it claims is found if it dies

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue=False)
        # Recorded as started (the started registry looks after it from here): out of the claimed list.
        self.connection.lrem(self.queue_class.claimed_key, 1, job.id)  # type: ignore[attr-defined]

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        release_abandoned_claims(self.connection)

    def teardown(self) -> None:
        try:  # stopped between taking a job and starting it: the job goes back to its queue
            release_claimed(self.connection, self.queue_class.claimed_key)  # type: ignore[attr-defined]
        except RedisError as exc:  # Redis away: the next worker of this name, or any worker's maintenance, does it
            log.warning("claimed jobs not released: %s", type(exc).__name__)
        super().teardown()

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        if job.timeout and job.timeout > 0:
            remaining = job.timeout - working_time
            return int(max(min(remaining, self.job_monitoring_interval), 1)) + ABANDONED_AFTER_SECONDS
        return self.job_monitoring_interval + ABANDONED_AFTER_SECONDS

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()

        def keep_heartbeat() -> None:
            while not stop.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception as exc:  # Redis away for a moment: the next beat may get through
                    log.warning("job %s: heartbeat not sent: %s", job.id, type(exc).__name__)

        beat = threading.Thread(target=keep_heartbeat, name=f"heartbeat-{job.id}", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
            db.session.remove()
        self.set_state(WorkerStatus.IDLE)


WORKER_TTL = 40  # the worker's heartbeat comes at least every WORKER_TTL - 15 s while idle


def run_worker(redis_url: str, burst: bool = False, name: str | None = None, maintenance_seconds: int = 60) -> None:
    # A blocking dequeue waits up to WORKER_TTL - 15 s: the socket timeout must be longer than that.
    redis = Redis.from_url(redis_url, socket_timeout=WORKER_TTL + 15, socket_connect_timeout=5)
    # Connections must never be shared across a fork (RQ's scheduler runs in a child process): a child drops the
    # pool it inherited.
    engines = list(db.engines.values())

    def drop_inherited_pools() -> None:
        for engine in engines:
            engine.dispose(close=False)

    os.register_at_fork(after_in_child=drop_inherited_pools)
    configure_mappers()  # once, before the first job
    # One name for the process's life, so that a worker started again after losing Redis finds what its predecessor
    # had claimed (its first dequeue releases it) instead of leaving it to the maintenance of dead workers' lists.
    name = name or uuid.uuid4().hex
    gone: CitymgmtWorker | None = None
    while True:
        worker: CitymgmtWorker | None = None
        try:
            if gone is not None:  # its death, which Redis did not take when it stopped, so that its name is free
                gone.register_death()
                gone = None
            worker = CitymgmtWorker(
                [get_queue(n, connection=redis) for n in QUEUES],
                connection=redis,
                name=name,
                worker_ttl=WORKER_TTL,
                job_monitoring_interval=JOB_HEARTBEAT_SECONDS,
                maintenance_interval=maintenance_seconds,
            )
            worker.work(with_scheduler=True, burst=burst)
            return
        except RedisConnectionError as exc:
            if burst:
                raise
            gone = worker or gone
            log.warning("worker waiting for Redis: %s", exc)
            time.sleep(2)
