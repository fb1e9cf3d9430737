"""The dashboards' and metrics' reads from a PostgreSQL streaming replica (CITYMGMT_REPLICA_URL): a real hot standby
made by pg_basebackup from the test cluster, replaying what the primary writes. Replay is paused to show which
server a read went to; /healthz reports the replica and how far behind it is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import text

from citymgmt.core.db import REPLICA, db, reads
from citymgmt.demo import DEMO_PASSWORD
from citymgmt.local import EmbeddedPostgres
from tests.conftest import make_test_app
from tests.replica import closed, reading_from, standby

DATABASE = "citymgmt_replica"
REPORT = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "复制测试：路边暴露垃圾"}


def eventually(check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:.0f} s")
        time.sleep(0.05)


@pytest.fixture(scope="module", name="standby")
def standby_fixture(servers) -> Iterator[EmbeddedPostgres]:  # type: ignore[no-untyped-def]
    servers.demo_database(DATABASE)  # written on the primary before the copy is taken
    with standby(servers) as replica:
        yield replica


@pytest.fixture(scope="module")
def app(servers, standby: EmbeddedPostgres) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    with reading_from(servers, standby, DATABASE, redis_db=13, replica_max_lag_s=3600) as made:
        yield made


def token(client: Any, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def caught_up(standby: EmbeddedPostgres) -> bool:
    with psycopg.connect(standby.conninfo(DATABASE)) as conn:
        row = conn.execute("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()").fetchone()
    return bool(row and row[0])


def received_unreplayed(standby: EmbeddedPostgres) -> bool:
    with psycopg.connect(standby.conninfo(DATABASE)) as conn:
        row = conn.execute("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()").fetchone()
    return bool(row and row[0])


def replay(standby: EmbeddedPostgres, paused: bool) -> None:
    with psycopg.connect(standby.conninfo(DATABASE), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


def test_the_standby_is_a_real_replica_that_refuses_writes(app: Flask, standby: EmbeddedPostgres) -> None:
    with app.app_context():
        assert REPLICA in db.engines
        session = reads()
        assert session is not db.session()
        assert session.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
        with pytest.raises(Exception, match="read-only transaction"):
            session.execute(text("UPDATE users SET display_name = display_name"))
        session.rollback()


def test_the_feed_reads_from_the_replica_and_sees_the_primary_s_writes_once_replayed(
    app: Flask,
    servers,
    standby: EmbeddedPostgres,  # type: ignore[no-untyped-def]
) -> None:
    client = app.test_client()
    supervisor, inspector = token(client, "supervisor"), token(client, "inspector")
    eventually(lambda: caught_up(standby))
    replay(standby, paused=True)
    try:
        created = client.post("/api/v1/cases", json=REPORT, headers=inspector)
        assert created.status_code == 201, created.get_data(as_text=True)
        code = created.get_json()["code"]
        with psycopg.connect(servers.postgres.conninfo(DATABASE)) as conn:  # on the primary it is there at once
            assert conn.execute("SELECT count(*) FROM cases WHERE code = %s", [code]).fetchone() == (1,)
        eventually(lambda: received_unreplayed(standby))
        feed = client.get("/api/v1/metrics/feed?limit=50", headers=supervisor)
        assert feed.status_code == 200
        assert code not in {item["code"] for item in feed.get_json()}  # the read went to the paused replica

        health = client.get("/healthz").get_json()["checks"]["replica"]
        assert health["ok"] is True and health["lag_s"] >= 0
    finally:
        replay(standby, paused=False)

    def in_feed() -> bool:
        items = client.get("/api/v1/metrics/feed?limit=50", headers=supervisor).get_json()
        return code in {item["code"] for item in items}

    eventually(in_feed)
    assert client.get("/healthz").get_json()["checks"]["replica"] == {"ok": True, "lag_s": 0.0}


def test_health_says_when_the_replica_is_too_far_behind(servers, standby: EmbeddedPostgres) -> None:  # type: ignore[no-untyped-def]
    strict = make_test_app(
        servers, servers.postgres.url(DATABASE), redis_db=13, replica_url=standby.url(DATABASE), replica_max_lag_s=0
    )
    client = strict.test_client()
    inspector = token(client, "inspector")
    eventually(lambda: caught_up(standby))
    replay(standby, paused=True)
    try:
        assert client.post("/api/v1/cases", json=REPORT, headers=inspector).status_code == 201
        eventually(lambda: received_unreplayed(standby))
        eventually(lambda: client.get("/healthz").get_json()["checks"]["replica"]["ok"] is False)
        body = client.get("/healthz").get_json()
        assert "replica" in body["failing"]
        assert "behind the primary" in body["checks"]["replica"]["error"]
    finally:
        replay(standby, paused=False)
        closed(strict)


def test_without_a_replica_reads_are_the_request_s_own_session(app: Flask, servers) -> None:  # type: ignore[no-untyped-def]
    plain = make_test_app(servers, servers.postgres.url(DATABASE), redis_db=13)
    with plain.app_context():
        assert reads() is db.session()
        assert "replica" not in plain.test_client().get("/healthz").get_json()["checks"]
    closed(plain)
