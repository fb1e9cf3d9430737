"""A project-owned PostgreSQL cluster with PostGIS, listening on a Unix socket only.

PostgreSQL refuses to run as root; when we are root the cluster belongs to the `postgres` account (the one
Debian's package creates) and every server command runs through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from citymgmt.local.process import (
    RunAs,
    ServiceError,
    ServiceStatus,
    find_binary,
    pid_alive,
    pids_with_cwd,
    process_cwd,
    read_pid,
    socket_dir,
    tail,
    wait_until,
)

PORT = 5432  # only names the socket file; there is no TCP listener
SOCKET = f".s.PGSQL.{PORT}"


def pg_bindir() -> list[Path]:
    """Server binary directories, newest major version first (Debian keeps them off PATH)."""
    explicit = os.environ.get("CITYMGMT_PG_BINDIR")
    if explicit:
        return [Path(explicit)]
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    return [p for p in found if (p / "postgres").exists()]


@dataclass
class EmbeddedPostgres:
    root: Path
    database: str = "citymgmt"
    user: str = "citymgmt"
    ephemeral: bool = False  # throwaway test clusters: no fsync, nothing kept
    primary: EmbeddedPostgres | None = None  # a hot standby of this cluster, kept by streaming replication
    account: str = field(default_factory=lambda: os.environ.get("CITYMGMT_PG_ACCOUNT", "postgres"))

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()
        self.runas = RunAs.for_server(self.account)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return socket_dir(self.root / "run", SOCKET, "pg")

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "postgres.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL for the app (psycopg 3 driver over the socket)."""
        return (
            f"postgresql+psycopg://{self.user}@/{database or self.database}"
            f"?host={quote(str(self.socket_dir), safe='/')}"
        )

    def conninfo(self, database: str | None = None) -> str:
        return f"host={self.socket_dir} port={PORT} user={self.user} dbname={database or self.database}"

    def _bin(self, name: str) -> str:
        return find_binary(name, pg_bindir())

    # -- state ---------------------------------------------------------------------------------------------

    def _postmaster_pid(self) -> int | None:
        return read_pid(self.pid_file)

    def _is_ours(self, pid: int) -> bool:
        return pid_alive(pid) and process_cwd(pid) == self.data_dir.resolve()

    def status(self) -> ServiceStatus:
        if not (self.data_dir / "PG_VERSION").exists():
            return ServiceStatus("postgres", "uninitialized", f"no cluster in {self.data_dir}")
        pid = self._postmaster_pid()
        if pid is None:
            return ServiceStatus("postgres", "stopped", f"cluster in {self.data_dir}")
        if not self._is_ours(pid):
            return ServiceStatus(
                "postgres",
                "crashed",
                f"stale postmaster.pid (pid {pid} is not running); `citymgmt services up` recovers",
            )
        if not self._accepting():
            return ServiceStatus("postgres", "starting", f"pid {pid}, not yet accepting connections")
        return ServiceStatus("postgres", "running", f"pid {pid}, socket {self.socket_dir}")

    def _accepting(self) -> bool:
        try:
            with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    # -- lifecycle -----------------------------------------------------------------------------------------

    def up(self) -> ServiceStatus:
        if not (self.data_dir / "PG_VERSION").exists():
            self._basebackup() if self.primary is not None else self._initdb()
        self._write_config()
        pid = self._postmaster_pid()
        if pid is not None and self._is_ours(pid):
            if not wait_until(self._accepting, 60):
                raise ServiceError(f"postgres (pid {pid}) is running but does not accept connections")
        else:
            self._recover_crash(pid)
            self._start()
        if self.primary is None:  # a standby is read-only: it has what its primary has
            self._ensure_database()
        return self.status()

    def down(self) -> ServiceStatus:
        pid = self._postmaster_pid()
        if pid is not None and self._is_ours(pid):
            result = self.runas.run([self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
            if result.returncode != 0:
                raise ServiceError(f"pg_ctl stop failed: {result.stderr.strip() or result.stdout.strip()}")
        return self.status()

    def _initdb(self) -> None:
        self.runas.ensure_reachable(self.root)
        for d in (self.root, self.data_dir, self.log_file.parent):
            self.runas.make_dir(d)
        argv = [
            self._bin("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",  # the socket directory is private to the server account (and root)
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]
        if self.ephemeral:
            argv.append("--no-sync")
        result = self.runas.run(argv)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stderr.strip()}")
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as f:
            f.write("\ninclude_if_exists = 'citymgmt.conf'\n")

    def _basebackup(self) -> None:
        """A copy of the running primary with its standby settings (primary_conninfo, standby.signal), by
        PostgreSQL's own pg_basebackup; the initdb's `local replication all trust` line lets it in."""
        assert self.primary is not None
        self.runas.ensure_reachable(self.root)
        for d in (self.root, self.log_file.parent):
            self.runas.make_dir(d)
        argv = [
            self._bin("pg_basebackup"),
            "-D",
            str(self.data_dir),
            "-d",
            self.primary.conninfo("postgres"),
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",
        ]
        if self.ephemeral:
            argv.append("--no-sync")
        result = self.runas.run(argv)
        if result.returncode != 0:
            raise ServiceError(f"pg_basebackup failed:\n{result.stderr.strip()}")

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "''",
            "port": str(PORT),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": "0700",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "work_mem": "'16MB'",
            "maintenance_work_mem": "'256MB'",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "log_min_duration_statement": "2000",
        }
        if self.ephemeral:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        text = "# Written by citymgmt on every start; edit postgresql.conf to override.\n" + "".join(
            f"{k} = {v}\n" for k, v in settings.items()
        )
        target = self.data_dir / "citymgmt.conf"
        target.write_text(text)
        if self.runas.user is not None:
            os.chown(target, self.runas.uid, self.runas.gid)

    def _recover_crash(self, pid: int | None) -> None:
        """After a kill -9: stop orphaned backends still attached to shared memory, drop the stale lock files."""
        orphans = pids_with_cwd(self.data_dir)
        for orphan in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGQUIT)
        if orphans and not wait_until(lambda: not pids_with_cwd(self.data_dir), 10):
            for orphan in pids_with_cwd(self.data_dir):
                os.kill(orphan, signal.SIGKILL)
            wait_until(lambda: not pids_with_cwd(self.data_dir), 5)
        if pid is not None:
            self.pid_file.unlink(missing_ok=True)
            (self.socket_dir / f"{SOCKET}.lock").unlink(missing_ok=True)
            (self.socket_dir / SOCKET).unlink(missing_ok=True)

    def _start(self) -> None:
        self.runas.ensure_reachable(self.socket_dir)
        self.runas.make_dir(self.socket_dir)
        self.runas.make_dir(self.log_file.parent)
        result = self.runas.run(
            [
                self._bin("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "120",
            ],
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0 or not wait_until(self._accepting, 30):
            raise ServiceError(
                f"postgres did not start (log {self.log_file}):\n{tail(self.log_file) or result.stderr.strip()}"
            )

    def _ensure_database(self) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %(database)s", {"database": self.database}
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        ensure_postgis(self.conninfo())


def ensure_postgis(conninfo: str) -> None:
    """Create the PostGIS extension, or say which package is missing."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute("SELECT current_setting('server_version_num')::int / 10000 AS major")
                .fetchone()
            )
            major = row["major"] if row else "N"
            raise ServiceError(
                f"PostGIS 3 is not installed for PostgreSQL {major}: install the package postgresql-{major}-postgis-3"
            ) from exc
