"""The embedded servers: started on demand, stopped cleanly, data kept, and a kill -9 detected and recovered."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from citymgmt.local import EmbeddedPostgres, EmbeddedRedis
from citymgmt.local.process import pid_alive, read_pid, socket_dir, wait_until
from tests.conftest import REPO


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A directory for servers of a test's own, outside pytest's private temporary root (which another pytest run on
    the machine may close to other users at any time, and PostgreSQL runs as its own user)."""
    path = Path(tempfile.mkdtemp(prefix="citymgmt-local-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _count(pg: EmbeddedPostgres) -> int:
    with psycopg.connect(pg.conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM kept").fetchone()
        assert row is not None
        return int(row[0])


def test_postgres_lifecycle_keeps_data(server_dir: Path) -> None:
    pg = EmbeddedPostgres(server_dir / "postgres")
    assert pg.status().state == "uninitialized"
    try:
        assert pg.up().state == "running"
        with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT postgis_lib_version()").fetchone()
            assert row is not None and row[0].startswith("3.")
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (1), (2)")
            # No TCP listener: the server is reachable through its own socket only.
            row = conn.execute("SHOW listen_addresses").fetchone()
            assert row is not None and row[0] == ""
        assert pg.down().state == "stopped"
        assert pg.up().state == "running"
        assert _count(pg) == 2
        assert pg.up().state == "running"  # up when already up: nothing changes
    finally:
        pg.down()


def test_postgres_recovers_after_kill_9(server_dir: Path) -> None:
    pg = EmbeddedPostgres(server_dir / "postgres")
    try:
        pg.up()
        with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (1)")
        postmaster = read_pid(pg.pid_file)
        assert postmaster is not None
        os.kill(postmaster, signal.SIGKILL)
        assert wait_until(lambda: not pid_alive(postmaster), 10)
        status = pg.status()
        assert status.state == "crashed" and "citymgmt services up" in status.detail
        assert pg.up().state == "running"
        assert read_pid(pg.pid_file) != postmaster
        assert _count(pg) == 1
    finally:
        pg.down()


def test_redis_persists_across_restart_and_kill_9(server_dir: Path) -> None:
    r = EmbeddedRedis(server_dir / "redis")
    assert r.status().state == "uninitialized"
    try:
        r.up()
        client = redis_lib.Redis(unix_socket_path=str(r.socket_path))
        client.set("clean", "1")
        assert r.down().state == "stopped"
        r.up()
        client = redis_lib.Redis(unix_socket_path=str(r.socket_path))
        assert client.get("clean") == b"1"
        client.set("crash", "2")
        client.execute_command("BGREWRITEAOF")  # make sure the write is on disk, as appendfsync would in 1 s
        wait_until(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0, 10)
        pid = read_pid(r.pid_file)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not pid_alive(pid), 10)
        assert r.status().state == "crashed"
        assert r.up().state == "running"
        client = redis_lib.Redis(unix_socket_path=str(r.socket_path))
        assert client.get("clean") == b"1" and client.get("crash") == b"2"
        assert client.config_get("port")["port"] == "0"  # no TCP listener
    finally:
        r.down()


def test_long_paths_get_a_short_socket_directory(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    chosen = socket_dir(deep, ".s.PGSQL.5432", "pg")
    assert chosen != deep and len(str(chosen / ".s.PGSQL.5432")) < 100
    assert socket_dir(deep, ".s.PGSQL.5432", "pg") == chosen  # stable for the same place
    assert socket_dir(tmp_path, ".s.PGSQL.5432", "pg") == tmp_path


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citymgmt.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)
    return env


def test_cli_services_up_status_down(server_dir: Path) -> None:
    env = _env(CITYMGMT_VAR_DIR=str(server_dir / "var"))
    status = _cli("services", "status", env=env)
    assert status.returncode == 3
    assert "postgres  uninitialized" in status.stdout and "redis     uninitialized" in status.stdout
    try:
        up = _cli("services", "up", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "postgres  running" in up.stdout and "redis     running" in up.stdout
        assert _cli("services", "status", env=env).returncode == 0
    finally:
        down = _cli("services", "down", env=env)
    assert down.returncode == 0
    assert "postgres  stopped" in down.stdout and "redis     stopped" in down.stdout
    assert _cli("services", "status", env=env).returncode == 3


def test_cli_uses_the_servers_named_by_the_urls(servers, server_dir: Path) -> None:  # type: ignore[no-untyped-def]
    env = _env(
        CITYMGMT_VAR_DIR=str(server_dir / "var"),
        DATABASE_URL=servers.postgres.url(),
        REDIS_URL=servers.redis.url(db=5),
    )
    status = _cli("services", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "postgres  external" in status.stdout and "PostGIS 3." in status.stdout
    assert "redis     external" in status.stdout
    down = _cli("services", "down", env=env)
    assert "nothing to stop" in down.stdout
    assert servers.postgres.status().state == "running"  # an external server is never stopped by us
    assert not (server_dir / "var" / "postgres").exists()

    unreachable = _env(CITYMGMT_VAR_DIR=str(server_dir / "var"), DATABASE_URL=f"postgresql://x@/x?host={server_dir}")
    status = _cli("services", "status", env=unreachable)
    assert status.returncode == 3 and "postgres  unreachable" in status.stdout
