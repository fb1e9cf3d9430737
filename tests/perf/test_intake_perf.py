"""Intake through HTTP (issue 9 item 1): gunicorn and the full stack against the raw SQL of the same work.
`make bench` runs rising concurrency for a fixed time each (each beside the raw floor at the same concurrency) and
then 200 and 300 reports/s paced; the smoke run is in `make test`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_test_app
from tests.perf.intake_bench import STAGES, profile_stages, record, run, table


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
    profile = os.environ.get("BENCH_INTAKE_PROFILE")
    if profile and Path(profile).exists():  # where one worker's CPU went during the last HTTP run
        web_ms = figures.http[-1].cpu_ms.get("web", 0)
        for stage, share in profile_stages(Path(profile)):
            print(f"{100 * share:5.1f}%  {web_ms * share:5.2f} ms  {stage}")
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


def test_profile_stages_count_each_sample_in_its_innermost_stage(tmp_path: Path) -> None:
    """The split of a worker's profile printed by `make bench` with BENCH_INTAKE_PROFILE: the SQL that
    authentication runs is the SQL's, the rest of authentication its own, an unknown stack "other"."""
    profile = tmp_path / "profile.txt"
    wsgi, auth = "Flask.wsgi_app (flask/app.py:1511)", "_authenticate (citymgmt/core/access.py:130)"
    profile.write_text(
        f"main;{wsgi};{auth};Driver.execute (citymgmt/core/db.py:138);Cursor.execute (psycopg/cursor.py:113) 3\n"
        f"main;{wsgi};{auth} 1\n"
        f"main;{wsgi} 2\n"
        "select (selectors.py:1) 2\n"
    )
    shares = dict(profile_stages(profile))
    assert shares[STAGES[0][0]] == 3 / 8
    assert shares[next(name for name, _ in STAGES if name.startswith("authentication"))] == 1 / 8
    assert shares[next(name for name, _ in STAGES if name.startswith("Flask and werkzeug"))] == 2 / 8
    assert shares["other"] == 2 / 8
    assert sum(shares.values()) == 1
