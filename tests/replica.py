"""A hot standby of the test cluster, made by PostgreSQL's own streaming replication (pg_basebackup from the running
primary, then replay of what it writes), and apps whose dashboards' and metrics' reads go to it (the replica bind,
citymgmt.core.db.reads): for the replica's tests and the reads benchmark."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import Flask

from citymgmt.core.db import db
from citymgmt.local import EmbeddedPostgres
from tests.conftest import TestServers, make_test_app

PROGRESS_EVERY_S = 10.0


@contextmanager
def standby(
    servers: TestServers, name: str = "replica", progress: Callable[[str], None] | None = None
) -> Iterator[EmbeddedPostgres]:
    """A standby of the whole test cluster (every database in it) under the servers' root, `name` its directory;
    stopped and its files removed when the block ends, also on failure. `progress`, if given, hears how much of the
    copy is done every few seconds."""
    replica = EmbeddedPostgres(servers.root / name, ephemeral=True, primary=servers.postgres)
    try:
        with _reporting_copy(servers.postgres, progress):
            replica.up()
        yield replica
    finally:
        try:
            replica.down()
        finally:
            shutil.rmtree(replica.root, ignore_errors=True)


def cluster_bytes(primary: EmbeddedPostgres) -> int:
    """What pg_basebackup copies, about: the size of every database of the cluster."""
    with psycopg.connect(primary.conninfo("postgres")) as conn:
        row = conn.execute("SELECT sum(pg_database_size(datname))::bigint FROM pg_database").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@contextmanager
def _reporting_copy(primary: EmbeddedPostgres, progress: Callable[[str], None] | None) -> Iterator[None]:
    """While the block runs, the primary's pg_stat_progress_basebackup said to `progress` every few seconds."""
    if progress is None:
        yield
        return
    total = cluster_bytes(primary)
    progress(f"pg_basebackup: copying the test cluster, {total / 1e9:.2f} GB")
    done = threading.Event()

    def report() -> None:
        t0 = time.monotonic()
        while not done.wait(PROGRESS_EVERY_S):
            with psycopg.connect(primary.conninfo("postgres")) as conn:
                row = conn.execute("SELECT phase, backup_streamed FROM pg_stat_progress_basebackup").fetchone()
            if row is not None:
                phase, streamed = row
                progress(
                    f"pg_basebackup: {phase}, {(streamed or 0) / 1e9:.2f} of {total / 1e9:.2f} GB"
                    f" after {time.monotonic() - t0:.0f} s"
                )

    reporter = threading.Thread(target=report, name="basebackup-progress", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join(timeout=30)


def replayed(primary: EmbeddedPostgres, replica: EmbeddedPostgres, timeout_s: float = 600.0) -> None:
    """Returns once the standby has replayed everything the primary had written when it was called."""
    with psycopg.connect(primary.conninfo("postgres")) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    written = row[0]
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(replica.conninfo("postgres"), autocommit=True) as conn:
        while True:
            found = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written]).fetchone()
            if found and found[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby has not replayed up to {written} within {timeout_s:.0f} s")
            time.sleep(0.05)


@contextmanager
def reading_from(servers: TestServers, replica: EmbeddedPostgres, database: str, **overrides: Any) -> Iterator[Flask]:
    """An app on the primary's `database` whose replica bind is the standby's copy of it; its pools emptied when the
    block ends, before the standby stops."""
    app = make_test_app(servers, servers.postgres.url(database), replica_url=replica.url(database), **overrides)
    try:
        yield app
    finally:
        closed(app)


def closed(app: Flask) -> None:
    """The app's pools emptied before the standby stops (its connections would outlive it otherwise)."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
