"""The bulk history import benchmark (`citymgmt cases import`), at any size: the smoke test runs it tiny, `make bench`
at 1,000,000 rows in the LA 311 shape onto a synthetic grid.

Side by side in one run: the whole import (COPY into the typed staging table, the checks, the cell match and the
INSERT ... SELECT of cases and their events) against a bare COPY of the same file into a plain table of text columns
(the floor: reading the bytes, nothing checked, matched or indexed). Then the same file again (everything already
imported: the idempotent path).
"""

from __future__ import annotations

import csv
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import text

from citymgmt.core.db import db
from dispatch.imports.history import import_history, read_mapping
from dispatch.taxonomy.operations import load_taxonomy
from tests.perf.grids_bench import make_grid, random_points
from tests.perf.recorder import Recorder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HEADER = ["SRNumber", "CreatedDate", "ClosedDate", "Owner", "RequestType", "Status", "Address", "Latitude", "Longitude"]
TYPES = [
    ("Bulky Items", "BOS"),
    ("Graffiti Removal", "OCB"),
    ("Illegal Dumping Pickup", "BOS"),
    ("Single Streetlight Issue", "BSL"),
    ("Report Water Waste", "LADWP"),
    ("Other", "ITA"),
]
DEPARTMENTS = {"BOS": "la-bos", "OCB": "la-ocb", "ITA": "la-ita", "BSL": "la-bsl", "LADWP": "la-ladwp"}


@dataclass
class Figures:
    rows: int
    cells: int
    import_s: float
    copy_s: float
    reimport_s: float
    write_csv_s: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.import_s

    @property
    def copy_rows_per_s(self) -> float:
        return self.rows / self.copy_s


def write_csv(path: Path, lons: list[float], lats: list[float]) -> None:
    """An export in the LA 311 shape: MDY times with AM/PM, 3 in 4 closed, the real request types and owners."""
    start = datetime(2017, 1, 1)
    created = [(start + timedelta(minutes=7 * i)).strftime("%m/%d/%Y %I:%M:%S %p") for i in range(4096)]
    closed = [(start + timedelta(minutes=7 * i, hours=99)).strftime("%m/%d/%Y %I:%M:%S %p") for i in range(4096)]
    rng = random.Random(3)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for n, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
            kind, owner = TYPES[n % len(TYPES)]
            is_closed = n % 4 != 0
            k = rng.randrange(4096)
            writer.writerow(
                (
                    f"1-{900_000_000 + n}",
                    created[k],
                    closed[k] if is_closed else "",
                    owner,
                    kind,
                    "Closed" if is_closed else "Open",
                    f"{n % 9000 + 100} W MAIN ST, 90012",
                    f"{lat:.9f}",
                    f"{lon:.9f}",
                )
            )


def prepare(app: Flask, cells: int) -> float:
    """The grid, the LA taxonomy and departments; returns the grid's side in metres."""
    _, side = make_grid(app, "990311", cells)
    with app.app_context():
        session = db.session()
        load_taxonomy(session, FIXTURES / "taxonomy/la311-2017.json")
        for owner, code in DEPARTMENTS.items():
            session.execute(
                text("INSERT INTO departments (code, name, name_en, kind) VALUES (:c, :n, :n, 'other')"),
                {"c": code, "n": f"Los Angeles {owner}"},
            )
        session.commit()
        db.session.remove()
    return side


def bare_copy(app: Flask, path: Path) -> float:
    with app.app_context():
        session = db.session()
        columns = ", ".join(f'"{h}" text' for h in HEADER)
        session.execute(text(f"CREATE TABLE bare_copy ({columns})"))
        connection = session.connection().connection.dbapi_connection
        assert connection is not None
        t0 = time.perf_counter()
        with (
            path.open("rb") as f,
            connection.cursor() as cursor,  # type: ignore[attr-defined]
            cursor.copy("COPY bare_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        session.commit()
        elapsed = time.perf_counter() - t0
        session.execute(text("DROP TABLE bare_copy"))
        session.commit()
        db.session.remove()
    return elapsed


def timed_import(app: Flask, path: Path, exclusive: bool = False) -> tuple[float, int, int]:
    mapping = read_mapping(FIXTURES / "la311/import-mapping.yaml", {}, "Asia/Shanghai")
    with app.app_context():
        session = db.session()
        t0 = time.perf_counter()
        result = import_history(
            session, path, mapping, datetime.now(UTC), "bench", progress=lambda m: None, exclusive=exclusive
        )
        session.commit()
        elapsed = time.perf_counter() - t0
        db.session.remove()
    return elapsed, result.imported, result.already


def run(app: Flask, tmp: Path, rows: int, cells: int, exclusive: bool = False) -> Figures:
    side = prepare(app, cells)
    lons, lats = random_points(app, side, rows, seed=11)
    path = tmp / "history.csv"
    t0 = time.perf_counter()
    write_csv(path, lons, lats)
    write_s = time.perf_counter() - t0
    copy_s = bare_copy(app, path)
    import_s, imported, _ = timed_import(app, path, exclusive)
    assert imported == rows
    reimport_s, again, already = timed_import(app, path)
    assert (again, already) == (0, rows)
    return Figures(rows, cells, import_s, copy_s, reimport_s, write_s)


def record(recorder: Recorder, f: Figures, online: Figures, label: str) -> None:
    """`f` with --exclusive (the way to load a history this size), `online` without (while the city works)."""
    recorder.add(
        "import_rows_per_s",
        f.rows_per_s,
        "rows/s",
        baseline=f"bare COPY of the same {label} rows into a table of text",
        baseline_value=f.copy_rows_per_s,
        target="≥ 50,000 rows/s at 1M rows",
    )
    recorder.add(f"import_{label}_s (--exclusive)", f.import_s, "s", higher_is_better=False)
    recorder.add("import_online_rows_per_s (without --exclusive)", online.rows_per_s, "rows/s")
    recorder.add(f"import_again_{label}_s (all already imported)", online.reimport_s, "s", higher_is_better=False)
