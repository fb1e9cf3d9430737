"""Point → cell matching speed (issue: grids). `make bench` runs the full sizes; the smoke run is in `make test`."""

from __future__ import annotations

import pytest

from tests.conftest import make_test_app
from tests.perf.grids_bench import record, run


@pytest.mark.perf
@pytest.mark.parametrize(("cells", "label"), [(100_000, "100k"), (1_000_000, "1m")])
def test_matching_speed(servers, recorder, cells: int, label: str) -> None:  # type: ignore[no-untyped-def]
    app = make_test_app(servers, servers.migrated_database(f"citymgmt_bench_{label}"))
    figures = run(app, "980001", cells, points=5_000, bulk_points=200_000)
    record(recorder, figures, label)
    assert figures.cells >= cells * 0.99


def test_matching_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, tiny, so that `make bench` cannot rot unnoticed."""
    app = make_test_app(servers, servers.migrated_database("citymgmt_bench_smoke"))
    figures = run(app, "980002", 2_500, points=200, bulk_points=2_000)
    assert figures.cells == 2_500
    assert 0 < figures.single_p50_ms <= figures.single_p99_ms
    assert figures.bulk_per_s > 0 and figures.tree_bulk_per_s > 0
