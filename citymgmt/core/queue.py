"""Redis and RQ: one place for connections, queue names and job defaults (timeouts, retries, TTLs), and how long
the oldest queued job has waited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry
from rq.job import Job

QUEUES = ("high", "default", "low")  # workers listen in this order

JOB_TIMEOUT = 300
RESULT_TTL = 24 * 3600
FAILURE_TTL = 14 * 24 * 3600


RETRY_INTERVALS = [10, 30, 60, 300, 900]


def job_options(**overrides: Any) -> dict[str, Any]:
    """The defaults every enqueue uses. A failed job is retried five times, 10 s to 15 min apart; when a retry is due
    (the worker's RQ scheduler looks every second) it goes to the front of its queue, not behind the backlog, so it
    runs on time however many jobs wait."""
    options: dict[str, Any] = {
        "timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "retry": Retry(max=5, interval=RETRY_INTERVALS, enqueue_at_front=True),
    }
    options.update(overrides)
    return options


def init_redis(app: Flask, url: str) -> None:
    app.extensions["citymgmt.redis"] = Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
    )


def get_redis() -> Redis:
    redis: Redis = current_app.extensions["citymgmt.redis"]
    return redis


def get_queue(name: str = "default", connection: Redis | None = None) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUES)}")
    return Queue(name, connection=connection or get_redis())


def queue_depth(connection: Redis) -> dict[str, int]:
    return {name: Queue(name, connection=connection).count for name in QUEUES}


BACKLOG_SCAN = 100  # queued jobs looked at from a queue's head, at most, to find its oldest


def backlog_age(connection: Redis, now: datetime) -> dict[str, float]:
    """How long the oldest job waiting in each queue has waited, in seconds (0 for an empty queue).

    A queue is first in, first out, except for retries that were due, which go to its front (job_options): the oldest
    job is the first one from the head that has not run before (or, past BACKLOG_SCAN jobs, the oldest seen)."""
    ages: dict[str, float] = {}
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        oldest: datetime | None = None
        for offset in range(0, BACKLOG_SCAN, 10):
            ids = queue.get_job_ids(offset, 10)
            jobs = [j for j in Job.fetch_many(ids, connection=connection) if j is not None]
            queued = [j.enqueued_at for j in jobs if j.enqueued_at is not None]
            oldest = min([*queued, *([oldest] if oldest else [])], default=None)
            if len(ids) < 10 or any(j.ended_at is None for j in jobs):
                break
        ages[name] = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return ages
