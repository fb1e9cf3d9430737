"""The point → cell benchmark, at any size: the smoke test runs it tiny, `make bench` at 100,000 and 1,000,000 cells.

Measured side by side in one run: match_cell from Python (a round trip per point, through the app's session) and
bulk matching, against an in-process Shapely STRtree over the same cells and points. Bulk matching is measured on
two point sets: a sparse sample (`bulk_points` over the whole grid, fewer points than cells, so the automatic
strategy probes the index per point) and a dense set of two points a cell, the shape of a history import (a year
of a city's reports over its grid), where it matches in process on an STRtree of the cells it reads (staging the
points and joining cell by cell, and probing, are measured on it too). The strategies are measured on both sets,
so the choice can be checked.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import numpy as np
import shapely
from flask import Flask
from sqlalchemy import text

from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db
from grids.generate import GenerateOptions, generate_cells
from grids.matching import match_cell, match_cells
from tests.perf.recorder import Recorder, percentile

X0, Y0 = 400_000.0, 4_400_000.0  # UTM 50N


@dataclass
class Figures:
    cells: int
    single_p50_ms: float
    single_p99_ms: float
    tree_p50_ms: float
    tree_p99_ms: float
    bulk_per_s: float  # the sparse sample (bulk_points over the whole grid), automatic strategy
    bulk_parallel_per_s: float
    bulk_probe_parallel_per_s: float  # the sparse sample, one index probe per point
    dense_parallel_per_s: float  # two points a cell (a year of reports over a city), automatic strategy (tree)
    dense_stage_parallel_per_s: float
    dense_probe_parallel_per_s: float
    tree_bulk_per_s: float
    tree_dense_per_s: float
    tree_build_s: float
    generate_s: float


def make_grid(app: Flask, district: str, cells: int) -> tuple[float, float]:
    """A square of about `cells` 100 m cells in UTM 50N; returns the time taken and the square's side in metres."""
    side = round(math.sqrt(cells)) * 100.0
    with app.app_context():
        session = db.session()
        wkb = session.execute(
            text("SELECT ST_AsBinary(ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 32650), 4326))"),
            {"x0": X0, "y0": Y0, "x1": X0 + side, "y1": Y0 + side},
        ).scalar_one()
        t0 = time.perf_counter()
        options = GenerateOptions(district, "bench", 100.0, community_block=31, street_block=31)
        generate_cells(session, bytes(wkb), options, SystemClock().now(), progress=lambda m: None)
        session.commit()
        elapsed = time.perf_counter() - t0
        session.execute(text("ANALYZE grid_cells"))
        session.commit()
        db.session.remove()
    return elapsed, side


def random_points(app: Flask, side: float, count: int, seed: int) -> tuple[list[float], list[float]]:
    """Points spread uniformly inside the square (drawn in UTM, then transformed): every one has a cell."""
    rng = random.Random(seed)
    xs = [X0 + rng.uniform(1, side - 1) for _ in range(count)]
    ys = [Y0 + rng.uniform(1, side - 1) for _ in range(count)]
    with app.app_context():
        rows = (
            db.session()
            .execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY"
                    " AS q(x, y, n), ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 32650), 4326) p ORDER BY n"
                ),
                {"xs": xs, "ys": ys},
            )
            .all()
        )
        db.session.remove()
    return [r[0] for r in rows], [r[1] for r in rows]


