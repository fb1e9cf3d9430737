"""The LA 311 replay through HTTP on a live stack (issue 9 item 6) and each process's peak memory. `make bench` replays
the busiest BENCH_REPLAY_HOURS (default 4) of the file at BENCH_REPLAY_SPEEDUP× (default 100) with
BENCH_REPLAY_RQ_WORKERS RQ workers (default 1); the smoke run in `make test` replays a few dozen records of that
window much faster."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_test_app
from tests.perf.replay_bench import record, run, summary


def _app(servers, url: str, redis_db: int):  # type: ignore[no-untyped-def]
    return make_test_app(servers, url, redis_db=redis_db)


@pytest.mark.perf
def test_replay_la311(servers, recorder) -> None:  # type: ignore[no-untyped-def]
    hours = float(os.environ.get("BENCH_REPLAY_HOURS", 4))
    speedup = float(os.environ.get("BENCH_REPLAY_SPEEDUP", 100))
    rq_workers = int(os.environ.get("BENCH_REPLAY_RQ_WORKERS", 1))
    url = servers.migrated_database("citymgmt_bench_replay")
    figures = run(_app(servers, url, redis_db=12), servers, url, hours, speedup, rq_workers=rq_workers)
    record(recorder, figures)
    print("\n" + summary(figures))


def test_replay_benchmark_smoke(servers) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's own code on 40 records at 3,000×, so that `make bench` cannot rot unnoticed."""
    url = servers.migrated_database("citymgmt_bench_replay_smoke")
    app = _app(servers, url, redis_db=11)
    figures = run(app, servers, url, hours=1, speedup=3000, limit=40, cell_m=2000, web_workers=1)
    text = summary(figures)
    print("\n" + text)
    kinds = [o.kind for o in figures.outcomes]
    assert len(figures.outcomes) == 40, text
    assert figures.errors == 0, text
    assert kinds.count("refused_unlocated") == sum(r.lon is None for r in figures.window) > 0, text
    assert kinds.count("accepted") + kinds.count("refused_outside") == 40 - kinds.count("refused_unlocated"), text
    # Routing filed and dispatched the reports (suspected duplicates wait for a person), and each department heard.
    assert figures.dispatched > 0 and figures.deliveries == figures.dispatched, text
    assert figures.outbox_rows >= figures.dispatched and figures.outbox_pending == 0, text
    assert len(figures.peaks["web"]) == 1 and len(figures.peaks["worker"]) >= 1, text
    for role in ("web", "worker", "scheduler"):
        assert 20 < figures.peak(role, during=True) <= figures.peak(role), text
    assert "window: 2017-12-28" in text and "replay_errors 0" in text
    assert figures.cpu[0]["web"] > 0 and figures.cpu[0]["machine"] > 0, figures.cpu
