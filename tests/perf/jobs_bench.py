"""Background jobs that keep up (issue 25 item 1): notifications delivered a second by one worker process, how late
retries run behind a backlog, and how old the backlog gets.

Each notification is a real `notify.deliver` outbox row, relayed by the outbox's relay (up to `outbox.JOB_BATCH`
notices to an RQ job) and delivered by `citymgmt worker` (the Procfile's command, as a process of its own) to a
webhook receiver on loopback. What is counted is notices delivered (each one's first arrival at the receiver), not
RQ jobs; the RQ jobs a second are printed beside. Baselines, in the same run:

- throughput: the same worker with one notice an RQ job (the relay's `batch=1`, as every job ran before batches);
- retry lateness: the same backlog put into Redis at once, its retries queued the way RQ does by default (at the back
  of the queue) instead of at its front.

The relay runs in a thread of the benchmark as the scheduler runs it with rows held back (`outbox.RELAY_AHEAD`):
again every `outbox.HELD_POLL_SECONDS`.

Every `FLAKY_EVERY`-th notification of the first third goes to a channel whose receiver answers 500 to a delivery's
first attempt: the job fails, RQ schedules its retry 10 s later, and the retry's lateness is the time between its
due time and its arrival at the receiver (both on the bench's clock; the due time is the failed attempt's arrival
plus the first retry interval, so the lateness counts the job's own few milliseconds too).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask
from redis import Redis
from rq import Retry
from sqlalchemy import text

from citymgmt.core import outbox
from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db, unit_of_work
from citymgmt.core.queue import QUEUES, RETRY_INTERVALS, backlog_age, get_queue, job_options
from tests.conftest import REPO
from tests.perf.recorder import Recorder, percentile

FLAKY_EVERY = 60
SECRET = "bench-jobs-webhook-secret"
TIMEOUT_S = 600


class Receiver:
    """A webhook endpoint on loopback: `/ok` takes every delivery, `/flaky` refuses each delivery's first attempt."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, str, int]] = []  # (monotonic time, path, delivery id, status)
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["X-Citymgmt-Delivery"]
                with receiver.lock:
                    status = 500 if self.path == "/flaky" and delivery not in receiver.seen else 200
                    receiver.seen.add(delivery)
                    receiver.arrivals.append((time.monotonic(), self.path, delivery, status))
                self.send_response(status)  # HTTP/1.1: a sender may keep its connection
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="jobs-receiver", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{path}"

    def snapshot(self) -> list[tuple[float, str, str, int]]:
        with self.lock:
            return list(self.arrivals)

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.seen.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()


@dataclass
class Run:
    """One worker's pass over a backlog."""

    jobs: int  # notices
    batch: int = 1  # notices an RQ job, at most
    first_attempts: list[float] = field(default_factory=list)  # arrival times of each delivery's first attempt
    lateness: list[float] = field(default_factory=list)  # each retry's arrival minus its due time, seconds
    backlog_ages: list[float] = field(default_factory=list)  # the oldest queued job's age, sampled
    worker_cpu_s: float = 0.0
    offered_per_s: float = 0.0  # a stream's: the notices written a second
    lag_s: float = 0.0  # a stream's: from its last commit to its last delivery

    @property
    def per_s(self) -> float:
        span = max(self.first_attempts) - min(self.first_attempts)
        return (len(self.first_attempts) - 1) / span if span > 0 else 0.0

    @property
    def rq_jobs_per_s(self) -> float:
        return self.per_s / self.batch

    @property
    def lateness_p99(self) -> float:
        if len(self.lateness) < 2:
            return max(self.lateness, default=0.0)
        return percentile(self.lateness, 0.99)


