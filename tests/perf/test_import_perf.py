"""Bulk history import speed (issue 9 item 5): `make bench` imports 1,000,000 rows in the LA 311 shape; the smoke
run is in `make test`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_test_app
from tests.perf.import_bench import record, run


def _app(servers, name: str):  # type: ignore[no-untyped-def]
    return make_test_app(servers, servers.migrated_database(name))


@pytest.mark.perf
def test_import_speed(servers, recorder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = int(os.environ.get("BENCH_IMPORT_ROWS", 1_000_000))  # smaller for a quick look
    online = run(_app(servers, "citymgmt_bench_import"), tmp_path, rows=rows, cells=40_000)
    exclusive = run(_app(servers, "citymgmt_bench_import_exclusive"), tmp_path, rows=rows, cells=40_000, exclusive=True)
    record(recorder, exclusive, online, f"{rows / 1e6:g}M")
    print(f"import: wrote the CSV in {online.write_csv_s:.1f} s; imported in {online.import_s:.1f} s,")
    print(f"        with --exclusive in {exclusive.import_s:.1f} s")


def test_import_benchmark_smoke(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, tiny, so that `make bench` cannot rot unnoticed."""
    figures = run(_app(servers, "citymgmt_bench_import_smoke"), tmp_path, rows=2_000, cells=400, exclusive=True)
    assert figures.rows_per_s > 0 and figures.copy_rows_per_s > 0 and figures.reimport_s > 0
