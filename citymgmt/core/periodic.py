"""Periodic jobs: what runs every N seconds, enqueued by the scheduler process.

Each run of a job owns a time slot (the start of its interval); the slot is claimed in Redis with SET NX, so any
number of schedulers enqueue each run once. The jobs themselves must be idempotent (they are: they take `now`
and work set-based on what changed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis

from citymgmt.core.db import db
from citymgmt.core.queue import get_queue, job_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    every: int  # seconds
    func: Callable[..., Any]  # called as func(session, now); runs in one transaction
    queue: str = "high"


_PERIODIC: dict[str, Periodic] = {}


def periodic(name: str, every: int, queue: str = "high") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _PERIODIC[name] = Periodic(name, every, fn, queue)
        return fn

    return register


def registered_periodic() -> dict[str, Periodic]:
    return dict(_PERIODIC)


def slot_of(now: datetime, every: int) -> int:
    return int(now.timestamp()) // every * every


def enqueue_due(redis: Redis, now: datetime) -> list[str]:
    """Enqueue every periodic job whose current slot nobody has claimed yet; return the job ids enqueued."""
    enqueued = []
    for p in _PERIODIC.values():
        slot = slot_of(now, p.every)
        key = f"citymgmt:periodic:{p.name}:{slot}"
        if redis.set(key, "1", nx=True, ex=max(2 * p.every, 60)):
            job_id = f"periodic-{p.name}-{slot}"
            get_queue(p.queue, connection=redis).enqueue_call(
                run_periodic, args=(p.name, slot), job_id=job_id, **job_options(retry=None, timeout=max(p.every, 60))
            )
            enqueued.append(job_id)
    return enqueued


def run_periodic(name: str, slot: int) -> str:
    """RQ entry point: run one slot of a periodic job in one transaction, at the current time."""
    from citymgmt.core.clock import utcnow

    p = _PERIODIC.get(name)
    if p is None:
        raise LookupError(f"no periodic job {name!r}")
    session = db.session
    try:
        result = p.func(session, utcnow())
        session.commit()
        return str(result)
    except Exception:
        session.rollback()
        raise
