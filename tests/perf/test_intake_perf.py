"""Intake through HTTP (issue 9 item 1): gunicorn and the full stack against the raw SQL of the same work.
`make bench` runs rising concurrency for a fixed time each and the paced 300 reports/s; the smoke run is in
`make test`."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.intake_bench import record, run, table


def _app(servers, url: str):  # type: ignore[no-untyped-def]
    return make_test_app(servers, url)


@pytest.mark.perf
def test_intake_speed(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    seconds = float(os.environ.get("BENCH_INTAKE_SECONDS", 10))
    url = servers.migrated_database("citymgmt_bench_intake")
    figures = run(_app(servers, url), servers, url, (1, 4, 16, 32), seconds, paced_rate=300, paced_seconds=seconds)
    record(recorder, figures)
    print("\n" + table(figures))
    print(f"paced {figures.paced_rate:g}/s: p50 {figures.paced.p50:.1f} ms, p99 {figures.paced.p99:.1f} ms;"
          f" worker peak RSS {figures.worker_rss_mb} MB")  # fmt: skip
    assert sum(r.errors for r in figures.http) == 0 and figures.paced.errors == 0


def test_intake_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, briefly, so that `make bench` cannot rot unnoticed."""
    url = servers.migrated_database("citymgmt_bench_intake_smoke")
    figures = run(_app(servers, url), servers, url, (2,), 0.5, paced_rate=10, paced_seconds=0.5, cells=400, workers=1)
    assert figures.http[0].errors == 0 and figures.paced.errors == 0, figures
    assert figures.http[0].per_s > 0 and figures.raw[0].per_s > 0
    assert len(figures.worker_rss_mb) == 1 and figures.worker_rss_mb[0] > 10
