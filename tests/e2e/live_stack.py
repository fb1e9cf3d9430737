"""A whole citymgmt installation as separate OS processes, for the fault and concurrency tests.

Its own embedded PostgreSQL and Redis under a temporary directory (Unix sockets), migrated and with the demo city;
two gunicorn instances (two worker processes each) on free loopback ports, two RQ workers and a scheduler, each
process in a working directory and CITYMGMT_VAR_DIR of its own as if on a host of its own, sharing only the
database and Redis (by URL), the secret key and the photo directory (a shared mount); HAProxy in front of the two
web instances as the one address clients use; a webhook receiver on loopback that every department's notification
channel points to, so that the delivery of "new work" notifications (the outbox's work) can be counted. The test
can stop and start any part.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import requests

from citymgmt.demo import DEMO_PASSWORD
from citymgmt.local import EmbeddedPostgres, EmbeddedRedis
from citymgmt.local.process import wait_until
from tests.conftest import REPO
from tests.jobs_for_tests import EFFECTS_DDL

BIN = REPO / ".venv" / "bin"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"  # installed by `make setup-test` (citymgmt/local/bootstrap.sh)
SANITATION = ("E0102", "E0103", "E0104", "E0105")  # events the demo rules dispatch to the district's sanitation


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivery:
    at: float
    event: str
    delivery_id: str
    case_ids: list[int]


class Receiver:
    """A webhook endpoint on loopback that records every delivery it gets."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.deliveries.append(
                        Delivery(
                            time.monotonic(),
                            self.headers["X-Citymgmt-Event"],
                            self.headers["X-Citymgmt-Delivery"],
                            [c["id"] for c in body["cases"]],
                        )
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def new_work(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.event == "new_work"]

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()


@dataclass
class Stack:
    root: Path
    pg: EmbeddedPostgres = field(init=False)
    redis: EmbeddedRedis = field(init=False)
    env: dict[str, str] = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    receiver: Receiver = field(default_factory=Receiver)
    web_workers: int = 2
    _points: Iterator[tuple[str, float, float]] | None = None
    _tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pg = EmbeddedPostgres(self.root / "pg", ephemeral=True)
        # Persistent (append-only file), as `make run` has it: a stopped Redis keeps the jobs it held.
        self.redis = EmbeddedRedis(self.root / "redis")
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env = env | {
            "DATABASE_URL": self.pg.url(),
            "REDIS_URL": self.redis.url(0),
            "CITYMGMT_VAR_DIR": str(self.root / "var"),  # the operator's commands; each process has its own (start)
            "CITYMGMT_PHOTO_DIR": str(self.root / "shared" / "photos"),
            "CITYMGMT_TRUSTED_PROXIES": "1",  # the clients' addresses come from HAProxy's X-Forwarded-For
            "CITYMGMT_EXTRA_MODULES": "tests.jobs_for_tests",
            "CITYMGMT_WORKER_MAINTENANCE_SECONDS": "5",
            "CITYMGMT_LOG_LEVEL": "INFO",
            "SECRET_KEY": "faults-test-secret",
            "PYTHONPATH": str(REPO),
        }

    # -- processes -------------------------------------------------------------------------------------------

    def run(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "citymgmt"), *argv],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"citymgmt {' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
        return result

    def host(self, name: str) -> Path:
        """The process's own working directory and CITYMGMT_VAR_DIR, as on a host of its own."""
        path = self.root / "hosts" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        host = self.host(name)
        env = self.env | {"CITYMGMT_VAR_DIR": str(host / "var")} | (env or {})
        with (self.root / "logs" / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                argv, cwd=host, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_balancer(self) -> None:
        """HAProxy on one address, round robin over the two web instances (checked by TCP connect every second)."""
        port = self.ports.setdefault("balancer", free_port())
        config = self.host("balancer") / "haproxy.cfg"
        config.write_text(
            "global\n  maxconn 2000\n"
            "defaults\n  mode http\n  option forwardfor\n  timeout connect 5s\n"
            "  timeout client 90s\n  timeout server 90s\n  retries 2\n  option redispatch\n"
            f"frontend citymgmt\n  bind 127.0.0.1:{port}\n  default_backend web\n"
            "backend web\n  balance roundrobin\n"
            + "".join(f"  server {web} 127.0.0.1:{self.ports[web]} check inter 1s\n" for web in ("web-a", "web-b"))
        )
        self.start("balancer", [HAPROXY, "-db", "-f", str(config)])

    def start_web(self, name: str) -> None:
        """gunicorn as the Procfile runs it, with `web_workers` processes of four threads."""
        port = self.ports.setdefault(name, free_port())
        self.start(
            name,
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(self.web_workers),
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
        )

    def start_worker(self, name: str) -> None:
        self.start(name, [str(BIN / "citymgmt"), "worker", "--name", f"{name}-{time.monotonic_ns()}"])

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def log(self, name: str, chars: int = 3000) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name, 1500)}" for name in sorted(self.processes))

    def url(self, web: str = "web-a") -> str:
        """A web instance's own address; `balancer` for the one address clients use."""
        return f"http://127.0.0.1:{self.ports[web]}"

    def healthy(self, web: str) -> bool:
        try:
            return requests.get(self.url(web) + "/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = 120) -> None:
        for web in ("web-a", "web-b", "balancer"):
            assert wait_until(lambda web=web: self.healthy(web), timeout, 0.5), f"{web} not healthy\n{self.logs()}"

    # -- data ------------------------------------------------------------------------------------------------

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.conninfo(), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def token(self, username: str) -> str:
        if username not in self._tokens:
            response = requests.post(
                self.url() + "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}, timeout=30
            )
            assert response.status_code == 201, response.text
            self._tokens[username] = response.json()["token"]
        return self._tokens[username]

    def next_report(self) -> dict[str, Any]:
        """A report that is nobody's duplicate: a new point for each category, around Dongcheng's centre."""
        if self._points is None:
            self._points = iter(
                [
                    (category, round(116.400 + 0.0008 * i, 6), round(39.920 + 0.0009 * j, 6))
                    for i in range(12)
                    for j in range(12)
                    for category in SANITATION
                ]
            )
        category, lon, lat = next(self._points)
        return {"category_code": category, "lon": lon, "lat": lat, "description": "故障测试 fault test"}


def start_stack(web_workers: int = 2) -> Stack:
    # Not pytest's tmp_path: the embedded PostgreSQL (the `postgres` account when we are root) must reach it.
    stack = Stack(Path(tempfile.mkdtemp(prefix="citymgmt-faults-")), web_workers=web_workers)
    try:
        stack.pg.up()
        stack.redis.up()
        stack.run("db", "upgrade")
        stack.run("demo", "load")
        stack.sql(EFFECTS_DDL)
        stack.sql(
            "INSERT INTO notification_channels (department_code, kind, target, secret, events)"
            " SELECT code, 'webhook', %s, 'a-long-enough-webhook-secret', ARRAY['new_work'] FROM departments",
            [stack.receiver.url],
        )
        for web in ("web-a", "web-b"):
            stack.start_web(web)
        for worker in ("worker-1", "worker-2"):
            stack.start_worker(worker)
        stack.start("scheduler", [str(BIN / "citymgmt"), "scheduler"])
        stack.start_balancer()
        stack.wait_healthy()
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    for process in stack.processes.values():  # all at once: each takes a few seconds to stop
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    for name in list(stack.processes):
        stack.stop(name)
    stack.receiver.close()
    with contextlib.suppress(Exception):
        stack.redis.down()
    with contextlib.suppress(Exception):
        stack.pg.down()
    shutil.rmtree(stack.root, ignore_errors=True)
