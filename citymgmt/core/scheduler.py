"""The scheduler process: relays the outbox into RQ as soon as a transaction commits (LISTEN/NOTIFY, with a
poll as fallback), enqueues periodic jobs, and leaves a heartbeat in Redis for /healthz.

It survives either server going away: it logs, waits and carries on, so nothing is lost while Redis or
PostgreSQL restarts; pending outbox rows are relayed when both are back. When it first meets a Redis (at its start,
and whenever Redis has started again since its last look) it reconciles the outbox at once: a Redis that crashed
may come back without the last jobs it was given (its append-only file is written every second), and their rows
are relayed again within seconds instead of at the periodic reconcile's next turn.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from datetime import datetime, timedelta
from types import FrameType

import psycopg
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError

from citymgmt.core import outbox
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db, unit_of_work
from citymgmt.core.periodic import enqueue_due

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "citymgmt:scheduler:heartbeat"


def libpq_conninfo(sqlalchemy_url: str) -> str:
    """The libpq form of the app's SQLAlchemy URL, for the LISTEN connection."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Scheduler:
    def __init__(self, redis: Redis, database_url: str, heartbeat_ttl: float, poll_seconds: float = 2.0) -> None:
        self.redis = redis
        self.conninfo = libpq_conninfo(database_url)
        self.heartbeat_ttl = heartbeat_ttl
        self.poll_seconds = poll_seconds
        self.stopping = False
        self._listener: psycopg.Connection | None = None
        self._redis_run_id: str | None = None  # the Redis server last reconciled with

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.stopping = True

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info("scheduler started")
        while not self.stopping:
            held = self.tick(utcnow())
            self._wait(outbox.HELD_POLL_SECONDS if held else self.poll_seconds)
        if self._listener is not None:
            self._listener.close()
        log.info("scheduler stopped")

    def tick(self, now: datetime) -> bool:
        """Relay and enqueue what is due; say whether outbox rows were held back (the queue full enough)."""
        self._heartbeat(now)
        self._reconcile_with_a_new_redis(now)
        held = self._relay(now)
        try:
            enqueue_due(self.redis, now)
        except RedisError as exc:
            log.warning("periodic jobs not enqueued, Redis unavailable: %s", type(exc).__name__)
        return held

    def _heartbeat(self, now: datetime) -> None:
        with contextlib.suppress(RedisError):
            self.redis.set(HEARTBEAT_KEY, now.isoformat(), ex=max(int(self.heartbeat_ttl), 1))

    def _relay(self, now: datetime) -> bool:
        try:
            return outbox.relay_pending(self.redis, now).held > 0
        except RedisError as exc:
            log.warning("outbox relay waiting for Redis: %s", type(exc).__name__)
        except (OperationalError, DBAPIError) as exc:
            log.warning("outbox relay waiting for PostgreSQL: %s", type(exc).__name__)
        finally:
            db.session.remove()
        return False

    def _reconcile_with_a_new_redis(self, now: datetime) -> None:
        try:
            run_id = str(self.redis.info("server").get("run_id"))
            if run_id == self._redis_run_id:
                return
            with unit_of_work() as session:
                lost = outbox.reconcile(session, self.redis, now, older_than=timedelta(0))
            self._redis_run_id = run_id
            log.info("outbox reconciled with Redis %s: %d job(s) to deliver again", run_id[:12], lost)
        except RedisError as exc:
            log.warning("outbox reconcile waiting for Redis: %s", type(exc).__name__)
        except (OperationalError, DBAPIError) as exc:
            log.warning("outbox reconcile waiting for PostgreSQL: %s", type(exc).__name__)
        finally:
            db.session.remove()

    def _wait(self, timeout: float) -> None:
        """Sleep until a commit notifies us or `timeout` seconds pass."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = psycopg.connect(
                    self.conninfo, autocommit=True, connect_timeout=5, application_name="citymgmt"
                )
                self._listener.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.Error:
            if self._listener is not None:
                self._listener.close()
            self._listener = None
            time.sleep(self.poll_seconds)
