"""Redis and RQ: one place for connections, queue names and job defaults (timeouts, retries, TTLs)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry

QUEUES = ("high", "default", "low")  # workers listen in this order

JOB_TIMEOUT = 300
RESULT_TTL = 24 * 3600
FAILURE_TTL = 14 * 24 * 3600


def job_options(**overrides: Any) -> dict[str, Any]:
    """The defaults every enqueue uses; retries back off from 10 s to 15 min."""
    options: dict[str, Any] = {
        "timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "retry": Retry(max=5, interval=[10, 30, 60, 300, 900]),
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
