"""The pool pings a connection that sat idle (a PostgreSQL restart then costs no failed request) and not one in
steady use (a ping would be one more round trip per request)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from citymgmt.core.db import driver, ping_when_idle


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(database_url: str, pid: int) -> None:
    other = create_engine(database_url, poolclass=NullPool)
    with other.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    other.dispose()


def test_an_idle_connection_is_pinged_and_replaced(engine: Engine, database_url: str) -> None:
    ping_when_idle(engine, idle_s=0.2)
    first = _pid(engine)
    _kill(database_url, first)  # as a restart would, while the connection sits in the pool
    time.sleep(0.3)
    second = _pid(engine)  # no error: the ping found the dead connection, the pool opened another
    assert second != first


def test_a_connection_in_steady_use_is_not_pinged(engine: Engine, database_url: str) -> None:
    ping_when_idle(engine, idle_s=60)
    pings: list[str] = []
    first = _pid(engine)
    original = engine.dialect.do_ping
    engine.dialect.do_ping = lambda c: pings.append("ping") or original(c)  # type: ignore[method-assign]
    assert _pid(engine) == first and pings == []
    _kill(database_url, first)
    # Broken between two close uses: that request fails (the API answers 503), and the pool is renewed.
    with pytest.raises(DBAPIError) as failed:
        _pid(engine)
    assert failed.value.connection_invalidated
    assert _pid(engine) != first


def test_a_lost_connection_under_the_driver_is_reported_and_renewed(engine: Engine, database_url: str) -> None:
    # Statements on the driver (intake, auth) fail as SQLAlchemy's do: a DBAPIError marked invalidated (the API's
    # 503), the connection dropped, and the next session gets a fresh one.
    with Session(engine) as session:
        first = driver(session).execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        _kill(database_url, first)
        with pytest.raises(DBAPIError) as failed:
            driver(session).execute("SELECT 1")
        assert failed.value.connection_invalidated
    with Session(engine) as session:
        again = driver(session).execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    assert again != first
