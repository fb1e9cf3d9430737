"""Evaluation speed (issue 7): indicators by cell over a year, from the daily roll-ups and directly. `make bench`
runs 5,000,000 closed cases; the smoke run is in `make test`."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.metrics_bench import record, run


def _app(servers, name: str):  # type: ignore[no-untyped-def]
    return make_test_app(servers, servers.migrated_database(name))


@pytest.mark.perf
def test_metrics_speed(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    cases = int(os.environ.get("BENCH_METRICS_CASES", 5_000_000))  # smaller for a quick look
    figures = run(_app(servers, "citymgmt_bench_metrics"), cases=cases, cells=2_000, repeats=5)
    record(recorder, figures, f"{cases / 1e6:g}M")


def test_metrics_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, tiny, so that `make bench` cannot rot unnoticed."""
    figures = run(_app(servers, "citymgmt_bench_metrics_smoke"), cases=3_000, cells=40, repeats=2)
    assert figures.rollup_rows > 0 and figures.rollup_ms > 0 and figures.direct_ms > 0
