"""The analyses at city scale (issue 24): recurrence, hot spots, anomalies and patterns for one district and one
month, from the roll-up kept hourly beside the same analysis counted from the cases. `make bench` runs a year of
5,000,000 cases over 1,000,000 cells; the smoke run is in `make test`."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.analysis_bench import ANALYSES, record, run


@pytest.mark.perf
def test_analyses_at_scale(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    cases = int(os.environ.get("BENCH_ANALYSIS_CASES", 5_000_000))
    cells = int(os.environ.get("BENCH_ANALYSIS_CELLS", 1_000_000))
    app = make_test_app(servers, servers.demo_database("citymgmt_bench_analysis"), redis_db=14)
    figures = run(app, cases, cells, samples=int(os.environ.get("BENCH_ANALYSIS_SAMPLES", 5)))
    record(recorder, figures)


def test_analysis_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, tiny, so that `make bench` cannot rot unnoticed."""
    app = make_test_app(servers, servers.demo_database("citymgmt_bench_analysis_smoke"), redis_db=14)
    figures = run(app, cases=3_000, cells=1_600, samples=1)
    assert figures.cells >= 1_600 and figures.rows > 0
    assert set(figures.rollup_ms) == set(figures.direct_ms) == set(ANALYSES)
    assert all(v > 0 for v in [*figures.rollup_ms.values(), *figures.direct_ms.values()])
    assert figures.answers["patterns"] > 0  # the month's cases of the district were found both ways
