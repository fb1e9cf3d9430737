"""Jobs the tests enqueue through the real outbox; also loaded by live processes via CITYMGMT_EXTRA_MODULES."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core import outbox
from citymgmt.core.config import Settings
from citymgmt.core.queue import get_redis

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS test_effects (id serial PRIMARY KEY, note text NOT NULL)"


@outbox.job("test.record_effect")
def record_effect(session: Session, _now: datetime, _settings: Settings, note: str) -> None:
    session.execute(text("INSERT INTO test_effects (note) VALUES (:note)"), {"note": note})


@outbox.job("test.fail")
def fail(session: Session, _now: datetime, _settings: Settings, note: str) -> None:
    session.execute(text("INSERT INTO test_effects (note) VALUES (:note)"), {"note": note})
    raise RuntimeError(f"failing on purpose: {note}")


@outbox.job("test.slow_effect")
def slow_effect(session: Session, _now: datetime, _settings: Settings, note: str, seconds: float) -> None:
    """Records its effect, then takes a while before its transaction commits: a worker killed meanwhile leaves
    nothing behind, and the retry records it once."""
    session.execute(text("INSERT INTO test_effects (note) VALUES (:note)"), {"note": note})
    session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


def explode(n: int) -> None:
    """A plain RQ job that always fails (for the health of failing jobs)."""
    raise RuntimeError(f"job {n} failing on purpose")


@outbox.job("test.fail_once")
def fail_once(session: Session, _now: datetime, _settings: Settings, note: str) -> None:
    """Fails its first attempt (counted in Redis, which a rollback does not undo), records its effect on the next."""
    if get_redis().incr(f"test:fail_once:{note}") == 1:
        raise RuntimeError(f"failing the first attempt on purpose: {note}")
    session.execute(text("INSERT INTO test_effects (note) VALUES (:note)"), {"note": note})


def record_effects_failing_once(
    session: Session, _now: datetime, _settings: Settings, rows: dict[int, dict[str, Any]]
) -> dict[int, Exception]:
    """A batch: records each row's effect, but a row whose note starts with `fail` fails its first attempt (counted
    in Redis) and leaves no effect."""
    failed: dict[int, Exception] = {}
    for message_id, args in rows.items():
        note = args["note"]
        if note.startswith("fail") and get_redis().incr(f"test:fail_once:{note}") == 1:
            failed[message_id] = RuntimeError(f"failing the first attempt on purpose: {note}")
            continue
        session.execute(text("INSERT INTO test_effects (note) VALUES (:note)"), {"note": note})
    return failed


@outbox.job("test.batch_effect", batch=record_effects_failing_once)
def batch_effect(session: Session, now: datetime, settings: Settings, note: str) -> None:
    failed = record_effects_failing_once(session, now, settings, {0: {"note": note}})
    if failed:
        raise failed[0]
