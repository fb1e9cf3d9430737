"""A project-owned redis-server on a Unix socket, with append-only persistence."""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from citymgmt.local.process import (
    ServiceError,
    ServiceStatus,
    find_binary,
    pid_alive,
    process_cwd,
    read_pid,
    socket_dir,
    tail,
    wait_until,
)


@dataclass
class EmbeddedRedis:
    root: Path
    ephemeral: bool = False  # throwaway test servers: no persistence

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    @property
    def socket_path(self) -> Path:
        return socket_dir(self.root, "redis.sock", "redis") / "redis.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"

    @property
    def conf_file(self) -> Path:
        return self.root / "redis.conf"

    def url(self, db: int = 0) -> str:
        return f"unix://{self.socket_path}?db={db}"

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=2, socket_connect_timeout=2)

    def _pid(self) -> int | None:
        return read_pid(self.pid_file)

    def _is_ours(self, pid: int) -> bool:
        return pid_alive(pid) and process_cwd(pid) == self.root.resolve()

    def _answers(self) -> bool:
        try:
            return bool(self._client().ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError):
            return False

    def status(self) -> ServiceStatus:
        pid = self._pid()
        if pid is None:
            if not self.conf_file.exists():
                return ServiceStatus("redis", "uninitialized", f"nothing in {self.root} yet")
            return ServiceStatus("redis", "stopped", f"data in {self.root}")
        if not self._is_ours(pid):
            return ServiceStatus(
                "redis",
                "crashed",
                f"stale redis.pid (pid {pid} is not running); `citymgmt services up` recovers",
            )
        if not self._answers():
            return ServiceStatus("redis", "starting", f"pid {pid}, loading its data")
        return ServiceStatus("redis", "running", f"pid {pid}, socket {self.socket_path}")

    def _write_config(self) -> None:
        lines = {
            "port": "0",  # no TCP listener at all
            "unixsocket": str(self.socket_path),
            "unixsocketperm": "700",
            "daemonize": "yes",
            "pidfile": str(self.pid_file),
            "logfile": str(self.log_file),
            "dir": str(self.root),
            "databases": "64",
        }
        if self.ephemeral:
            lines |= {"appendonly": "no", "save": '""'}
        else:
            lines |= {"appendonly": "yes", "appendfsync": "everysec", "aof-load-truncated": "yes"}
        self.conf_file.write_text(
            "# Written by citymgmt on every start.\n" + "".join(f"{k} {v}\n" for k, v in lines.items())
        )

    def up(self) -> ServiceStatus:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pid = self._pid()
        if pid is not None and self._is_ours(pid):
            if not wait_until(self._answers, 60):
                raise ServiceError(f"redis (pid {pid}) is running but does not answer")
            return self.status()
        # Not running: whatever pid file or socket is left is from a crash.
        self.pid_file.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self._write_config()
        result = subprocess.run(
            [find_binary("redis-server"), str(self.conf_file)],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0 or not wait_until(self._answers, 60):
            raise ServiceError(
                f"redis did not start (log {self.log_file}):\n{tail(self.log_file) or result.stderr.strip()}"
            )
        return self.status()

    def down(self) -> ServiceStatus:
        pid = self._pid()
        if pid is not None and self._is_ours(pid):
            with contextlib.suppress(redis.ConnectionError, redis.ResponseError):
                self._client().shutdown(nosave=self.ephemeral)
            if not wait_until(lambda: not pid_alive(pid), 30):
                raise ServiceError(f"redis (pid {pid}) did not stop within 30 s")
        return self.status()
