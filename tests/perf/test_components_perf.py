"""Component registry import speed: a 100,000-row survey must import in seconds (`make bench`); a 20,000-row smoke
run, in `make test`, goes through the same code (including cell matching over two connections)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from dispatch.components.importer import ImportReport, import_components

pytestmark = pytest.mark.usefixtures("beijing")

CLASSES = (("C0101", "bj-water"), ("C0102", "bj-drainage"), ("C0103", "bj-drainage"), ("C0118", "110101-roads"))


def write_survey(db_session: Session, path: Path, rows: int) -> Path:
    """Assets spread at random over Dongcheng's bounding box (some fall outside every cell), serials from 100000
    (the demo's run from 000001)."""
    x0, y0, x1, y1 = db_session.execute(
        text(
            "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT geom::box2d AS g FROM areas"
            " WHERE code = '110101') b"
        )
    ).one()
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(x0, x1, rows), rng.uniform(y0, y1, rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "owner", "lon", "lat", "status", "material"])
        for n in range(rows):
            class_code, owner = CLASSES[n % len(CLASSES)]
            serial = 100_000 + n // len(CLASSES)
            writer.writerow([f"110101{class_code[1:]}{serial:06d}", owner, lons[n], lats[n], "in_use", "铸铁"])
    return path


def timed_import(db_session: Session, path: Path, now) -> tuple[float, ImportReport, list[str]]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    started = time.perf_counter()
    report = import_components(db_session, path, now, progress=lines.append)
    return time.perf_counter() - started, report, lines


@pytest.mark.perf
def test_component_import_speed(db_session, clock, tmp_path, recorder) -> None:  # type: ignore[no-untyped-def]
    path = write_survey(db_session, tmp_path / "survey.csv", 100_000)
    seconds, report, _ = timed_import(db_session, path, clock.now())
    again, second, _ = timed_import(db_session, path, clock.now())
    recorder.add("components_import_100k", seconds, "s", higher_is_better=False, target="seconds, not minutes")
    recorder.add("components_reimport_100k_unchanged", again, "s", higher_is_better=False)
    assert report.inserted == 100_000 and second.unchanged == 100_000


def test_component_import_smoke(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_survey(db_session, tmp_path / "survey.csv", 20_000)
    _, report, lines = timed_import(db_session, path, clock.now())
    assert (report.rows, report.inserted, report.updated) == (20_000, 20_000, 0)
    in_cells = db_session.execute(
        text("SELECT count(*) FROM components WHERE id LIKE '110101____1%' AND cell_code IS NOT NULL")
    ).scalar_one()
    assert 0 < report.outside_cells < 20_000 and in_cells == 20_000 - report.outside_cells
    assert lines[1] == "checked 10000/20000 rows"  # progress on big files
