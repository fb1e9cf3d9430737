"""The transactional outbox: background work is written as a row in the same transaction as the change that
caused it, and reaches Redis only after that transaction commits.

A relay (run by the scheduler process) moves committed rows into RQ with the job id `outbox-<id>`; the job
runs the registered function and marks the row done in the same transaction, so a job delivered twice (a
relay retry, a worker killed mid-job) has its effect once. Redis being down means work waits, never that it
is lost: rows stay pending until the relay succeeds.

A job registered with a batch function (notices) is relayed several rows to an RQ job instead (`outbox-batch-<first
id>`, named on each row as `rq_job`): RQ's own bookkeeping costs as much as a delivery, so one RQ job a row could
not go past a few dozen rows a second. The batch runs in one unit of work; a row that fails leaves no effect and
makes the RQ job fail after the others are marked done, so RQ's retry (with its backoff) runs the failed rows again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Concatenate, NamedTuple

from redis import Redis
from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings, current_settings
from citymgmt.core.db import db, unit_of_work
from citymgmt.core.dequeue import never_to_run
from citymgmt.core.periodic import periodic
from citymgmt.core.queries import NOTIFY_SQL
from citymgmt.core.queue import QUEUES, get_queue, get_redis, job_options

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "citymgmt_outbox"

# What an outbox job is given: the job's real Session (it must not commit), the current time and the settings, then
# the row's arguments by name.
OutboxJob = Callable[Concatenate[Session, datetime, Settings, ...], object]

# What a batch function is given: the job's Session (it must not commit), the current time, the settings, and the
# rows' arguments by outbox id. It does every row it can and returns the ones that failed (outbox id → the error),
# of which it must leave no effect in the session.
OutboxBatch = Callable[[Session, datetime, Settings, dict[int, dict[str, Any]]], dict[int, Exception]]

# Job name → function. Only registered functions can run: a row names a job, never an import path.
_JOBS: dict[str, OutboxJob] = {}
_BATCHES: dict[str, OutboxBatch] = {}


def job(name: str, batch: OutboxBatch | None = None) -> Callable[[OutboxJob], OutboxJob]:
    """Register a function as an outbox job. It runs inside the job's transaction and must not commit. With `batch`,
    the relay hands the job's rows to that function several at a time (`run_batch`)."""

    def register(fn: OutboxJob) -> OutboxJob:
        if name in _JOBS and _JOBS[name] is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        _JOBS[name] = fn
        if batch is not None:
            _BATCHES[name] = batch
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
    rq_job: Mapped[str | None] = mapped_column(String(100))  # the batch's RQ job carrying it; None: `outbox-<id>`

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
# Rows of a job with a batch function carried by one RQ job, at most. Large enough that RQ's bookkeeping (a dozen
# round trips to Redis a job) is shared by many rows, small enough that a retry behind the batch stays on time.
JOB_BATCH = 50
# A batch is what waits to be relayed. Under a steady stream the relay, woken by every commit, would make batches
# of one or two, and a worker that fell behind would stay at one RQ job a notice; so while a queue holds RELAY_AHEAD
# jobs or more, the rows of batch jobs for it stay in PostgreSQL, gathering into full batches, until the worker has
# taken what it had (the scheduler then looks again every HELD_POLL_SECONDS).
RELAY_AHEAD = 4
HELD_POLL_SECONDS = 0.25


class Relayed(NamedTuple):
    moved: int  # rows put into RQ
    held: int  # rows of batch jobs left pending because their queue was full enough


def relay_pending(redis: Redis, now: datetime, batch: int = JOB_BATCH, ahead: int = RELAY_AHEAD) -> Relayed:
    """Move every committed, pending row into RQ, a batch per unit of work, but those held back (`ahead`); say how
    many moved and how many were held (the scheduler's relay)."""
    moved = 0
    while True:
        with unit_of_work() as session:
            done = relay(session, redis, now, batch=batch, ahead=ahead)
        moved += done.moved
        if done.moved < RELAY_BATCH:
            return Relayed(moved, done.held)


def relay(
    session: Session,
    redis: Redis,
    now: datetime,
    limit: int = RELAY_BATCH,
    batch: int = JOB_BATCH,
    ahead: int = RELAY_AHEAD,
) -> Relayed:
    """Move up to `limit` committed, pending rows into RQ, in the caller's transaction (they are marked enqueued
    when it commits). Rows of a job with a batch function go up to `batch` to an RQ job (1: each its own, as any
    other job, and never held back), and wait while their queue holds `ahead` jobs (0: never). Safe to run in many
    processes. If Redis fails, this raises and the caller's transaction rolls back: the rows stay pending."""
    rows = [
        (message_id, queue, name)
        for message_id, queue, name in session.execute(
            select(OutboxMessage.id, OutboxMessage.queue, OutboxMessage.job)
            .where(OutboxMessage.enqueued_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ]
    batched = {queue for _, queue, name in rows if name in _BATCHES} if batch > 1 and ahead > 0 else set()
    full = _full_queues(redis, batched, ahead) if batched else set()
    held = [r for r in rows if r[1] in full and r[2] in _BATCHES]
    rows = [r for r in rows if not (r[1] in full and r[2] in _BATCHES)]
    if not rows:
        return Relayed(0, len(held))
    batches = _enqueue(redis, rows, batch)
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_([r[0] for r in rows])).values(enqueued_at=now, rq_job=None)
    )
    for job_id, ids in batches.items():
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(rq_job=job_id))
    return Relayed(len(rows), len(held))


def _full_queues(redis: Redis, names: set[str], ahead: int) -> set[str]:
    """The queues among `names` that hold `ahead` jobs or more (one round trip)."""
    ordered = sorted(names)
    with redis.pipeline(transaction=False) as pipe:
        for name in ordered:
            pipe.llen(get_queue(name, connection=redis).key)
        lengths = pipe.execute()
    return {name for name, length in zip(ordered, lengths, strict=True) if length >= ahead}


