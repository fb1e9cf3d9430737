"""The transactional outbox: background work is written as a row in the same transaction as the change that
caused it, and reaches Redis only after that transaction commits.

A relay (run by the scheduler process) moves committed rows into RQ with the job id `outbox-<id>`; the job
runs the registered function and marks the row done in the same transaction, so a job delivered twice (a
relay retry, a worker killed mid-job) has its effect once. Redis being down means work waits, never that it
is lost: rows stay pending until the relay succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Concatenate

from redis import Redis
from rq.job import Job
from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings, current_settings
from citymgmt.core.db import db, unit_of_work
from citymgmt.core.periodic import periodic
from citymgmt.core.queries import NOTIFY_SQL
from citymgmt.core.queue import QUEUES, get_queue, get_redis, job_options

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "citymgmt_outbox"

# What an outbox job is given: the job's real Session (it must not commit), the current time and the settings, then
# the row's arguments by name.
OutboxJob = Callable[Concatenate[Session, datetime, Settings, ...], object]

# Job name → function. Only registered functions can run: a row names a job, never an import path.
_JOBS: dict[str, OutboxJob] = {}


def job(name: str) -> Callable[[OutboxJob], OutboxJob]:
    """Register a function as an outbox job. It runs inside the job's transaction and must not commit."""

    def register(fn: OutboxJob) -> OutboxJob:
        if name in _JOBS and _JOBS[name] is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        _JOBS[name] = fn
        return fn

    return register


def registered_jobs() -> dict[str, OutboxJob]:
    return dict(_JOBS)


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    queue: Mapped[str] = mapped_column(String(20), default="default")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("enqueued_at IS NULL")),
        Index("ix_outbox_unfinished", "enqueued_at", postgresql_where=text("done_at IS NULL")),
    )


def add_job(session: Session, name: str, queue: str = "default", **args: Any) -> OutboxMessage:
    """Write a job into the caller's transaction; it is enqueued after commit (and never if rolled back)."""
    if name not in _JOBS:
        raise ValueError(f"unknown job {name!r}")
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    message = OutboxMessage(job=name, args=args, queue=queue)
    session.add(message)
    # Delivered to listeners when (and only if) the transaction commits: the relay wakes at once.
    session.execute(text(NOTIFY_SQL), {"channel": NOTIFY_CHANNEL})
    return message


RELAY_BATCH = 500


def relay_pending(redis: Redis, now: datetime) -> int:
    """Move every committed, pending row into RQ, a batch per unit of work; return how many (the scheduler's relay)."""
    moved = 0
    while True:
        with unit_of_work() as session:
            batch = relay(session, redis, now)
        moved += batch
        if batch < RELAY_BATCH:
            return moved


def relay(session: Session, redis: Redis, now: datetime, limit: int = RELAY_BATCH) -> int:
    """Move up to `limit` committed, pending rows into RQ, in the caller's transaction (they are marked enqueued
    when it commits); return how many. Safe to run in many processes. If Redis fails, this raises and the caller's
    transaction rolls back: the rows stay pending."""
    rows = [
        (message_id, queue)
        for message_id, queue in session.execute(
            select(OutboxMessage.id, OutboxMessage.queue)
            .where(OutboxMessage.enqueued_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ]
    if not rows:
        return 0
    _enqueue(redis, rows)
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r[0] for r in rows])).values(enqueued_at=now))
    return len(rows)


def _enqueue(redis: Redis, rows: Sequence[tuple[int, str]]) -> None:
    by_queue: dict[str, list[int]] = {}
    for message_id, queue_name in rows:
        by_queue.setdefault(queue_name, []).append(message_id)
    with redis.pipeline() as pipe:
        for name, ids in by_queue.items():
            queue = get_queue(name, connection=redis)
            queue.enqueue_many(
                [queue.prepare_data(run_message, args=(i,), job_id=f"outbox-{i}", **job_options()) for i in ids],
                pipeline=pipe,
            )
        pipe.execute()


def reconcile(session: Session, redis: Redis, now: datetime, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Re-deliver rows enqueued long ago, still not done, whose job Redis no longer has (lost in a Redis crash,
    or failed for good and since expired). Running them again is safe: jobs take effect once."""
    rows = session.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.enqueued_at < now - older_than)
        .order_by(OutboxMessage.id)
        .limit(1000)
        .with_for_update(skip_locked=True)
    ).scalars()
    lost = [i for i in rows if not Job.exists(f"outbox-{i}", connection=redis)]
    if lost:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(lost)).values(enqueued_at=None))
        log.warning("outbox: %d job(s) lost from Redis, re-queued: %s", len(lost), lost[:20])
    return len(lost)


@periodic("outbox-reconcile", every=300, queue="low")
def _reconcile_periodically(session: Session, now: datetime, settings: Settings) -> int:
    return reconcile(session, get_redis(), now)


# What an attempt leaves on its row until it ends: a worker killed mid-job (or its machine lost) never gets to record
# its failure, so the attempt is counted, and said to be unfinished, before it starts.
UNFINISHED = "the attempt begun at {at} has not ended: still running, or its worker stopped (killed, machine lost)"


def run_message(message_id: int) -> str:
    """The RQ entry point of every outbox job: run it once, in one unit of work with marking it done."""
    from citymgmt.core.clock import utcnow

    try:
        _begin_attempt(message_id, utcnow())
        with unit_of_work() as session:
            message = session.execute(
                select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
            ).scalar_one_or_none()
            if message is None:
                return "missing"
            if message.done_at is not None:
                return "already done"
            fn = _JOBS.get(message.job)
            if fn is None:
                raise LookupError(f"outbox {message_id}: no job registered as {message.job!r}")
            now = utcnow()
            fn(session, now, current_settings(), **message.args)
            message.done_at = utcnow()
            message.last_error = None
        return "done"
    except Exception as exc:
        _record_failure(message_id, exc)
        raise


def _begin_attempt(message_id: int, now: datetime) -> None:
    """Count the attempt in a transaction of its own, committed before the job runs (nothing if it is done)."""
    with unit_of_work() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
            .values(attempts=OutboxMessage.attempts + 1, last_error=UNFINISHED.format(at=now.isoformat()))
        )


def _record_failure(message_id: int, exc: Exception) -> None:
    try:
        with unit_of_work() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.done_at.is_(None))
                .values(last_error=f"{type(exc).__name__}: {exc}"[:2000])
            )
    except Exception:
        log.exception("outbox %s: could not record the failure", message_id)
