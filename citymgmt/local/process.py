"""Process and filesystem helpers shared by the embedded servers."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# sun_path is 108 bytes on Linux; keep a margin for the socket's own file name.
MAX_SOCKET_DIR = 90


class ServiceError(RuntimeError):
    """An embedded server could not be set up, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # running | stopped | crashed | uninitialized | external | unreachable
    detail: str

    @property
    def ok(self) -> bool:
        return self.state in ("running", "external")


@dataclass(frozen=True)
class RunAs:
    """The account a server runs as: the caller, or an unprivileged account when the caller is root."""

    user: str | None  # None: the current user

    @classmethod
    def for_server(cls, account: str) -> RunAs:
        return cls(account if os.geteuid() == 0 else None)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid if self.user else os.geteuid()

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.user).pw_gid if self.user else os.getegid()

    def command(self, argv: Sequence[str]) -> list[str]:
        if self.user is None:
            return list(argv)
        return ["runuser", "-u", self.user, "--", *argv]

    def run(self, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(argv), check=False, **kwargs)

    def make_dir(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if self.user is not None:
            os.chown(path, self.uid, self.gid)

    def ensure_reachable(self, path: Path) -> list[Path]:
        """Let the account traverse every directory above `path` (o+x where missing); return what changed."""
        if self.user is None:
            return []
        changed = []
        for parent in reversed(path.resolve().parents):
            if self.run(["test", "-x", str(parent)]).returncode != 0:
                st = parent.stat()
                os.chmod(parent, st.st_mode | 0o001)
                changed.append(parent)
        return changed


def socket_dir(preferred: Path, socket_name: str, tag: str) -> Path:
    """`preferred` unless the socket path would be too long for a Unix socket; then a short one under /tmp."""
    if len(str(preferred.resolve() / socket_name)) <= MAX_SOCKET_DIR:
        return preferred.resolve()
    digest = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"citymgmt-{tag}-{digest}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def pids_with_cwd(directory: Path) -> list[int]:
    """Processes whose working directory is `directory` (PostgreSQL's processes all chdir to their data dir)."""
    target = directory.resolve()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and process_cwd(int(entry)) == target and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first) if first else None
    except (OSError, ValueError):
        return None


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def find_binary(name: str, candidates: Sequence[Path] = ()) -> str:
    for directory in candidates:
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"'{name}' not found: run `make run` once to install the system packages")
    return found


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
