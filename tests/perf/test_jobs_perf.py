"""Background jobs that keep up (issue 25 item 1): `make bench` drains BENCH_JOBS notifications (default 3,000) with
one `citymgmt worker` process, in batches as the relay makes them, and BENCH_JOBS_BASELINE (default 600) one an RQ
job, alternated BENCH_JOBS_REPEATS times (default 3), then measures retries behind a backlog of BENCH_JOBS, then
a steady stream of BENCH_JOBS_STREAM_RATE notices a second (default 150) for BENCH_JOBS_STREAM_SECONDS (20), with
rows held back while the queue is full enough and never held back; the smoke run in `make test` is a few hundred
notices, without the retries (they take their 10 s) and the stream."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.jobs_bench import record, run, summary


@pytest.mark.perf
def test_jobs_keep_up(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    url = servers.migrated_database("citymgmt_bench_jobs")
    app = make_test_app(servers, url, redis_db=10)
    figures = run(
        app,
        url,
        servers.redis.url(db=10),
        servers.root / "var",
        jobs=int(os.environ.get("BENCH_JOBS", 3000)),
        baseline_jobs=int(os.environ.get("BENCH_JOBS_BASELINE", 600)),
        repeats=int(os.environ.get("BENCH_JOBS_REPEATS", 3)),
        stream_rate=float(os.environ.get("BENCH_JOBS_STREAM_RATE", 150)),
        stream_seconds=float(os.environ.get("BENCH_JOBS_STREAM_SECONDS", 20)),
    )
    print("\n" + summary(figures))
    record(recorder, figures)


def test_jobs_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, small, so that `make bench` cannot rot unnoticed."""
    url = servers.migrated_database("citymgmt_bench_jobs_smoke")
    app = make_test_app(servers, url, redis_db=9)
    figures = run(app, url, servers.redis.url(db=9), servers.root / "var", jobs=300, baseline_jobs=30, retries=False)
    text = summary(figures)
    print("\n" + text)
    assert len(figures.throughput[0].first_attempts) == 300 and len(figures.baseline[0].first_attempts) == 30, text
    assert figures.throughput[0].per_s > 0 and figures.baseline[0].per_s > 0, text
    assert figures.throughput[0].worker_cpu_s > 0 and figures.baseline[0].worker_cpu_s > 0, text
