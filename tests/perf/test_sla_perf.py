"""SLA sweep speed (issue 9 item 3): `make bench` sweeps 1,000,000 open cases with 1% changing light; the smoke run
is in `make test`."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.sla_bench import record, run


def _app(servers, name: str):  # type: ignore[no-untyped-def]
    return make_test_app(servers, servers.migrated_database(name))


@pytest.mark.perf
def test_sla_sweep_speed(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    cases = int(os.environ.get("BENCH_SLA_CASES", 1_000_000))  # smaller for a quick look
    figures = run(_app(servers, "citymgmt_bench_sla"), cases=cases, loop_sample=10_000)
    record(recorder, figures, f"{cases / 1e6:g}m")


def test_sla_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, tiny, so that `make bench` cannot rot unnoticed."""
    figures = run(_app(servers, "citymgmt_bench_sla_smoke"), cases=4_000, loop_sample=500)
    assert figures.changed == 40 and figures.sweep_s > 0 and figures.loop_s > 0
