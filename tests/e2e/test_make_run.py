"""`make run` for real: its own embedded servers, the Procfile's web + worker + scheduler, Ctrl-C, a warm restart.

Everything on loopback and Unix sockets under a temporary directory; the system under test is exactly what
`make run` starts (citymgmt/local/run.sh), minus the package installation, which the set-up has done.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from citymgmt.local import EmbeddedPostgres
from citymgmt.local.process import wait_until
from tests.conftest import REPO
from tests.jobs_for_tests import EFFECTS_DDL

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}


class MakeRun:
    def __init__(self, var_dir: Path, port: int, log: Path) -> None:
        self.port = port
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env |= {
            "CITYMGMT_VAR_DIR": str(var_dir),
            "PORT": str(port),
            "CITYMGMT_EXTRA_MODULES": "tests.jobs_for_tests",
            "PYTHONPATH": str(REPO),
            "WEB_CONCURRENCY": "1",
        }
        with log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                ["bash", "citymgmt/local/run.sh"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self, timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            status, body = healthz(self.port)
            if status == 200:
                assert body["status"] == "ok"
                return time.monotonic() - start
            assert self.process.poll() is None, "make run exited early"
            time.sleep(0.25)
        raise AssertionError(f"not healthy within {timeout} s: {healthz(self.port)}")

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def run_root() -> Iterator[Path]:
    # Not pytest's tmp_path: pytest narrows its base directory's permissions whenever another pytest starts, and the
    # embedded PostgreSQL (running as `postgres` when we are root) must keep reaching its data directory.
    root = Path(tempfile.mkdtemp(prefix="citymgmt-make-run-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_make_run_serves_works_stops_and_restarts_with_data(run_root: Path) -> None:
    tmp_path = run_root
    var = tmp_path / "var"
    port = free_port()
    log = tmp_path / "run.log"
    run = MakeRun(var, port, log)
    pg = EmbeddedPostgres(var / "postgres")
    try:
        run.wait_healthy(120)

        # A job written in a committed transaction reaches a real worker through the scheduler, once.
        with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
            conn.execute(EFFECTS_DDL)
            with conn.transaction():
                conn.execute(
                    "INSERT INTO outbox (job, args, queue) VALUES ('test.record_effect', %s, 'default')",
                    [json.dumps({"note": "through the stack"})],
                )
                conn.execute("SELECT pg_notify('citymgmt_outbox', '')")

            def done() -> bool:
                row = conn.execute("SELECT count(*) FROM outbox WHERE done_at IS NOT NULL").fetchone()
                return row is not None and row[0] == 1

            assert wait_until(done, 30), log.read_text()[-3000:]
            notes = conn.execute("SELECT note FROM test_effects").fetchall()
            assert notes == [("through the stack",)]

        run.ctrl_c()
        assert pg.status().state == "stopped", "the run started the servers, so Ctrl-C stops them"
        assert healthz(port)[0] == 0, "nothing answers on the port after Ctrl-C"

        # Warm start: the same data, healthy again (about 10 s here; the bound only catches a hang).
        run = MakeRun(var, port, log)
        elapsed = run.wait_healthy(90)
        print(f"warm start: healthy after {elapsed:.1f} s")
        with psycopg.connect(pg.conninfo()) as conn:
            assert conn.execute("SELECT note FROM test_effects").fetchall() == [("through the stack",)]
        run.ctrl_c()
        assert pg.status().state == "stopped"
    finally:
        run.kill()
        subprocess.run(
            [str(REPO / ".venv/bin/citymgmt"), "services", "down"],
            env={**os.environ, "CITYMGMT_VAR_DIR": str(var)},
            capture_output=True,
            check=False,
        )
