"""The analyses at city scale, at any size: the smoke test runs it tiny, `make bench` with a year of 5,000,000 cases
over 1,000,000 cells.

The city and its history come from the reads benchmark's generator (reads_bench: 100 m cells in districts side by
side, cases spread set-based over the year before now), here in sixteen districts (62,500 cells each at full scale,
where four would give districts beyond hot spots' 200,000 cells) and without events, which the analyses do not read.
The roll-up is then built as `citymgmt analysis rebuild` does (every day, a week at a time, recorded as a build).
Each analysis is asked through the API, as the big screen and API readers ask, for one district and one month
(anomalies: for the month's last day), from the roll-up and with `fresh=true` (counted from the cases), alternately.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask import Flask
from sqlalchemy import text

from citymgmt.core.db import db
from dispatch.analysis import rollups
from tests.perf.reads_bench import _grid, _history, _sign_in, _vacuum
from tests.perf.recorder import Recorder

DISTRICTS = tuple(f"9901{i:02d}" for i in range(1, 17))
ANALYSES = ("recurrence", "hotspots", "anomalies", "patterns")


@dataclass
class Figures:
    cases: int
    cells: int
    rows: int  # the roll-up's
    generate_s: float
    build_s: float
    refresh_s: float
    district: str
    month: tuple[date, date]
    rollup_ms: dict[str, float] = field(default_factory=dict)
    direct_ms: dict[str, float] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)  # what each analysis found (places, cells, groups)


def _paths(district: str, first: date, last: date) -> dict[str, str]:
    month = f"from={first.isoformat()}&to={last.isoformat()}&area={district}"
    return {
        "recurrence": f"/api/v1/analysis/recurrence?{month}",
        "hotspots": f"/api/v1/analysis/hotspots?{month}",
        "anomalies": f"/api/v1/analysis/anomalies?day={last.isoformat()}&area={district}",
        "patterns": f"/api/v1/analysis/patterns?{month}",
    }


def _found(name: str, body: dict) -> int:  # type: ignore[type-arg]
    if name == "recurrence":
        return len(body["recurring"]) + len(body["repeats"])
    if name == "hotspots":
        return len(body["cells"]) + len(body["clusters"])
    if name == "anomalies":
        return int(body["places_tested"])
    return sum(g["cases"] for g in body["groups"])


def run(app: Flask, cases: int, cells: int, samples: int) -> Figures:
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    _grid(app, cells, DISTRICTS)
    _history(app, 0, cases, now, events=False, shuffled=True)
    generate_s = time.perf_counter() - t0
    with app.app_context():
        settings = app.extensions["citymgmt.settings"]
        session = db.session()
        t0 = time.perf_counter()
        rollups.rebuild(session, now, settings)
        session.commit()
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rollups.refresh(session, now + timedelta(minutes=1), settings)  # the hourly job when nothing changed
        session.commit()
        refresh_s = time.perf_counter() - t0
        rows = session.execute(text("SELECT count(*) FROM analysis_days")).scalar_one()
        made = session.execute(text("SELECT count(*) FROM grid_cells WHERE code LIKE '9901%'")).scalar_one()
        db.session.remove()
    _vacuum(app)
    # A whole month two months back (the history runs from a year ago to now), in the city's zone.
    today = now.astimezone(settings.zone).date()
    first = (today.replace(day=1) - timedelta(days=40)).replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    figures = Figures(cases, int(made), int(rows), generate_s, build_s, refresh_s, DISTRICTS[0], (first, last))
    client = app.test_client()
    headers = _sign_in(client, "supervisor")
    paths = _paths(DISTRICTS[0], first, last)
    for name, path in paths.items():
        timings: dict[str, list[float]] = {"rollups": [], "direct": []}
        answers = {}
        for source, url in (("rollups", path), ("direct", path + "&fresh=true")):  # warm each once
            response = client.get(url, headers=headers)
            assert response.status_code == 200, f"{name}: {response.status_code} {response.get_data(as_text=True)}"
            body = response.get_json()
            assert body["source"] == source, (name, body["source"])
            answers[source] = _found(name, body)
        assert answers["rollups"] == answers["direct"], (name, answers)
        for _ in range(samples):
            for source, url in (("rollups", path), ("direct", path + "&fresh=true")):
                t0 = time.perf_counter()
                response = client.get(url, headers=headers)
                response.get_data()
                timings[source].append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
        figures.rollup_ms[name] = statistics.median(timings["rollups"])
        figures.direct_ms[name] = statistics.median(timings["direct"])
        figures.answers[name] = answers["rollups"]
    return figures


def record(recorder: Recorder, f: Figures) -> None:
    scale = f"{f.cases:,} cases over {f.cells:,} cells, district {f.district}, {f.month[0]} – {f.month[1]}"
    for name in ANALYSES:
        recorder.add(
            f"analysis_ms_{name}",
            f.rollup_ms[name],
            "ms",
            baseline=f"the same analysis counted from the cases (fresh=true); {scale}",
            baseline_value=f.direct_ms[name],
            higher_is_better=False,
            target="≤ 1000 ms",
        )
        recorder.add(f"analysis_direct_ms_{name}", f.direct_ms[name], "ms", higher_is_better=False)
    recorder.add(f"analysis roll-up build ({f.rows:,} rows; {scale})", f.build_s, "s", higher_is_better=False)
    recorder.add("analysis roll-up hourly refresh, nothing changed", f.refresh_s * 1000, "ms", higher_is_better=False)
    recorder.add("analysis data generation", f.generate_s, "s", higher_is_better=False)
