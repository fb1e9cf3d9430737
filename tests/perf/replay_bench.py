"""The replay benchmark (issue 9 item 6, and the memory requirement): real Los Angeles 311 records (fixtures/la311,
2017-12-27..31) replayed through the HTTP API at their own pace, sped up (100× by default), on a live stack as
production runs it: gunicorn serving wsgi:app, RQ worker processes and the scheduler (which relays the outbox),
each its own OS process.

The city is tests/la311.py's: a grid cut from the convex hull of the neighbourhood councils, the five owning
departments, the 12 request types and the rule table, here with every rule filing the case on arrival so that it is
dispatched at once; each department has a webhook channel for its new work, pointing at a receiver on loopback, so
the outbox's jobs really run and their deliveries can be counted.

Each record is POSTed to /api/v1/cases (JSON, Idempotency-Key `la311-<SRNumber>`, signed in as a centre operator,
source hotline, the record's point and mapped category) at its CreatedDate offset divided by the speed-up. Open
loop: a request's latency counts from its scheduled time, so a server falling behind shows as latency. The whole
file at 100× lasts over an hour, so a window is replayed: by default the busiest contiguous hours of the file.

Outcomes: 201 accepted; 422 naming lon/lat for a record without a point, and 422 outside_grid for a point beyond the
grid's boundary, are expected refusals, counted apart; anything else (5xx, no answer in time, any other status) is an
error. Afterwards the database must hold every accepted report exactly once and nothing for the refused ones, the
outbox must drain and every dispatched case must have reached its department's webhook once: each miss is an error.
Peak memory is each process's VmHWM, read from /proc (sampled during the run too, for the processes RQ forks per
job, which do not outlive it).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests
from flask import Flask
from sqlalchemy import text

from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.identity import create_user
from tests.e2e.live_stack import Receiver
from tests.la311 import DEPARTMENTS, created_at, records, request_types, set_up_la
from tests.perf.intake_bench import REPO, children, cpu_seconds, gunicorn
from tests.perf.recorder import Recorder, percentile

OPERATOR = "la-311-centre"
PASSWORD = "a-good-long-bench-password"
SECRET_KEY = "bench-secret-key-bench-secret-key"  # as intake_bench.gunicorn's
WEBHOOK_SECRET = "a-long-enough-webhook-secret"
CLIENT_THREADS = 16
TIMEOUT_S = 30


@dataclass(frozen=True)
class Record:
    sr: str
    at: datetime
    category: str
    lon: float | None
    lat: float | None
    address: str | None
    description: str

    @property
    def key(self) -> str:
        return f"la311-{self.sr}"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"category_code": self.category, "description": self.description, "source": "hotline"}
        if self.lon is not None and self.lat is not None:
            body |= {"lon": self.lon, "lat": self.lat}
        if self.address:
            body["address"] = self.address
        return body


def load_records() -> list[Record]:
    """Every record of the file (located or not), oldest first. The one type the taxonomy lacks (a "Feedback"
    record, without a point) goes in as "Other"."""
    types = request_types()
    out = []
    for row in records():
        point = bool(row["Latitude"] and row["Longitude"])
        out.append(
            Record(
                sr=row["SRNumber"],
                at=created_at(row["CreatedDate"]),
                category=types.get(row["RequestType"], types["Other"]),
                lon=float(row["Longitude"]) if point else None,
                lat=float(row["Latitude"]) if point else None,
                address=row["Address"][:200] or None,
                description=row["RequestType"],
            )
        )
    out.sort(key=lambda r: (r.at, r.sr))
    return out


def busiest_window(all_records: list[Record], hours: float) -> list[Record]:
    """The records of the `hours` long window (starting at a record) that holds the most of them."""
    times = [r.at for r in all_records]
    span = timedelta(hours=hours)
    best_start, best_count = 0, -1
    for i, t in enumerate(times):
        count = bisect.bisect_left(times, t + span) - i
        if count > best_count:
            best_start, best_count = i, count
    return all_records[best_start : best_start + best_count]


@dataclass
class Outcome:
    record: Record
    due: float
    status: int  # 0: no answer
    latency_ms: float
    kind: str  # accepted | refused_unlocated | refused_outside | error
    case_id: int | None = None
    detail: str = ""
    idle_s: float | None = None  # how long the client's keep-alive connection sat idle before this request
    retried: str = ""  # why the request was sent a second time (no answer the first time), if it was


def classify(record: Record, status: int, body: Any) -> tuple[str, int | None, str]:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    if status == 201 and isinstance(body, dict) and isinstance(body.get("id"), int):
        return "accepted", body["id"], ""
    if status == 422 and record.lon is None and set(error.get("details", {})) == {"lon", "lat"}:
        return "refused_unlocated", None, ""
    if status == 422 and record.lon is not None and error.get("code") == "outside_grid":
        return "refused_outside", None, str(error.get("message", ""))[:200]
    return "error", None, f"{status}: {str(body)[:300]}"


@dataclass
class Sampler:
    """Peak resident memory (VmHWM) of every process of the stack, by role, read from /proc every `every` s: over
    each process's life (`peaks`), and during the replay only (`during`: each peak is reset through
    /proc/PID/clear_refs as the replay starts). The two differ by what happened before the replay, such as a
    sign-in, whose Argon2id hash takes 64 MB for a moment. The web workers' current RSS (VmRSS) too."""

    roots: dict[str, list[int]]  # role → the gunicorn master (its workers count) or the processes (and their forks)
    every: float = 0.25
    peaks: dict[str, dict[int, float]] = field(default_factory=dict)
    during: dict[str, dict[int, float]] = field(default_factory=dict)
    reset: bool = False
    cpu: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (perf_counter, role → CPU seconds)
    stopping: threading.Event = field(default_factory=threading.Event)

    def pids(self, role: str) -> list[int]:
        if role in ("web", "postgres"):  # the gunicorn master only forks, its workers serve; PostgreSQL's backends
            return [c for root in self.roots[role] for c in children(root)]
        out = []
        for root in self.roots[role]:  # an RQ worker forks a work horse for each job
            out += [root, *children(root)]
        return out

    def sample(self) -> None:
        for role in self.roots:
            if role == "postgres":
                continue
            for pid in self.pids(role):
                hwm = _status_mb(pid, "VmHWM")
                if hwm is None:
                    continue
                for peaks in (self.peaks, self.during) if self.reset else (self.peaks,):
                    mine = peaks.setdefault(role, {})
                    mine[pid] = max(mine.get(pid, 0.0), hwm)

    def sample_cpu(self) -> None:
        """CPU seconds so far of each role's processes (with their reaped children) and of the whole machine."""
        used = {}
        for role in self.roots:
            used[role] = sum(cpu_seconds(pid, pid in self.roots[role]) for pid in self.pids(role))
        with open("/proc/stat") as f:
            jiffies = [int(v) for v in f.readline().split()[1:]]
        used["machine"] = (sum(jiffies) - jiffies[3] - jiffies[4]) / CLOCK_TICKS  # all but idle and iowait
        self.cpu.append((time.perf_counter(), used))

    def reset_peaks(self) -> None:
        for role in self.roots:
            if role == "postgres":
                continue
            for pid in self.pids(role):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS to the current
        self.reset = True

    def cpu_share(self, since: float, bucket_s: float) -> dict[int, dict[str, float]]:
        """Per bucket of the replay: each role's CPU use in % of one core (the machine's: all its processes)."""
        out: dict[int, dict[str, float]] = {}
        previous: tuple[float, dict[str, float]] | None = None
        for at, used in self.cpu:
            if previous is not None and at > since:
                bucket = int((at - since) // bucket_s)
                span = at - previous[0]
                mine = out.setdefault(bucket, {"_s": 0.0})
                mine["_s"] += span
                for role, seconds in used.items():
                    mine[role] = mine.get(role, 0.0) + max(0.0, seconds - previous[1].get(role, seconds))
            previous = (at, used)
        return {
            b: {role: 100 * v / shares["_s"] for role, v in shares.items() if role != "_s"}
            for b, shares in out.items()
            if shares["_s"] > 0
        }

    def cpu_used(self, since: float) -> dict[str, float]:
        """CPU seconds each role used from `since` to the last sample."""
        after = [used for at, used in self.cpu if at >= since]
        if len(after) < 2:
            return {}
        return {role: after[-1][role] - after[0].get(role, 0.0) for role in after[-1]}

    def rss(self, role: str) -> dict[int, float]:
        return {pid: mb for pid in self.pids(role) if (mb := _status_mb(pid, "VmRSS")) is not None}

    def _loop(self) -> None:
        while not self.stopping.wait(self.every):
            self.sample()
            self.sample_cpu()

    @contextlib.contextmanager
    def running(self) -> Iterator[Sampler]:
        self.sample()
        self.reset_peaks()
        self.sample()
        thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            thread.join(5)
            self.sample()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _status_mb(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@dataclass
class Figures:
    window: list[Record]
    hours: float
    speedup: float
    limited: bool
    outcomes: list[Outcome]
    wall_s: float
    drain_s: float
    lost: list[str]  # accepted keys with no case
    doubled: list[str]  # keys with more than one case
    unexpected_cases: list[str]  # refused keys that have a case anyway
    outbox_rows: int
    outbox_pending: int
    dispatched: int
    deliveries: int
    undelivered: list[int]  # dispatched cases whose department never heard
    delivered_twice: list[int]
    peaks: dict[str, dict[int, float]]  # each process's peak over its life
    during: dict[str, dict[int, float]]  # and during the replay
    web_rss_start: dict[int, float]
    web_rss_end: dict[int, float]
    statuses: dict[str, int]  # the replayed cases by status
    cpu: dict[int, dict[str, float]]  # per 10 s of the replay: CPU use by role, % of one core
    cpu_used: dict[str, float]  # CPU seconds by role over the replay and the drain
    periodic: list[tuple[str, float, float]]  # periodic jobs run during the replay: name, start, seconds
    roots: dict[str, list[int]]  # the long-lived processes by role (web: the gunicorn master)

    def of(self, kind: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == kind]

    @property
    def request_errors(self) -> int:
        return len(self.of("error"))

    @property
    def errors(self) -> int:
        """Everything that went wrong: failed requests, reports lost or doubled, work left undone."""
        return (
            self.request_errors
            + len(self.lost)
            + len(self.doubled)
            + len(self.unexpected_cases)
            + self.outbox_pending
            + len(self.undelivered)
            + len(self.delivered_twice)
        )

    @property
    def latencies(self) -> list[float]:
        return [o.latency_ms for o in self.outcomes if o.kind != "error"]

    def pct(self, q: float) -> float:
        samples = self.latencies
        if not samples:
            return 0.0
        return percentile(samples, q) if len(samples) > 1 else samples[0]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0

    @property
    def scheduled_rate(self) -> float:
        span = (self.window[-1].at - self.window[0].at).total_seconds() / self.speedup
        return len(self.window) / span if span > 0 else 0.0

    @property
    def achieved_rate(self) -> float:
        return len(self.outcomes) / self.wall_s if self.wall_s else 0.0

    def timeline(self, bucket_s: float = 10) -> str:
        buckets: dict[int, list[float]] = {}
        for o in self.outcomes:
            buckets.setdefault(int(o.due // bucket_s), []).append(o.latency_ms)
        parts = []
        for b, v in sorted(buckets.items()):
            cpu = self.cpu.get(b, {})
            share = " ".join(
                f"{role} {cpu[role]:.0f}%" for role in ("machine", "web", "postgres", "worker") if role in cpu
            )
            parts.append(f"+{int(b * bucket_s)}: {len(v)}, {statistics.median(v):.0f}, {max(v):.0f} [{share}]")
        return ", ".join(parts)

    @property
    def web_cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_used.get("web", 0.0) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def worker_cpu_ms_per_job(self) -> float:
        return 1000 * self.cpu_used.get("worker", 0.0) / self.outbox_rows if self.outbox_rows else 0.0

    def memory(self, during: bool = False) -> str:
        """Each process's peak, by role; the processes RQ forks for single jobs in one figure."""
        parts = []
        for role, peaks in sorted((self.during if during else self.peaks).items()):
            roots = set(self.roots.get(role, []))
            mine = [f"{pid}: {mb:.0f}" for pid, mb in sorted(peaks.items()) if role == "web" or pid in roots]
            forks = [mb for pid, mb in peaks.items() if role != "web" and pid not in roots]
            if forks:
                mine.append(f"{len(forks)} work horses seen, at most {max(forks):.0f}")
            parts.append(f"{role} " + ", ".join(mine))
        return "; ".join(parts)

    def peak(self, role: str, during: bool = False) -> float:
        return max((self.during if during else self.peaks).get(role, {}).values(), default=0.0)

    def describe_window(self) -> str:
        first, last = self.window[0].at, self.window[-1].at
        limit = f", first {len(self.window)} records only" if self.limited else ""
        return (
            f"{first:%Y-%m-%d %H:%M:%S}..{last:%H:%M:%S} America/Los_Angeles ({self.hours:g} h busiest window{limit}):"
            f" {len(self.window)} records, {sum(r.lon is None for r in self.window)} without a point;"
            f" at {self.speedup:g}× that is {self.window_seconds:.0f} s, {self.scheduled_rate:.1f} records/s"
        )

    @property
    def window_seconds(self) -> float:
        return (self.window[-1].at - self.window[0].at).total_seconds() / self.speedup


def prepare(app: Flask, cell_m: float, receiver_url: str) -> int:
    """The city, the centre's operator and a webhook channel per department; returns the operator's id."""
    with app.app_context():
        session = db.session()
        now = utcnow()
        set_up_la(session, now, cell_m, auto_file=True)
        operator = create_user(session, OPERATOR, PASSWORD, ["operator"])
        session.flush()
        for code in DEPARTMENTS.values():
            session.execute(
                text(
                    "INSERT INTO notification_channels (department_code, kind, target, secret, events)"
                    " VALUES (:d, 'webhook', :t, :s, ARRAY['new_work'])"
                ),
                {"d": code, "t": receiver_url, "s": WEBHOOK_SECRET},
            )
        session.commit()
        operator_id = int(operator.id)
        db.session.remove()
        db.engine.dispose()
    return operator_id


def _env(database_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    """The environment intake_bench.gunicorn gives the web processes, for the worker and the scheduler."""
    return os.environ | {
        "CITYMGMT_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "CITYMGMT_VAR_DIR": str(var_dir),
        "CITYMGMT_LOG_LEVEL": "WARNING",
        "CITYMGMT_SECURE_COOKIES": "false",
    }


@contextlib.contextmanager
def background(env: dict[str, str], logs: Path, workers: int) -> Iterator[dict[str, int]]:
    """`workers` RQ workers and the scheduler (`citymgmt worker`, `citymgmt scheduler`, as the Procfile runs them);
    yields role-name → pid."""
    logs.mkdir(parents=True, exist_ok=True)
    citymgmt = str(Path(sys.executable).parent / "citymgmt")
    commands = {f"worker-{i}": [citymgmt, "worker", "--name", f"replay-{i}-{os.getpid()}"] for i in range(workers)}
    commands["scheduler"] = [citymgmt, "scheduler"]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in commands.items():
            with (logs / f"{name}.log").open("ab") as out:
                processes[name] = subprocess.Popen(
                    argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        yield {name: p.pid for name, p in processes.items()}
    finally:
        for p in processes.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in processes.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def _tail(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(logs.glob("*.log")))


def _wait_healthy(base: str, logs: Path, timeout: float = 90) -> None:
    """/healthz answers 200 once the worker's and the scheduler's heartbeats are in Redis."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{base}/healthz", timeout=10)
            if response.status_code == 200:
                return
            last = response.text[:500]
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise RuntimeError(f"the stack did not become healthy: {last}\n{_tail(logs)}")


def _token(base: str) -> str:
    response = requests.post(
        f"{base}/api/v1/auth/token", json={"username": OPERATOR, "password": PASSWORD}, timeout=TIMEOUT_S
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def replay(
    base: str, token: str, window: list[Record], speedup: float, threads: int = CLIENT_THREADS
) -> tuple[list[Outcome], datetime, float]:
    """Open loop: record i is due at start + (its time - the first's) / speedup; `threads` clients, each with its
    own keep-alive connection, take the records in order and wait for each one's due time. A request that got no
    answer at all (the connection reset or refused) is sent once more with the same Idempotency-Key, as a client
    of this API should; a timeout is not retried. Returns the outcomes and the start (wall clock, perf_counter)."""
    first = window[0].at
    offsets = [(r.at - first).total_seconds() / speedup for r in window]
    counter = itertools.count()
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    start = time.perf_counter() + 0.5
    start_wall = utcnow() + timedelta(seconds=0.5)

    def loop() -> None:
        mine: list[Outcome] = []
        last_answer: float | None = None
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {token}"
            while (i := next(counter)) < len(window):
                record, due = window[i], start + offsets[i]
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                idle = time.perf_counter() - last_answer if last_answer is not None else None
                retried = ""
                for attempt in (1, 2):
                    try:
                        response = http.post(
                            f"{base}/api/v1/cases",
                            json=record.body(),
                            headers={"Idempotency-Key": record.key},
                            timeout=TIMEOUT_S,
                        )
                    except requests.ConnectionError as exc:
                        if attempt == 1 and not isinstance(exc, requests.Timeout):
                            retried = repr(exc)[:300]
                            continue
                        outcome = Outcome(record, due - start, 0, 0, "error", None, repr(exc)[:300])
                    except requests.RequestException as exc:
                        outcome = Outcome(record, due - start, 0, 0, "error", None, repr(exc)[:300])
                    else:
                        try:
                            body = response.json()
                        except ValueError:
                            body = response.text
                        kind, case_id, detail = classify(record, response.status_code, body)
                        outcome = Outcome(record, due - start, response.status_code, 0, kind, case_id, detail)
                    break
                last_answer = time.perf_counter()
                outcome.latency_ms = (last_answer - due) * 1000
                outcome.idle_s, outcome.retried = idle, retried
                mine.append(outcome)
        with lock:
            outcomes.extend(mine)

    clients = [threading.Thread(target=loop, name=f"replay-client-{n}") for n in range(threads)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    outcomes.sort(key=lambda o: o.due)
    return outcomes, start_wall, start


def periodic_runs(redis_url: str, since: datetime) -> list[tuple[str, float, float]]:
    """The periodic jobs (SLA sweep, roll-ups, reconciliation) that ran since `since`: name, start offset in s from
    `since`, duration in s, from RQ's records of finished jobs."""
    from redis import Redis
    from rq.job import Job

    out = []
    with Redis.from_url(redis_url) as redis:
        ids = [k.decode().removeprefix("rq:job:") for k in redis.scan_iter("rq:job:periodic-*")]
        for job in Job.fetch_many(ids, connection=redis):
            if job is None or job.started_at is None or job.ended_at is None:
                continue
            started = job.started_at.replace(tzinfo=since.tzinfo)
            ended = job.ended_at.replace(tzinfo=since.tzinfo)
            if ended >= since:
                name = job.id.removeprefix("periodic-").rsplit("-", 1)[0]
                out.append((name, (started - since).total_seconds(), (ended - started).total_seconds()))
    return sorted(out, key=lambda r: r[1])


def _sql(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _drain(dsn: str, timeout: float) -> tuple[float, int, int]:
    """Seconds until no outbox row is left undone (or the timeout), the rows and those still undone."""
    started = time.monotonic()
    while True:
        total, pending = _sql(dsn, "SELECT count(*), count(*) FILTER (WHERE done_at IS NULL) FROM outbox")[0]
        if pending == 0 or time.monotonic() - started > timeout:
            return time.monotonic() - started, int(total), int(pending)
        time.sleep(0.2)


def run(
    app: Flask,
    servers: Any,
    database_url: str,
    hours: float,
    speedup: float,
    limit: int | None = None,
    cell_m: float = 500,
    web_workers: int = 2,
    rq_workers: int = 1,
    drain_timeout: float = 60,
) -> Figures:
    window = busiest_window(load_records(), hours)
    limited = limit is not None and limit < len(window)
    window = window[:limit] if limit is not None else window
    receiver = Receiver()
    try:
        operator_id = prepare(app, cell_m, receiver.url)
        settings = app.extensions["citymgmt.settings"]
        redis_url = settings.resolved_redis_url()
        app.extensions["citymgmt.redis"].flushdb()  # the bench's own Redis database: no job but ours
        var_dir = servers.root / f"var-replay-{os.getpid()}-{time.monotonic_ns()}"
        logs = var_dir / "logs"
        env = _env(database_url, redis_url, var_dir)
        with (
            gunicorn(database_url, redis_url, var_dir, web_workers) as (base, master),
            background(env, logs, rq_workers) as pids,
        ):
            _wait_healthy(base, logs)
            token = _token(base)
            workers = [pid for name, pid in pids.items() if name.startswith("worker-")]
            roots = {"web": [master], "worker": workers, "scheduler": [pids["scheduler"]]}
            with contextlib.suppress(OSError, ValueError, AttributeError):
                roots["postgres"] = [int(servers.postgres.pid_file.read_text().split()[0])]
            sampler = Sampler(roots)
            web_rss_start = sampler.rss("web")
            with sampler.running():
                started = time.perf_counter()
                outcomes, started_at, started_perf = replay(base, token, window, speedup)
                wall = time.perf_counter() - started - 0.5
                dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
                drain_s, outbox_rows, outbox_pending = _drain(dsn, drain_timeout)
            web_rss_end = sampler.rss("web")
            periodic = periodic_runs(redis_url, started_at)
    finally:
        receiver.close()

    keys = [r.key for r in window]
    rows = _sql(
        dsn,
        "SELECT idempotency_key, id, department_code, status FROM cases"
        " WHERE reporter_id = %s AND idempotency_key = ANY(%s)",
        (operator_id, keys),
    )
    by_key: dict[str, list[int]] = {}
    for key, case_id, _, _ in rows:
        by_key.setdefault(key, []).append(case_id)
    accepted = {o.record.key: o.case_id for o in outcomes if o.kind == "accepted"}
    lost = [k for k, case_id in accepted.items() if by_key.get(k) != [case_id]]
    doubled = [k for k, ids in by_key.items() if len(ids) > 1]
    unexpected = [k for k in by_key if k not in accepted]
    dispatched = {case_id for _, case_id, department, _ in rows if department is not None}
    delivered = Counter(case_id for d in receiver.new_work() for case_id in d.case_ids)
    return Figures(
        window=window,
        hours=hours,
        speedup=speedup,
        limited=limited,
        outcomes=outcomes,
        wall_s=wall,
        drain_s=drain_s,
        lost=lost,
        doubled=doubled,
        unexpected_cases=unexpected,
        outbox_rows=outbox_rows,
        outbox_pending=outbox_pending,
        dispatched=len(dispatched),
        deliveries=sum(delivered.values()),
        undelivered=sorted(dispatched - set(delivered)),
        delivered_twice=sorted(c for c, n in delivered.items() if n > 1),
        peaks=sampler.peaks,
        during=sampler.during,
        web_rss_start=web_rss_start,
        web_rss_end=web_rss_end,
        roots=sampler.roots,
        periodic=periodic,
        cpu=sampler.cpu_share(started_perf, 10),
        cpu_used=sampler.cpu_used(started_perf),
        statuses=dict(Counter(status for *_, status in rows)),
    )


def summary(f: Figures) -> str:
    counts = Counter(o.kind for o in f.outcomes)
    slow = sorted(f.outcomes, key=lambda o: -o.latency_ms)[:5]
    errors = f.of("error")
    by_status = Counter(o.status for o in errors)
    lines = [
        f"window: {f.describe_window()}",
        f"replayed {len(f.outcomes)} records in {f.wall_s:.1f} s ({f.achieved_rate:.1f}/s achieved,"
        f" {f.scheduled_rate:.1f}/s scheduled): {counts['accepted']} accepted,"
        f" {counts['refused_unlocated']} refused without a point (422 naming lon and lat, expected),"
        f" {counts['refused_outside']} refused outside the grid (422 outside_grid, expected),"
        f" {counts['error']} errors {dict(by_status)}",
        f"latency from the scheduled time: p50 {f.p50:.1f} ms, p95 {f.pct(0.95):.1f} ms, p99 {f.pct(0.99):.1f} ms,"
        f" max {max(f.latencies, default=0):.1f} ms; slowest: "
        + ", ".join(f"{o.record.key} {o.latency_ms:.0f} ms at +{o.due:.1f} s" for o in slow),
        f"database: {len(f.lost)} accepted reports missing, {len(f.doubled)} doubled, {len(f.unexpected_cases)}"
        f" cases for refused records; outbox: {f.outbox_rows} rows, {f.outbox_pending} undone"
        f" {f.drain_s:.1f} s after the last answer; {f.dispatched} cases dispatched, {f.deliveries} webhook"
        f" deliveries, {len(f.undelivered)} undelivered, {len(f.delivered_twice)} delivered twice; cases by status"
        f" {f.statuses} (a suspected duplicate is filed, not dispatched)",
        f"peak RSS (VmHWM) MB over each process's life: {f.memory()}",
        f"peak RSS (VmHWM) MB during the replay: {f.memory(during=True)}",
        "web workers' RSS MB before → after the replay: "
        + ", ".join(
            f"{pid}: {mb:.0f} → {f.web_rss_end.get(pid, 0):.0f}" for pid, mb in sorted(f.web_rss_start.items())
        ),
        f"replay_errors {f.errors}",
    ]
    retried = [o for o in f.outcomes if o.retried]
    if retried:
        lines.append(
            f"{len(retried)} requests got no answer and were sent again (same Idempotency-Key): "
            + " | ".join(
                f"{o.record.key} at +{o.due:.1f} s after {o.idle_s or 0:.2f} s idle: {o.retried[:120]}"
                for o in retried[:5]
            )
        )
    if f.cpu_used:
        lines.append(
            f"CPU over the replay and the drain: web workers {f.cpu_used.get('web', 0):.1f} s"
            f" ({f.web_cpu_ms_per_request:.1f} ms a request), RQ worker with its work horses"
            f" {f.cpu_used.get('worker', 0):.1f} s ({f.worker_cpu_ms_per_job:.1f} ms a job),"
            f" PostgreSQL {f.cpu_used.get('postgres', 0):.1f} s, scheduler {f.cpu_used.get('scheduler', 0):.1f} s,"
            f" the whole machine {f.cpu_used.get('machine', 0):.1f} s"
        )
    lines.append(
        "every 10 s of the replay (count, p50 ms, max ms [CPU use in % of one core: the whole machine (2 cores),"
        " the web workers, PostgreSQL, the RQ worker]): " + f.timeline()
    )
    lines.append(
        "periodic jobs during the replay (start s, duration s): "
        + (", ".join(f"{name} +{at:.1f} {took:.2f}" for name, at, took in f.periodic) or "none")
    )
    if errors:
        lines.append("first errors: " + " | ".join(f"{o.record.key} {o.detail}" for o in errors[:5]))
    if f.lost or f.doubled or f.unexpected_cases or f.undelivered:
        lines.append(f"lost {f.lost[:5]} doubled {f.doubled[:5]} unexpected {f.unexpected_cases[:5]}"
                     f" undelivered {f.undelivered[:5]}")  # fmt: skip
    return "\n".join(lines)


def record(recorder: Recorder, f: Figures) -> None:
    counts = Counter(o.kind for o in f.outcomes)
    window = f"{f.hours:g} h busiest window at {f.speedup:g}×"
    recorder.add("replay_errors", f.errors, "errors", higher_is_better=False, target="0")
    recorder.add("replay_retries", sum(bool(o.retried) for o in f.outcomes), "requests", higher_is_better=False)
    recorder.add("replay_p50_ms", f.p50, "ms", higher_is_better=False)
    recorder.add("replay_p95_ms", f.pct(0.95), "ms", higher_is_better=False)
    recorder.add("replay_p99_ms", f.pct(0.99), "ms", higher_is_better=False)
    recorder.add("replay_reports_replayed", len(f.outcomes), "records", target=f"all {len(f.window)} of the {window}")
    recorder.add("replay_reports_accepted", counts["accepted"], "reports")
    recorder.add("replay_refused_without_point", counts["refused_unlocated"], "records", higher_is_better=False)
    recorder.add(
        "replay_achieved_rate",
        f.achieved_rate,
        "records/s",
        baseline=f"the records' own pace, {window}",
        baseline_value=f.scheduled_rate,
        target="≈ 1.0 × the scheduled rate",
    )
    recorder.add("replay_web_cpu_ms_per_request", f.web_cpu_ms_per_request, "ms", higher_is_better=False)
    recorder.add(
        "replay_worker_cpu_ms_per_job",
        f.worker_cpu_ms_per_job,
        "ms",
        higher_is_better=False,
        baseline="the web workers' CPU a request",
        baseline_value=f.web_cpu_ms_per_request,
    )
    recorder.add("replay_outbox_drain_s", f.drain_s, "s", higher_is_better=False)
    recorder.add("replay_web_peak_rss_mb", f.peak("web"), "MB", higher_is_better=False)
    recorder.add("replay_worker_peak_rss_mb", f.peak("worker"), "MB", higher_is_better=False)
    recorder.add("replay_scheduler_peak_rss_mb", f.peak("scheduler"), "MB", higher_is_better=False)
    for role in ("web", "worker", "scheduler"):
        recorder.add(f"replay_{role}_peak_rss_mb_in_replay", f.peak(role, during=True), "MB", higher_is_better=False)
    growth = max((f.web_rss_end.get(pid, mb) - mb for pid, mb in f.web_rss_start.items()), default=0.0)
    recorder.add("replay_web_rss_growth_mb", growth, "MB", higher_is_better=False)
