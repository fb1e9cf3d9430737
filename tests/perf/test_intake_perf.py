"""Intake through HTTP (issue 9 item 1): gunicorn and the full stack against the raw SQL of the same work.
`make bench` runs rising concurrency for a fixed time each (each beside the raw floor at the same concurrency) and
then 200 and 300 reports/s paced; the smoke run is in `make test`."""

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
    figures = run(
        _app(servers, url), servers, url, (1, 4, 16, 32), seconds, paced_rates=(200, 300), paced_seconds=seconds
    )
    record(recorder, figures)
    print("\n" + table(figures))
    print(f"worker peak RSS {figures.worker_rss_mb} MB")
    assert sum(r.errors for r in figures.http) == 0 and all(r.errors == 0 for r in figures.paced.values())


def test_intake_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, briefly, so that `make bench` cannot rot unnoticed."""
    url = servers.migrated_database("citymgmt_bench_intake_smoke")
    figures = run(
        _app(servers, url), servers, url, (2,), 0.5, paced_rates=(10,), paced_seconds=0.5, cells=400, workers=1
    )
    assert figures.http[0].errors == 0 and figures.paced[10].errors == 0, figures
    assert len(figures.paced[10].latencies_ms) == 5 and len(figures.paced_raw[10].latencies_ms) == 5
    assert figures.http[0].per_s > 0 and figures.raw[0].per_s > 0
    assert figures.intake_sql[0].errors == 0 and figures.intake_sql[0].per_s > 0, figures.intake_sql[0].first_error
    assert len(figures.worker_rss_mb) == 1 and figures.worker_rss_mb[0] > 10
