"""Taking a job from the queues without a moment in which it can be lost.

RQ takes a job with BLPOP when a worker listens on several queues (only a worker of one queue gets RQ's intermediate
list): from the pop until the worker records the job as started, its id is in the worker's memory alone. Redis
stopping in that moment (the worker's next command fails), or the worker being stopped (SIGTERM raises in the
idle worker), loses the job: out of its queue, never started, its hash still "queued", so neither RQ's maintenance
nor the outbox's reconcile (which looked only for jobs gone from Redis) finds it.

Here a job moves from its queue into its worker's own claimed list in one step (a script over the queues in order),
and leaves it only once the worker has recorded it as started (`CitymgmtWorker.prepare_job_execution`). A
job still "queued" in a claimed list when its worker is between jobs, has stopped or is gone was never started: it
goes back to the front of its queue. A worker looks at its own list before each dequeue (Redis back after an
outage) and when it stops; every worker's maintenance looks at the lists of workers that are no longer registered
(killed, machine lost). A job put back after all (a started job is never put back) would run twice, which outbox
and periodic jobs allow: they take effect once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout, NoSuchJobError
from rq.job import Job
from rq.serializers import resolve_serializer
from rq.utils import as_text, get_version
from rq.worker import Worker

log = logging.getLogger(__name__)

CLAIMED_PREFIX = "citymgmt:claimed:"
CLAIMANTS = "citymgmt:claimants"  # the names of the workers that may have a claimed list (added at their birth)
# The queue an idle worker blocks on (BLMOVE, Redis 6.2 and later: the outbox's notices go there and are taken at
# once); the others are looked at every WAKE_SECONDS while the worker is idle (the periodic jobs, a minute apart).
# On an older Redis an idle worker looks at all of them every POLL_SECONDS.
WAKE_QUEUE = "default"
WAKE_SECONDS = 1
POLL_SECONDS = 0.2

# KEYS: the worker's claimed list, then its queues in order. The first job of the first queue that has one moves to
# the claimed list (a script is atomic: LPOP and RPUSH are LMOVE on any Redis); a claimed list that is not empty is
# returned instead (what an earlier attempt left behind).
_CLAIM = """
local left = redis.call('LRANGE', KEYS[1], 0, -1)
if #left > 0 then return {'', left} end
for i = 2, #KEYS do
  local id = redis.call('LPOP', KEYS[i])
  if id then
    redis.call('RPUSH', KEYS[1], id)
    return {KEYS[i], id}
  end
end
return false
"""

# KEYS: a claimed list. ARGV: the job key prefix, the queue key prefix, then job ids. Each id leaves the list; one
# that was never started (still "queued") goes back to the front of its queue. Returns how many went back.
_RELEASE = """
local back = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('LREM', KEYS[1], 1, id) > 0 then
    local job = ARGV[1] .. id
    if redis.call('HGET', job, 'status') == 'queued' then
      local origin = redis.call('HGET', job, 'origin')
      if origin then
        redis.call('LPUSH', ARGV[2] .. origin, id)
        back = back + 1
      end
    end
  end
end
return back
"""


def claimed_key(worker_name: str) -> str:
    return CLAIMED_PREFIX + worker_name


def release_claimed(connection: Redis, key: str, job_ids: Iterable[str] | None = None) -> int:
    """Empty a claimed list (or take these ids out of it), putting back at the front of its queue every job that was
    never started; return how many went back."""
    ids = [as_text(i) for i in (connection.lrange(key, 0, -1) if job_ids is None else job_ids)]
    if not ids:
        return 0
    back = int(
        connection.eval(_RELEASE, 1, key, Job.redis_job_namespace_prefix, Queue.redis_queue_namespace_prefix, *ids)
    )
    if back:
        log.warning("%d job(s) taken from a queue but never started put back at its front (%s)", back, key)
    return back


def release_abandoned_claims(connection: Redis) -> int:
    """Release the claimed lists of workers that are gone: stopped (their death registered) or silent past their
    heartbeat's lease (killed, machine lost)."""
    back = 0
    for name in [as_text(n) for n in connection.smembers(CLAIMANTS)]:
        worker = Worker.redis_worker_namespace_prefix + name
        if not connection.exists(worker) or connection.hexists(worker, "death"):
            back += release_claimed(connection, claimed_key(name))
            connection.srem(CLAIMANTS, name)
    return back


def never_to_run(connection: Redis, job_ids: Sequence[str]) -> set[str]:
    """Of these jobs, those Redis will never run: gone, or "queued" yet in neither their queue nor a claimed list (a
    job RQ's own dequeue popped as Redis stopped, before this module). A job caught moving between the two may be
    counted; running it again is harmless (outbox jobs take effect once)."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(Job.redis_job_namespace_prefix + job_id, "status", "origin")
        found = dict(zip(job_ids, pipe.execute(), strict=True))
    gone = {job_id for job_id, (status, _) in found.items() if status is None}
    queued = {job_id: as_text(origin) for job_id, (status, origin) in found.items() if status == b"queued" and origin}
    if not queued:
        return gone
    with connection.pipeline(transaction=False) as pipe:
        for job_id, origin in queued.items():
            pipe.lpos(Queue.redis_queue_namespace_prefix + origin, job_id)
        positions = dict(zip(queued, pipe.execute(), strict=True))
    claimed: set[str] = set()
    for name in connection.smembers(CLAIMANTS):
        claimed.update(as_text(i) for i in connection.lrange(claimed_key(as_text(name)), 0, -1))
    return gone | {job_id for job_id, position in positions.items() if position is None and job_id not in claimed}


class ClaimingQueue(Queue):
    """RQ's Queue, taking jobs into a worker's claimed list (`claimed_key`, set on the subclass made per worker by
    `for_worker`) instead of popping them."""

    claimed_key: ClassVar[str] = ""

    @classmethod
    def for_worker(cls, worker_name: str) -> type[ClaimingQueue]:
        return type("ClaimingQueue", (cls,), {"claimed_key": claimed_key(worker_name)})

    @classmethod
    def dequeue_any(
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: Redis,
        job_class: type[Job] | None = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[Job, Queue] | None:
        """The first job of the first queue that has one (blocking up to `timeout` seconds; None: do not block),
        with its queue, as RQ's `Queue.dequeue_any`; the job is in the claimed list until it is started."""
        by_key = {q.key: q for q in queues}
        keys = list(by_key)
        wake = next((k for k, q in by_key.items() if q.name == WAKE_QUEUE), keys[0])
        deadline = None if timeout is None else time.monotonic() + timeout
        job_cls = job_class or Job
        while True:
            found: Any = connection.eval(_CLAIM, 1 + len(keys), cls.claimed_key, *keys)
            if found and not found[0]:
                release_claimed(connection, cls.claimed_key, found[1])
                continue
            if not found:
                if deadline is None:
                    return None
                if time.monotonic() >= deadline:
                    raise DequeueTimeout(timeout, keys)
                if get_version(connection) < (6, 2, 0):
                    time.sleep(POLL_SECONDS)
                    continue
                moved = connection.blmove(wake, cls.claimed_key, WAKE_SECONDS, "LEFT", "RIGHT")
                if moved is None:
                    continue
                found = [wake, moved]
            queue_key, job_id = as_text(found[0]), as_text(found[1])
            try:
                job = job_cls.fetch(job_id, connection=connection, serializer=resolve_serializer(serializer))
            except NoSuchJobError:  # deleted while queued: nothing to run
                connection.lrem(cls.claimed_key, 1, job_id)
                continue
            return job, by_key[queue_key]