@dataclass
class Figures:
    load: tuple[float, float]  # the machine's load average (1 min) at the start and the end
    throughput: list[Run]  # the worker of `citymgmt worker`, notices in batches, no retries
    baseline: list[Run]  # the same, one notice an RQ job
    retries: Run  # `citymgmt worker`, retries to the front
    retries_baseline: Run  # `citymgmt worker`, retries at the back (RQ's default)
    stream: Run | None = None  # a steady stream, rows held back behind RELAY_AHEAD queued jobs
    stream_baseline: Run | None = None  # the same stream, never held back

    @staticmethod
    def median_rate(runs: list[Run]) -> float:
        return statistics.median(r.per_s for r in runs)

    @staticmethod
    def median_jobs_rate(runs: list[Run]) -> float:
        return statistics.median(r.rq_jobs_per_s for r in runs)

    @staticmethod
    def cpu_ms_per_job(runs: list[Run]) -> float:
        return statistics.median(1000 * r.worker_cpu_s / r.jobs for r in runs)


def prepare(app: Flask, receiver: Receiver) -> dict[str, int]:
    """Two centre channels (no department) on the receiver: one that always answers, one that fails first attempts."""
    from dispatch.notifications.operations import add_channel

    with app.app_context(), unit_of_work() as session:
        channels = {
            path: add_channel(session, "webhook", receiver.url(path), None, secret=SECRET).id
            for path in ("ok", "flaky")
        }
    with app.app_context():
        db.session.remove()
    return channels


def add_notifications(app: Flask, channels: dict[str, int], jobs: int, flaky: bool) -> list[int]:
    """`jobs` notifications, each with its delivery job in the outbox (set-based, as `notify` would write them one by
    one); every FLAKY_EVERY-th of the first third to the flaky channel when `flaky`. Returns the outbox ids."""
    with app.app_context(), unit_of_work() as session:
        session.execute(
            text(
                "INSERT INTO notifications (channel_id, event, case_ids, created_at)"
                " SELECT CASE WHEN :flaky AND g % :every = 0 AND g <= :jobs / 3 THEN :bad ELSE :good END,"
                "        'new_work', ARRAY[g]::bigint[], now()"
                " FROM generate_series(1, :jobs) AS g"
            ),
            {"flaky": flaky, "every": FLAKY_EVERY, "jobs": jobs, "bad": channels["flaky"], "good": channels["ok"]},
        )
        ids = list(
            session.execute(
                text(
                    "WITH fresh AS (SELECT id FROM notifications WHERE outbox_id IS NULL ORDER BY id),"
                    " jobs AS (INSERT INTO outbox (job, args, queue)"
                    "   SELECT 'notify.deliver', jsonb_build_object('notification_id', id), 'default' FROM fresh"
                    "   ORDER BY id RETURNING id, (args->>'notification_id')::bigint AS notification_id)"
                    " UPDATE notifications n SET outbox_id = jobs.id FROM jobs WHERE n.id = jobs.notification_id"
                    " RETURNING jobs.id"
                )
            ).scalars()
        )
    with app.app_context():
        db.session.remove()
    return sorted(ids)


def enqueue_at_the_back(app: Flask, redis: Redis, ids: list[int]) -> None:
    """The retry baseline: the relay's enqueue (its batches), with RQ's default retry (a due retry joins the back of
    the queue)."""
    queue = get_queue("default", connection=redis)
    options = job_options(retry=Retry(max=5, interval=RETRY_INTERVALS))
    batches = [ids[start : start + outbox.JOB_BATCH] for start in range(0, len(ids), outbox.JOB_BATCH)]
    with redis.pipeline() as pipe:
        queue.enqueue_many(
            [
                queue.prepare_data(outbox.run_batch, args=(b,), job_id=f"outbox-batch-{b[0]}", **options)
                for b in batches
            ],
            pipeline=pipe,
        )
        pipe.execute()
    with app.app_context(), unit_of_work() as session:
        for batch in batches:
            session.execute(
                text("UPDATE outbox SET enqueued_at = now(), rq_job = :job WHERE id = ANY(:ids)"),
                {"ids": batch, "job": f"outbox-batch-{batch[0]}"},
            )
    with app.app_context():
        db.session.remove()


