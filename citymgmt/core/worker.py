"""The RQ worker process, with what a Flask-SQLAlchemy app needs around it."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Worker
from sqlalchemy.orm import configure_mappers

from citymgmt.core.db import db
from citymgmt.core.queue import QUEUES, get_queue

log = logging.getLogger(__name__)


# A job whose worker died (SIGKILL, power loss) stays "started" until its heartbeat lapses; the registries'
# maintenance then retries it (RQ's StartedJobRegistry.cleanup). RQ's defaults make that up to 90 s + 10 min;
# here the heartbeat comes every JOB_HEARTBEAT_SECONDS and lapses ABANDONED_AFTER_SECONDS later, and maintenance
# runs every `worker_maintenance_seconds`. A job wrongly judged abandoned is harmless: outbox jobs take effect once.
JOB_HEARTBEAT_SECONDS = 10
ABANDONED_AFTER_SECONDS = 20


class CitymgmtWorker(Worker):
    """Each job gets a fresh session: it is removed after the job, whatever happened."""

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        if job.timeout and job.timeout > 0:
            remaining = job.timeout - working_time
            return int(min(remaining, self.job_monitoring_interval)) + ABANDONED_AFTER_SECONDS
        return self.job_monitoring_interval + ABANDONED_AFTER_SECONDS

    def perform_job(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().perform_job(*args, **kwargs)
        finally:
            db.session.remove()


WORKER_TTL = 40  # the worker's heartbeat comes at least every WORKER_TTL - 15 s while idle


def run_worker(redis_url: str, burst: bool = False, name: str | None = None, maintenance_seconds: int = 60) -> None:
    # A blocking dequeue waits up to WORKER_TTL - 15 s: the socket timeout must be longer than that.
    redis = Redis.from_url(redis_url, socket_timeout=WORKER_TTL + 15, socket_connect_timeout=5)
    # Connections must never be shared across a fork: the work horse drops the pool it inherited.
    engines = list(db.engines.values())

    def drop_inherited_pools() -> None:
        for engine in engines:
            engine.dispose(close=False)

    os.register_at_fork(after_in_child=drop_inherited_pools)
    # Each job runs in a fork of this process: what is built here once (the mappers' configuration) every job
    # inherits, instead of building it again in each fork and throwing it away.
    configure_mappers()
    while True:
        try:
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
            log.warning("worker waiting for Redis: %s", exc)
            time.sleep(2)