def oldest_pending_s(session: Session, now: datetime) -> float:
    """How long the oldest row not yet relayed has waited, in seconds (0 if none): part of the backlog's age, since
    rows of batch jobs wait in PostgreSQL while the queue is full enough."""
    created = session.execute(
        select(OutboxMessage.created_at).where(OutboxMessage.enqueued_at.is_(None)).order_by(OutboxMessage.id).limit(1)
    ).scalar_one_or_none()
    return max((now - created).total_seconds(), 0.0) if created is not None else 0.0


def _enqueue(redis: Redis, rows: Sequence[tuple[int, str, str]], batch: int) -> dict[str, list[int]]:
    """Enqueue the rows in one round trip; return the batches' job ids with their rows."""
    singles: dict[str, list[int]] = {}
    grouped: dict[tuple[str, str], list[int]] = {}
    for message_id, queue_name, name in rows:
        if batch > 1 and name in _BATCHES:
            grouped.setdefault((queue_name, name), []).append(message_id)
        else:
            singles.setdefault(queue_name, []).append(message_id)
    batches: dict[str, tuple[str, list[int]]] = {}
    for (queue_name, _name), ids in grouped.items():
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            batches[f"outbox-batch-{chunk[0]}"] = (queue_name, chunk)
    with redis.pipeline() as pipe:
        for name in {*singles, *(q for q, _ in batches.values())}:
            queue = get_queue(name, connection=redis)
            data = [
                queue.prepare_data(run_message, args=(i,), job_id=f"outbox-{i}", **job_options())
                for i in singles.get(name, [])
            ] + [
                queue.prepare_data(run_batch, args=(ids,), job_id=job_id, **job_options())
                for job_id, (q, ids) in batches.items()
                if q == name
            ]
            queue.enqueue_many(data, pipeline=pipe)
        pipe.execute()
    return {job_id: ids for job_id, (_q, ids) in batches.items()}


def reconcile(session: Session, redis: Redis, now: datetime, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Re-deliver rows enqueued long ago, still not done, whose job Redis no longer has (lost in a Redis crash,
    or failed for good and since expired) or will never run (left "queued" in no queue, see
    citymgmt/core/dequeue.py). Running them again is safe: jobs take effect once."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.rq_job)
        .where(OutboxMessage.done_at.is_(None), OutboxMessage.enqueued_at < now - older_than)
        .order_by(OutboxMessage.id)
        .limit(1000)
        .with_for_update(skip_locked=True)
    ).all()
    job_of = {i: rq_job or f"outbox-{i}" for i, rq_job in rows}
    stranded = never_to_run(redis, sorted(set(job_of.values()))) if job_of else set()
    lost = [i for i, job in job_of.items() if job in stranded]
    if lost:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(lost)).values(enqueued_at=None))
        log.warning("outbox: %d job(s) lost in Redis, re-queued: %s", len(lost), lost[:20])
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


class BatchFailed(Exception):
    """Some rows of a batch failed (each one's error is on its row); RQ retries the batch, which runs them alone."""


def run_batch(message_ids: list[int]) -> str:
    """The RQ entry point of a batch (rows of one job with a batch function): every row not yet done, in one unit of
    work with marking the delivered ones done and recording each failure on its row. Fails if any row failed, so
    that RQ retries the batch with its backoff; rows done by then are not run again."""
    from citymgmt.core.clock import utcnow

    try:
        _begin_attempt(message_ids, utcnow())
        with unit_of_work() as session:
            messages = session.execute(
                select(OutboxMessage.id, OutboxMessage.job, OutboxMessage.args)
                .where(OutboxMessage.id.in_(message_ids), OutboxMessage.done_at.is_(None))
                .order_by(OutboxMessage.id)
                .with_for_update()
            ).all()
            by_job: dict[str, dict[int, dict[str, Any]]] = {}
            for message_id, name, args in messages:
                by_job.setdefault(name, {})[message_id] = args
            failed: dict[int, Exception] = {}
            for name, rows in by_job.items():
                batch = _BATCHES.get(name)
                if batch is None:
                    raise LookupError(f"outbox {min(rows)}: no batch job registered as {name!r}")
                failed |= batch(session, utcnow(), current_settings(), rows)
            done = [m[0] for m in messages if m[0] not in failed]
            if done:
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(done)).values(done_at=utcnow(), last_error=None)
                )
            for message_id, exc in failed.items():
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id == message_id).values(last_error=_error_text(exc))
                )
    except Exception as exc:
        _record_failure(message_ids, exc)
        raise
    if failed:
        raise BatchFailed(f"{len(failed)} of {len(messages)} failed (outbox {', '.join(map(str, sorted(failed)))})")
    return f"{len(done)} done"


def _begin_attempt(message_ids: int | list[int], now: datetime) -> None:
    """Count the attempt in a transaction of its own, committed before the job runs (nothing if it is done)."""
    ids = message_ids if isinstance(message_ids, list) else [message_ids]
    with unit_of_work() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.done_at.is_(None))
            .values(attempts=OutboxMessage.attempts + 1, last_error=UNFINISHED.format(at=now.isoformat()))
        )


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _record_failure(message_ids: int | list[int], exc: Exception) -> None:
    """The error of an attempt that raised, on every row it was running that is not done (its work rolled back)."""
    ids = message_ids if isinstance(message_ids, list) else [message_ids]
    try:
        with unit_of_work() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.done_at.is_(None))
                .values(last_error=_error_text(exc))
            )
    except Exception:
        log.exception("outbox %s: could not record the failure", ids[:20])