def env(database_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    return os.environ | {
        "CITYMGMT_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key-bench-secret-key",
        "CITYMGMT_VAR_DIR": str(var_dir),
        "CITYMGMT_LOG_LEVEL": "WARNING",
    }


def _cpu_s(pid: int) -> float:
    """The process's CPU so far, its waited-for children (a forking worker's horses) included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def process(argv: list[str], environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        p = subprocess.Popen(argv, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def _wait(condition: Any, what: str, log: Path, timeout: float = TIMEOUT_S, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(every)


@contextlib.contextmanager
def relaying(app: Flask, redis: Redis, batch: int, ahead: int = outbox.RELAY_AHEAD) -> Iterator[None]:
    """The outbox's relay in a thread, as the scheduler runs it while it holds rows back (their queue full enough):
    again every HELD_POLL_SECONDS."""
    stopping = threading.Event()
    now = SystemClock().now

    def loop() -> None:
        with app.app_context():
            while not stopping.is_set():
                outbox.relay_pending(redis, now(), batch=batch, ahead=ahead)
                db.session.remove()
                stopping.wait(outbox.HELD_POLL_SECONDS)

    thread = threading.Thread(target=loop, name="jobs-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(30)


def drain(
    app: Flask,
    receiver: Receiver,
    redis: Redis,
    jobs: int,
    retries: int,
    argv: list[str],
    environment: dict[str, str],
    log: Path,
    batch: int = outbox.JOB_BATCH,
    relay: bool = True,
) -> Run:
    """Start a worker on the backlog (relayed meanwhile with `relay`), wait until every notice and retry reached the
    receiver, stop it (SIGTERM, as honcho or systemd would). Its CPU is counted from the first delivery to the last;
    the backlog's age is sampled as /healthz has it (the oldest queued job, or outbox row not yet relayed)."""
    receiver.reset()
    run = Run(jobs=jobs, batch=batch)
    clock = SystemClock()
    with relaying(app, redis, batch) if relay else contextlib.nullcontext(), process(argv, environment, log) as worker:
        _wait(lambda: bool(receiver.snapshot()), "the first delivery", log, every=0.02)
        cpu_at_first = _cpu_s(worker.pid)

        def done() -> bool:
            run.backlog_ages.append(_backlog_age(app, redis, clock.now()))
            return len(receiver.snapshot()) >= jobs + retries

        _wait(done, f"{jobs} deliveries and {retries} retries", log, every=0.25)
        run.worker_cpu_s = _cpu_s(worker.pid) - cpu_at_first
    arrivals = receiver.snapshot()
    first: dict[str, float] = {}
    for at, _path, delivery, _status in arrivals:
        first.setdefault(delivery, at)
    run.first_attempts = sorted(first.values())
    failed = {delivery: at for at, path, delivery, status in arrivals if status == 500}
    for at, _path, delivery, status in arrivals:
        if status == 200 and delivery in failed:
            run.lateness.append(at - failed[delivery] - RETRY_INTERVALS[0])
    assert len(run.lateness) == retries, (len(run.lateness), retries)
    return run


STREAM_PER_COMMIT = 2  # notices a commit in the stream, as a dispatch writes them (a channel or two)


def _backlog_age(app: Flask, redis: Redis, now: datetime) -> float:
    """As /healthz has it: the oldest queued job, or outbox row not yet relayed."""
    with app.app_context(), unit_of_work() as session:
        in_outbox = outbox.oldest_pending_s(session, now)
    with app.app_context():
        db.session.remove()
    return max(*backlog_age(redis, now).values(), in_outbox)


def stream(
    app: Flask,
    channels: dict[str, int],
    receiver: Receiver,
    redis: Redis,
    rate: float,
    seconds: float,
    argv: list[str],
    environment: dict[str, str],
    log: Path,
    ahead: int,
) -> Run:
    """A stream of `rate` notices a second for `seconds`, STREAM_PER_COMMIT a commit, the relay run after each commit
    (as a commit's NOTIFY wakes the scheduler) and every HELD_POLL_SECONDS, holding rows back behind `ahead` queued
    jobs (0: never); one worker delivers them."""
    receiver.reset()
    total = int(rate * seconds) // STREAM_PER_COMMIT * STREAM_PER_COMMIT
    run = Run(jobs=total, batch=outbox.JOB_BATCH)
    clock = SystemClock()
    with process(argv, environment, log) as worker, relaying(app, redis, outbox.JOB_BATCH, ahead):
        cpu_at_start = _cpu_s(worker.pid)
        started = sampled = time.monotonic()
        for written in range(0, total, STREAM_PER_COMMIT):
            pause = started + written / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            add_notifications(app, channels, STREAM_PER_COMMIT, flaky=False)
            with app.app_context():
                outbox.relay_pending(redis, clock.now(), ahead=ahead)
                db.session.remove()
            if time.monotonic() - sampled > 0.5:
                sampled = time.monotonic()
                run.backlog_ages.append(_backlog_age(app, redis, clock.now()))
        written_at = time.monotonic()
        run.offered_per_s = total / (written_at - started)

        def done() -> bool:
            run.backlog_ages.append(_backlog_age(app, redis, clock.now()))
            return len(receiver.snapshot()) >= total

        _wait(done, f"{total} deliveries of the stream", log, every=0.25)
        run.worker_cpu_s = _cpu_s(worker.pid) - cpu_at_start
    run.first_attempts = sorted({d: at for at, _p, d, _s in reversed(receiver.snapshot())}.values())
    run.lag_s = max(run.first_attempts) - written_at
    return run


def run(
    app: Flask,
    database_url: str,
    redis_url: str,
    var_dir: Path,
    jobs: int,
    baseline_jobs: int,
    repeats: int = 1,
    retries: bool = True,
    stream_rate: float = 0.0,
    stream_seconds: float = 20.0,
) -> Figures:
    """Notices a second of `citymgmt worker`, batched and one an RQ job (alternated, `repeats` times each), then the
    retries behind a backlog of `jobs` with them at the front and at the back of the queue, then (with
    `stream_rate`) a steady stream with rows held back and never held back."""
    logs = var_dir / "bench-jobs"
    logs.mkdir(parents=True, exist_ok=True)
    environment = env(database_url, redis_url, var_dir)
    bin_dir = Path(sys.executable).parent
    citymgmt = [str(bin_dir / "citymgmt"), "worker", "--name", f"bench-jobs-{os.getpid()}"]  # as the Procfile
    redis = Redis.from_url(redis_url)
    receiver = Receiver()
    try:
        channels = prepare(app, receiver)
        throughput, baseline = [], []
        load = os.getloadavg()[0]
        for _ in range(repeats):
            add_notifications(app, channels, baseline_jobs, flaky=False)
            baseline.append(
                drain(app, receiver, redis, baseline_jobs, 0, citymgmt, environment, logs / "worker.log", batch=1)
            )
            add_notifications(app, channels, jobs, flaky=False)
            throughput.append(drain(app, receiver, redis, jobs, 0, citymgmt, environment, logs / "worker.log"))
        if not retries:
            return Figures((load, os.getloadavg()[0]), throughput, baseline, Run(jobs=0), Run(jobs=0))
        flaky = sum(1 for g in range(1, jobs + 1) if g % FLAKY_EVERY == 0 and g <= jobs // 3)
        ids = add_notifications(app, channels, jobs, flaky=True)
        enqueue_at_the_back(app, redis, ids)
        at_back = drain(app, receiver, redis, jobs, flaky, citymgmt, environment, logs / "worker.log", relay=False)
        add_notifications(app, channels, jobs, flaky=True)
        at_front = drain(app, receiver, redis, jobs, flaky, citymgmt, environment, logs / "worker.log")
        assert all(get_queue(q, connection=redis).count == 0 for q in QUEUES)
        figures = Figures((load, os.getloadavg()[0]), throughput, baseline, at_front, at_back)
        if stream_rate:
            figures.stream_baseline = stream(
                app,
                channels,
                receiver,
                redis,
                stream_rate,
                stream_seconds,
                citymgmt,
                environment,
                logs / "worker.log",
                0,
            )
            figures.stream = stream(
                app,
                channels,
                receiver,
                redis,
                stream_rate,
                stream_seconds,
                citymgmt,
                environment,
                logs / "worker.log",
                outbox.RELAY_AHEAD,
            )
            figures.load = (load, os.getloadavg()[0])
        return figures
    finally:
        receiver.close()


def summary(f: Figures) -> str:
    lines = [
        f"load average (1 min) at the start {f.load[0]:.1f}, at the end {f.load[1]:.1f} ({os.cpu_count()} CPUs)",
        f"notifications delivered a second, one citymgmt worker process: up to {outbox.JOB_BATCH} notices an RQ job "
        + ", ".join(f"{r.per_s:.0f}" for r in f.throughput)
        + f" (median {f.median_rate(f.throughput):.0f}); one notice an RQ job (before) "
        + ", ".join(f"{r.per_s:.1f}" for r in f.baseline)
        + f" (median {f.median_rate(f.baseline):.1f})",
        f"RQ jobs a second (each of up to {outbox.JOB_BATCH} notices, the last one of a backlog fewer):"
        f" batched {f.median_jobs_rate(f.throughput):.1f}; one notice a job {f.median_jobs_rate(f.baseline):.1f}",
        f"worker CPU a notice: batched {f.cpu_ms_per_job(f.throughput):.2f} ms;"
        f" one notice a job {f.cpu_ms_per_job(f.baseline):.2f} ms",
    ]
    if f.retries.jobs:
        for name, r in (
            ("retries to the front", f.retries),
            ("retries at the back (RQ's default)", f.retries_baseline),
        ):
            lines.append(
                f"{name}: {len(r.lateness)} retries behind a backlog of {r.jobs} jobs, lateness p50"
                f" {statistics.median(r.lateness):.2f} s, p99 {r.lateness_p99:.2f} s, max {max(r.lateness):.2f} s;"
                f" backlog age max {max(r.backlog_ages):.1f} s; {r.per_s:.0f} notices/s"
            )
    for name, r in (("held back", f.stream), ("never held back", f.stream_baseline)):
        if r is not None:
            lines.append(
                f"a stream of {r.offered_per_s:.0f} notices/s for {r.jobs} notices, {STREAM_PER_COMMIT} a commit, rows"
                f" {name}: delivered {r.per_s:.0f}/s, the last {r.lag_s:.1f} s after the last commit; backlog age max"
                f" {max(r.backlog_ages, default=0.0):.1f} s; worker CPU a notice"
                f" {1000 * r.worker_cpu_s / r.jobs:.2f} ms"
            )
    return "\n".join(lines)


def record(recorder: Recorder, f: Figures) -> None:
    recorder.add(
        "jobs_per_s_per_worker",
        f.median_rate(f.throughput),
        "notifications/s",
        baseline="one notice an RQ job (before batches), the same worker",
        baseline_value=f.median_rate(f.baseline),
        target=">= 200 /s",
    )
    recorder.add(
        "jobs_rq_jobs_per_s_per_worker",
        f.median_jobs_rate(f.throughput),
        "RQ jobs/s",
        baseline="one notice an RQ job",
        baseline_value=f.median_jobs_rate(f.baseline),
    )
    recorder.add(
        "jobs_worker_cpu_ms_per_job",
        f.cpu_ms_per_job(f.throughput),
        "ms a notification",
        baseline="one notice an RQ job",
        baseline_value=f.cpu_ms_per_job(f.baseline),
        higher_is_better=False,
    )
    if f.stream is not None and f.stream_baseline is not None:
        recorder.add(
            "jobs_stream_lag_s",
            f.stream.lag_s,
            "s",
            baseline="the same stream, rows never held back in the outbox (small batches)",
            baseline_value=f.stream_baseline.lag_s,
            higher_is_better=False,
        )
    recorder.add(
        "retry_lateness_p99_s",
        f.retries.lateness_p99,
        "s",
        baseline="retries at the back of the queue (RQ's default)",
        baseline_value=f.retries_baseline.lateness_p99,
        higher_is_better=False,
        target="<= 5 s",
    )
    recorder.add(
        "jobs_backlog_age_max_s",
        max(f.retries.backlog_ages),
        "s",
        baseline="the same backlog, retries at the back",
        baseline_value=max(f.retries_baseline.backlog_ages),
        higher_is_better=False,
    )
