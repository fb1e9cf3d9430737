"""Periodic jobs: what runs every N seconds, enqueued by the scheduler process.

Each run of a job owns a time slot (the start of its interval); the slot is claimed in Redis with SET NX, so any
number of schedulers enqueue each run once. The jobs themselves must be idempotent (they are: they take `now`
and work set-based on what changed).

Every run leaves its outcome in `periodic_runs` (the last success in the run's own transaction, a failure in a
transaction of its own), in the database's wall-clock time: /healthz reads it to say whether the jobs really work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis import Redis
from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings, current_settings
from citymgmt.core.db import db, unit_of_work
from citymgmt.core.queue import get_queue, job_options

log = logging.getLogger(__name__)


class PeriodicJob(Protocol):
    """What a periodic job is given: the run's real Session (it must not commit), the current time and the settings."""

    def __call__(self, session: Session, now: datetime, settings: Settings, /) -> object: ...


@dataclass(frozen=True)
class Periodic:
    name: str
    every: int  # seconds
    func: PeriodicJob
    queue: str = "high"


class PeriodicRun(db.Model):  # type: ignore[name-defined]
    """The last outcome of each periodic job (one row per job), for /healthz."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # in a row, since the last success


_PERIODIC: dict[str, Periodic] = {}


def periodic(name: str, every: int, queue: str = "high") -> Callable[[PeriodicJob], PeriodicJob]:
    def register(fn: PeriodicJob) -> PeriodicJob:
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
    """RQ entry point: run one slot of a periodic job in one unit of work, at the current time."""
    from citymgmt.core.clock import utcnow

    p = _PERIODIC.get(name)
    if p is None:
        raise LookupError(f"no periodic job {name!r}")
    try:
        with unit_of_work() as session:
            result = p.func(session, utcnow(), current_settings())
            _record(session, name, success=True)
        return str(result)
    except Exception as exc:
        _record_failure(name, exc)
        raise


def _record(session: Session, name: str, success: bool, error: str | None = None) -> None:
    now = func.now()  # the database's clock: health compares it with its own, whatever time the app is told
    if success:
        first: dict[str, object] = {"last_success_at": now, "failures": 0}
        again: dict[str, object] = first
    else:
        first = {"last_failure_at": now, "last_error": error, "failures": 1}
        again = {**first, "failures": PeriodicRun.failures + 1}
    statement = insert(PeriodicRun).values(name=name, **first)
    session.execute(statement.on_conflict_do_update(index_elements=[PeriodicRun.name], set_=again))


def _record_failure(name: str, exc: Exception) -> None:
    try:
        with unit_of_work() as session:
            _record(session, name, success=False, error=f"{type(exc).__name__}: {exc}"[:2000])
    except Exception:
        log.exception("periodic job %s: could not record its failure", name)
