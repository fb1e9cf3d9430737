"""Reads at city scale (issue 25): the desk's and queues' reads, the case, the big screen's map (a district, the
city, a view of cells) and the metrics table, p50 and p99, beside the same reads on the demo city alone. `make bench`
runs 1,000,000 open and 5,000,000 closed cases over 1,000,000 cells; the smoke run is in `make test`."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.reads_bench import REPLICA_READS, on_standby, record, run
from tests.perf.recorder import Recorder


@pytest.mark.perf
def test_reads_at_scale(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    open_cases = int(os.environ.get("BENCH_READS_OPEN", 1_000_000))
    closed_cases = int(os.environ.get("BENCH_READS_CLOSED", 5_000_000))
    cells = int(os.environ.get("BENCH_READS_CELLS", 1_000_000))
    base = make_test_app(servers, servers.demo_database("citymgmt_bench_reads_base"), redis_db=14)
    app = make_test_app(servers, servers.demo_database("citymgmt_bench_reads"), redis_db=14)
    samples = int(os.environ.get("BENCH_READS_SAMPLES", 100))
    replica = lambda: on_standby(servers, "citymgmt_bench_reads", redis_db=14)  # noqa: E731
    figures = run(base, app, open_cases, closed_cases, cells, samples, replica)
    record(recorder, figures)


def test_reads_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code, tiny, so that `make bench` cannot rot unnoticed."""
    base = make_test_app(servers, servers.demo_database("citymgmt_bench_reads_smoke_base"), redis_db=14)
    app = make_test_app(servers, servers.demo_database("citymgmt_bench_reads_smoke"), redis_db=14)
    replica = lambda: on_standby(servers, "citymgmt_bench_reads_smoke", redis_db=14)  # noqa: E731
    figures = run(base, app, open_cases=400, closed_cases=1_200, cells=400, samples=2, replica=replica)
    assert figures.cells >= 800 and figures.events >= 1_600  # the small city's cells and the larger one's
    names = {t.name for t in figures.timings}
    assert names >= {
        "queues/mine dispatcher",
        "queues/mine supervisor, few red",
        "case page",
        "map whole city",
        "map one district",
        "map cells in view",
    }
    assert all(t.p99_ms > 0 for t in figures.timings)
    lists = ("all", "status", "department", "cell", "light", "category")
    assert names >= {f"cases list {f} {page}" for f in lists for page in ("p1", "p100", "p100 cursor")}
    recorder = Recorder()
    record(recorder, figures)
    (listed,) = [m for m in recorder.metrics if m.name == "read_p99_ms_cases_list"]
    assert (
        listed.baseline
        and "page 100 by cursor" in listed.baseline
        and "page 100 by number, not counted" in listed.baseline
    )
    counted = [t for t in figures.timings if t.name.startswith("cases list") and not t.name.endswith(" p100")]
    assert listed.value == max(t.p99_ms for t in counted)

    # The map and the metrics table read again on the standby, each seen there (3 requests: the first and 2 samples).
    assert [t.name for t in figures.replica] == list(REPLICA_READS)
    assert all(t.p99_ms > 0 and t.base_p99_ms > 0 for t in figures.replica)
    assert all(figures.replica_scans[name] >= 3 for name in REPLICA_READS), figures.replica_scans
    assert figures.replica_copy_s > 0 and figures.replica_bytes > 0
    on_replica = {m.name: m for m in recorder.metrics if m.name.endswith("_replica")}
    assert set(on_replica) == {
        "read_p99_ms_district_map_replica",
        "read_p99_ms_city_map_replica",
        "read_p99_ms_cells_map_replica",
        "read_p99_ms_metrics_table_replica",
    }
    (city,) = [t for t in figures.replica if t.name == "map whole city"]
    assert on_replica["read_p99_ms_city_map_replica"].value == city.p99_ms
    assert on_replica["read_p99_ms_city_map_replica"].baseline_value == city.base_p99_ms  # the primary's, in turn
    assert on_replica["read_p99_ms_city_map_replica"].target == "≤ 500 ms"
