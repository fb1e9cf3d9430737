"""`citymgmt cases import` on the real Los Angeles 311 records (fixtures/la311) over a grid cut from the certified
neighbourhood councils, which leave some located requests just outside: all or nothing by default, and with
--rejects the good rows imported and the others written out with their reasons; (0, 0) as no location; points
just outside the grid attached to the nearest cell; each row's source from its RequestSource; closed times before
the created time set to it, counted and kept in the import event."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from dispatch.components.importer import ImportRefused
from dispatch.imports.history import import_history, read_mapping
from grids.matching import match_cells
from tests.la311 import FIXTURES, LA, RECORDS, request_types, set_up_la

MAPPING = FIXTURES / "la311/import-mapping.yaml"
SNAP_M = 50.0
BAD_TIME = "12/32/2017 10:00:00 AM"


def la_time(value: str) -> datetime:
    return datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=LA)


def the_file(tmp_path: Path) -> tuple[Path, list[str], list[dict[str, str]]]:
    """The real records, three located ones moved to (0, 0) as some exports write "no location", and one with a
    creation date that is no date."""
    with RECORDS.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    located = [r for r in rows if r["Latitude"]]
    for row in located[10:13]:
        row["Latitude"] = row["Longitude"] = "0"
    located[20]["CreatedDate"] = BAD_TIME
    path = tmp_path / "la311.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    return path, header, rows


def nearest_by_brute_force(session: Session, points: list[tuple[float, float]]) -> list[tuple[str, float]]:
    """Each point's nearest live cell and its distance in metres, measured to every cell (no index, no matching)."""
    return [
        (code, metres)
        for code, metres in session.execute(
            text(
                "SELECT near.code, near.metres FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))"
                " WITH ORDINALITY AS p(lon, lat, n) CROSS JOIN LATERAL (SELECT code, ST_Distance(geom::geography,"
                " ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography) AS metres FROM grid_cells"
                " WHERE retired_at IS NULL ORDER BY 2, 1 LIMIT 1) near ORDER BY p.n"
            ),
            {"lons": [p[0] for p in points], "lats": [p[1] for p in points]},
        )
    ]