def run(app: Flask, district: str, cells: int, points: int, bulk_points: int, seed: int = 1) -> Figures:
    generate_s, side = make_grid(app, district, cells)
    lons, lats = random_points(app, side, bulk_points, seed)
    dense_lons, dense_lats = random_points(app, side, 2 * cells, seed + 1)

    with app.app_context():
        session = db.session()
        for i in range(min(200, points)):  # warm the pool, the plan cache and the index pages
            match_cell(session, lons[i], lats[i])
        single = []
        for i in range(points):
            t0 = time.perf_counter_ns()
            match_cell(session, lons[i], lats[i])
            single.append((time.perf_counter_ns() - t0) / 1e6)
        session.rollback()

        t0 = time.perf_counter()
        codes = match_cells(session, lons, lats)
        bulk_s = time.perf_counter() - t0
        assert sum(c is not None for c in codes) == bulk_points
        session.rollback()
        db.session.remove()

        polygons = _load_polygons(app)

    def parallel(xs: list[float], ys: list[float], strategy: str) -> float:
        with app.app_context():
            t0 = time.perf_counter()
            codes = match_cells(db.session(), xs, ys, workers=2, strategy=strategy)
            elapsed = time.perf_counter() - t0
            assert sum(c is not None for c in codes) == len(xs)
            db.session.remove()
        return len(xs) / elapsed

    bulk_parallel_per_s = parallel(lons, lats, "auto")
    bulk_probe_parallel_per_s = parallel(lons, lats, "probe")
    dense_parallel_per_s = parallel(dense_lons, dense_lats, "auto")
    dense_stage_parallel_per_s = parallel(dense_lons, dense_lats, "stage")
    dense_probe_parallel_per_s = parallel(dense_lons, dense_lats, "probe")

    t0 = time.perf_counter()
    tree = shapely.STRtree(polygons)
    tree_build_s = time.perf_counter() - t0
    pts = shapely.points(np.array(lons), np.array(lats))
    tree_single = []
    for i in range(points):
        t0n = time.perf_counter_ns()
        tree.query(pts[i], predicate="covered_by")
        tree_single.append((time.perf_counter_ns() - t0n) / 1e6)
    t0 = time.perf_counter()
    tree.query(pts, predicate="covered_by")
    tree_bulk_s = time.perf_counter() - t0
    dense_pts = shapely.points(np.array(dense_lons), np.array(dense_lats))
    t0 = time.perf_counter()
    tree.query(dense_pts, predicate="covered_by")
    tree_dense_s = time.perf_counter() - t0

    return Figures(
        cells=len(polygons),
        single_p50_ms=percentile(single, 0.5),
        single_p99_ms=percentile(single, 0.99),
        tree_p50_ms=percentile(tree_single, 0.5),
        tree_p99_ms=percentile(tree_single, 0.99),
        bulk_per_s=bulk_points / bulk_s,
        bulk_parallel_per_s=bulk_parallel_per_s,
        bulk_probe_parallel_per_s=bulk_probe_parallel_per_s,
        dense_parallel_per_s=dense_parallel_per_s,
        dense_stage_parallel_per_s=dense_stage_parallel_per_s,
        dense_probe_parallel_per_s=dense_probe_parallel_per_s,
        tree_bulk_per_s=bulk_points / tree_bulk_s,
        tree_dense_per_s=len(dense_lons) / tree_dense_s,
        tree_build_s=tree_build_s,
        generate_s=generate_s,
    )


def _load_polygons(app: Flask) -> np.ndarray:
    rows = db.session().execute(text("SELECT ST_AsBinary(geom) FROM grid_cells WHERE retired_at IS NULL")).scalars()
    polygons = shapely.from_wkb([bytes(r) for r in rows])
    db.session.remove()
    return polygons


def record(recorder: Recorder, f: Figures, label: str) -> None:
    recorder.add(f"grid_generate_{label}", f.generate_s, "s", higher_is_better=False)
    recorder.add(
        f"match_single_p50_{label}", f.single_p50_ms, "ms", baseline="STRtree in process", baseline_value=f.tree_p50_ms
    )
    recorder.add(
        f"match_single_p99_{label}",
        f.single_p99_ms,
        "ms",
        baseline="STRtree in process",
        baseline_value=f.tree_p99_ms,
        target="≤ 0.5 ms at 1M cells",
    )
    recorder.add(
        f"match_bulk_{label}", f.bulk_per_s, "points/s", baseline="STRtree bulk", baseline_value=f.tree_bulk_per_s
    )
    recorder.add(
        f"match_bulk_2_workers_{label}",
        f.bulk_parallel_per_s,
        "points/s",
        baseline="STRtree bulk",
        baseline_value=f.tree_bulk_per_s,
    )
    recorder.add(
        f"match_bulk_probe_2_workers_{label}",
        f.bulk_probe_parallel_per_s,
        "points/s",
        baseline="STRtree bulk",
        baseline_value=f.tree_bulk_per_s,
    )
    recorder.add(
        f"match_bulk_dense_2_workers_{label}",
        f.dense_parallel_per_s,
        "points/s",
        baseline="STRtree bulk",
        baseline_value=f.tree_dense_per_s,
        target="≥ 100,000 points/s",
    )
    recorder.add(
        f"match_bulk_dense_stage_2_workers_{label}",
        f.dense_stage_parallel_per_s,
        "points/s",
        baseline="STRtree bulk",
        baseline_value=f.tree_dense_per_s,
    )
    recorder.add(
        f"match_bulk_dense_probe_2_workers_{label}",
        f.dense_probe_parallel_per_s,
        "points/s",
        baseline="STRtree bulk",
        baseline_value=f.tree_dense_per_s,
    )
    if label == "1m":  # the headline figures of the performance issue
        recorder.add("match_p99_ms_1m", f.single_p99_ms, "ms", baseline="STRtree in process",
                     baseline_value=f.tree_p99_ms, target="≤ 0.5 ms")  # fmt: skip
        recorder.add("match_bulk_points_per_s", f.dense_parallel_per_s, "points/s", baseline="STRtree bulk",
                     baseline_value=f.tree_dense_per_s, target="≥ 100,000 points/s")  # fmt: skip
    recorder.add(f"strtree_build_{label}", f.tree_build_s, "s", higher_is_better=False)
