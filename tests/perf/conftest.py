"""Benchmarks (`make bench`): a database of their own in the throwaway cluster, and the figures' recorder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from citymgmt.core.db import db
from tests.conftest import DEMO_TEMPLATE, REPO, TEMPLATE, TestServers
from tests.perf.recorder import Recorder

_recorder = Recorder()


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return _recorder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _recorder.metrics:
        return
    terminalreporter.write_sep("=", "benchmark figures (medians; ratio = value / baseline)")
    terminalreporter.write_line(_recorder.table())
    path = REPO / "var" / "bench" / "results.json"
    _recorder.write(path)
    terminalreporter.write_line(f"written to {path}")


@pytest.fixture(scope="session")
def bench_database(servers) -> Iterator[str]:  # type: ignore[no-untyped-def]
    yield servers.migrated_database("citymgmt_bench")


def _databases(servers: TestServers) -> set[str]:
    with psycopg.connect(servers.postgres.conninfo("postgres"), autocommit=True) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")}
    return names - {TEMPLATE, DEMO_TEMPLATE}  # made once for the whole run, copied for each test


@pytest.fixture(autouse=True)
def _dropped_once_measured(request: pytest.FixtureRequest) -> Iterator[None]:
    """A full benchmark's databases (`-m perf`) are dropped once it has its figures: together they are tens of GB,
    and the reads benchmark's standby copies the whole cluster (tests/replica.py). The apps' pools on them are
    emptied first."""
    if request.node.get_closest_marker("perf") is None:
        yield
        return
    servers: TestServers = request.getfixturevalue("servers")
    before = _databases(servers)
    yield
    made = _databases(servers) - before
    for app in servers.apps:
        with app.app_context():
            for engine in db.engines.values():
                if engine.url.database in made:
                    engine.dispose()
    with psycopg.connect(servers.postgres.conninfo("postgres"), autocommit=True) as conn:
        for name in sorted(made):
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