def test_la311_imports_what_it_can_and_writes_out_the_rest(
    app: Flask, db_session: Session, clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    set_up_la(db_session, clock.now(), cell_m=2000, hull=False)
    path, header, rows = the_file(tmp_path)
    sources = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))["sources"]
    readable = [r for r in rows if r["CreatedDate"] != BAD_TIME]
    placed = [r for r in readable if r["Latitude"] not in ("", "0")]
    cells = match_cells(db_session, [float(r["Longitude"]) for r in placed], [float(r["Latitude"]) for r in placed])
    outside = {r["SRNumber"] for r, cell in zip(placed, cells, strict=True) if cell is None}
    assert len(outside) > 20  # the real file has such rows: the test is about them
    # Request types the taxonomy does not know (the file's one "Feedback" has no location: left out, not refused).
    unknown = {r["SRNumber"] for r in placed if r["RequestType"] not in request_types()}

    # All or nothing (the default): refused whole, counting every problem; nothing written.
    mapping = read_mapping(MAPPING, {"source": "RequestSource"}, "UTC")
    with pytest.raises(ImportRefused) as refused:
        import_history(db_session, path, mapping, clock.now(), "t", progress=lambda m: None, skip_unlocated=True)
    assert refused.value.problems[0].message.startswith(f"{BAD_TIME!r} is not a date and time")
    assert "the first unreadable value" in refused.value.message
    assert db_session.execute(text("SELECT count(*) FROM cases WHERE external_system = 'la311'")).scalar_one() == 0
    good = tmp_path / "la311-readable.csv"
    with good.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(readable)
    with pytest.raises(ImportRefused) as refused:
        import_history(db_session, good, mapping, clock.now(), "t", progress=lambda m: None, skip_unlocated=True)
    assert refused.value.message.startswith(
        f"import refused, nothing was changed: {len(outside | unknown)} of {len(readable):,} rows have a problem"
    )
    assert refused.value.details["refused_rows"] == len(outside | unknown)
    assert "Latitude: the point is outside every grid cell (and" in refused.value.message
    assert db_session.execute(text("SELECT count(*) FROM cases WHERE external_system = 'la311'")).scalar_one() == 0

    # With --rejects: the good rows in, the others out.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    rejects = tmp_path / "rejected.csv"
    result = app.test_cli_runner().invoke(
        cli,
        ["cases", "import", str(path), "--mapping", str(MAPPING), "--source-column", "RequestSource",
         "--skip-unlocated", "--rejects", str(rejects), "--snap-within", str(SNAP_M)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    with rejects.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == [*header, "reason"]
        written = {line[0]: line for line in reader}
    by_id = {r["SRNumber"]: r for r in rows}
    for ident, line in written.items():
        assert line[:-1] == [by_id[ident][h] for h in header]  # the row as it was
    bad_time = next(r["SRNumber"] for r in rows if r["CreatedDate"] == BAD_TIME)
    assert written.pop(bad_time)[-1] == (
        f"CreatedDate: {BAD_TIME!r} is not a date and time (read with the date order MDY)"
    )
    for ident in unknown:
        assert written.pop(ident)[-1] == (
            f"RequestType: {by_id[ident]['RequestType']!r}: no such category in the current taxonomy or the mapping's"
            " categories"
        )
    assert {line[-1] for line in written.values()} == {"Latitude: the point is outside every grid cell"}
    far = set(written)
    assert far < outside
    far_points = [(float(by_id[i]["Longitude"]), float(by_id[i]["Latitude"])) for i in far]
    nearest = nearest_by_brute_force(db_session, far_points)
    assert all(metres > SNAP_M for _, metres in nearest)  # farther than --snap-within from every cell

    cases = db_session.execute(
        text(
            "SELECT c.external_id, c.source, c.cell_code, c.reported_at, c.closed_at, ST_X(c.point) AS lon,"
            " ST_Y(c.point) AS lat, (SELECT e.payload FROM case_events e WHERE e.case_id = c.id"
            " AND e.action = 'import') AS payload FROM cases c WHERE c.external_system = 'la311'"
        )
    ).all()
    imported = {c.external_id: c for c in cases}
    assert set(imported) == {r["SRNumber"] for r in placed} - far - unknown
    snapped = outside - far
    assert snapped
    # Attached to the nearest cell, within --snap-within, the point kept as given.
    points = [(float(by_id[i]["Longitude"]), float(by_id[i]["Latitude"])) for i in sorted(snapped)]
    assert [(imported[i].lon, imported[i].lat) for i in sorted(snapped)] == points
    nearest = nearest_by_brute_force(db_session, points)
    assert [code for code, _ in nearest] == [imported[i].cell_code for i in sorted(snapped)]
    assert all(metres <= SNAP_M for _, metres in nearest)
    assert Counter(c.source for c in cases) == Counter(sources[by_id[i]["RequestSource"]] for i in imported)

    fixed = {
        r["SRNumber"]
        for r in placed
        if r["ClosedDate"] and la_time(r["ClosedDate"]) < la_time(r["CreatedDate"]) and r["SRNumber"] in imported
    }
    assert len(fixed) >= 5
    for ident in fixed:
        case = imported[ident]
        assert case.closed_at == case.reported_at == la_time(by_id[ident]["CreatedDate"])
        assert datetime.fromisoformat(case.payload["closed_given"]) == la_time(by_id[ident]["ClosedDate"])
    assert sum("closed_given" in c.payload for c in cases) == len(fixed)

    unlocated = sum(1 for r in rows if not r["Latitude"])
    assert result.stdout.startswith(
        f"{len(rows):,} rows: {len(imported):,} cases imported, 0 imported before,"
        f" {unlocated + 3:,} without coordinates skipped (3 at 0, 0),"
        f" {len(fixed)} closed before created: closed set to created,"
        f" {len(snapped)} points outside the grid attached to the nearest cell (at most "
    )
    assert f"{len(far) + len(unknown) + 1} refused, written to {rejects}" in result.stdout
    assert len(imported) + len(far) + len(unknown) + 1 + unlocated + 3 == len(rows)
