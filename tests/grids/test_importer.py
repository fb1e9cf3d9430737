"""`citymgmt grids import` and `grids.importer.import_layer`: real files (GeoJSON, Shapefile, GeoPackage) imported
into the test database, every way a file is refused (with nothing changed), repairs, overlap and gap reports, CRS
handling, idempotent re-imports, progress output and the command line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pyogrio.raw
import pytest
import shapely
from flask import Flask
from shapely.geometry import MultiPolygon, Point, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.errors import ValidationError
from grids.crs import transform_geometry
from grids.importer import ImportOptions, ImportRefused, ImportReport, Problem, import_layer
from grids.sources import read_layer

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)

# About 100 m × 100 m at latitude 39.85 (WGS-84): a cell of 0.00117° × 0.0009° is about 9,990 m².
DLON, DLAT = 0.00117, 0.0009
LON0, LAT0 = 116.35, 39.85  # south-west corner of the test community
CELL_M2 = 9990.0

DISTRICT, STREET, COMMUNITY = "990001", "990001001", "990001001001"
DISTRICT_GEOM = box(116.30, 39.80, 116.50, 40.00)
STREET_GEOM = box(116.30, 39.80, 116.40, 39.90)
COMMUNITY_GEOM = box(LON0, LAT0, LON0 + 2 * DLON, LAT0 + 2 * DLAT)  # exactly the four cells below
NEW_DISTRICT_GEOM = box(116.50, 39.80, 116.60, 39.90)  # of district 990002, not there until a test imports it
NEW_STREET_GEOM = box(116.40, 39.80, 116.50, 39.90)  # of street 990001002, likewise

EARTH_RADIUS_M = 6371008.8
WEB_MERCATOR_R = 6378137.0

Geometry: TypeAlias = BaseGeometry | dict[str, Any] | None
Feat: TypeAlias = tuple[dict[str, Any], Geometry]


def cell_box(i: int, j: int, lon0: float = LON0, lat0: float = LAT0, dlon: float = DLON, dlat: float = DLAT) -> Polygon:
    """Cell (i, j) of a regular grid; neighbours share their edges exactly (same float expressions)."""
    return box(lon0 + i * dlon, lat0 + j * dlat, lon0 + (i + 1) * dlon, lat0 + (j + 1) * dlat)


CELLS = {f"{COMMUNITY}00{n}": cell_box(i, j) for n, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)], start=1)}
CELL_CODES = list(CELLS)


# --- files -------------------------------------------------------------------------------------------------------


def write_geojson(path: Path, features: list[Feat], crs: str | None = None) -> Path:
    """A FeatureCollection; geometry as shapely objects, raw GeoJSON dicts (for what shapely will not write) or None."""
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": props,
                "geometry": geom if geom is None or isinstance(geom, dict) else mapping(geom),
            }
            for props, geom in features
        ],
    }
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_ogr(
    path: Path,
    driver: str,
    geoms: list[BaseGeometry],
    fields: dict[str, list[Any]],
    *,
    layer: str | None = None,
    crs: str = "EPSG:4326",
) -> Path:
    """A Shapefile or GeoPackage layer written by GDAL (through pyogrio), geometry as WKB."""
    pyogrio.raw.write(
        path,
        np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
        [
            np.array(values) if isinstance(values[0], int) else np.array(values, dtype=object)
            for values in fields.values()
        ],
        list(fields),
        driver=driver,
        geometry_type="Polygon",
        crs=crs,
        layer=layer,
    )
    return path


def areas_file(path: Path, items: dict[str, BaseGeometry]) -> Path:
    return write_geojson(path, [({"code": code, "name": f"area {code}"}, g) for code, g in items.items()])


def cells_file(path: Path, items: dict[str, Geometry]) -> Path:
    return write_geojson(path, [({"code": code}, g) for code, g in items.items()])


# --- running and looking ------------------------------------------------------------------------------------------


def run_import(
    session: Session,
    path: Path,
    level: str,
    *,
    layer: str | None = None,
    now: datetime = NOW,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> ImportReport:
    lines: list[str] = []
    return import_layer(
        session,
        read_layer(path, layer),
        ImportOptions(level=level, **options),
        now,
        progress=progress or lines.append,
    )


def load_parents(session: Session, tmp_path: Path) -> None:
    """District 990001, its street 990001001 and community 990001001001 (the four test cells tile it)."""
    run_import(session, areas_file(tmp_path / "district.geojson", {DISTRICT: DISTRICT_GEOM}), "district")
    run_import(session, areas_file(tmp_path / "street.geojson", {STREET: STREET_GEOM}), "street")
    run_import(session, areas_file(tmp_path / "community.geojson", {COMMUNITY: COMMUNITY_GEOM}), "community")


@pytest.fixture
def parents(db_session: Session, tmp_path: Path) -> None:
    load_parents(db_session, tmp_path)


def snapshot(session: Session) -> dict[str, list[Any]]:
    """Every row of the three target tables, geometry included, to show that a refused import changed nothing."""
    queries = {
        "areas": "SELECT code, name, level::text, parent_code, md5(ST_AsEWKB(geom)), retired_at, updated_at FROM areas",
        "grid_cells": "SELECT code, community_code, md5(ST_AsEWKB(geom)), area_m2, updated_at FROM grid_cells",
        "responsibility_zones": "SELECT code, department_code, name, kind, md5(ST_AsEWKB(geom)), updated_at"
        " FROM responsibility_zones",
    }
    return {
        table: [tuple(r) for r in session.execute(text(f"{sql} ORDER BY code")).all()] for table, sql in queries.items()
    }


def refused(session: Session, path: Path, level: str, **options: Any) -> list[tuple[int | None, str | None, str]]:
    """Import, expect ImportRefused, check that nothing changed; the problems as (index, code, message)."""
    before = snapshot(session)
    with pytest.raises(ImportRefused) as caught:
        run_import(session, path, level, **options)
    assert snapshot(session) == before
    problems = caught.value.problems
    assert str(caught.value).startswith(f"import refused, nothing was changed ({len(problems)} problem(s)):")
    for p in problems:
        assert f"  {p}" in str(caught.value)
    assert caught.value.details == {"problems": [p.as_dict() for p in problems]}
    return [(p.index, p.code, p.message) for p in problems]


def stored(session: Session, table: str, code: str) -> BaseGeometry:
    query = {
        "areas": "SELECT ST_AsBinary(geom) FROM areas WHERE code = :code",
        "grid_cells": "SELECT ST_AsBinary(geom) FROM grid_cells WHERE code = :code",
        "responsibility_zones": "SELECT ST_AsBinary(geom) FROM responsibility_zones WHERE code = :code",
    }[table]
    wkb = session.execute(text(query), {"code": code}).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def vertex_error_m(got: BaseGeometry, expected: Polygon) -> float:
    """Largest distance between corresponding exterior vertices (the importer keeps vertex order)."""
    polygon = got.geoms[0] if isinstance(got, MultiPolygon) else got
    assert isinstance(polygon, Polygon)
    pairs = list(zip(polygon.exterior.coords, expected.exterior.coords, strict=True))
    return max(metres_between(a, b) for a, b in pairs)


def m2_in(message: str) -> float:
    found = re.search(r"([\d,]+) m²", message)
    assert found, message
    return float(found.group(1).replace(",", ""))


def to_web_mercator(geom: Polygon) -> Polygon:
    def project(lon: float, lat: float) -> tuple[float, float]:
        x = WEB_MERCATOR_R * math.radians(lon)
        y = WEB_MERCATOR_R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
        return x, y

    return Polygon([project(lon, lat) for lon, lat in geom.exterior.coords])


# --- the happy path ----------------------------------------------------------------------------------------------


def test_imports_district_street_community_and_cells_down_the_hierarchy(db_session: Session, tmp_path: Path) -> None:
    district = run_import(db_session, areas_file(tmp_path / "d.geojson", {DISTRICT: DISTRICT_GEOM}), "district")
    street = run_import(db_session, areas_file(tmp_path / "s.geojson", {STREET: STREET_GEOM}), "street")
    community = run_import(db_session, areas_file(tmp_path / "c.geojson", {COMMUNITY: COMMUNITY_GEOM}), "community")
    lines: list[str] = []
    cells = run_import(db_session, cells_file(tmp_path / "cells.geojson", dict(CELLS)), "cell", progress=lines.append)

    assert [(r.level, r.features, r.created, r.updated) for r in (district, street, community, cells)] == [
        ("district", 1, 1, 0),
        ("street", 1, 1, 0),
        ("community", 1, 1, 0),
        ("cell", 4, 4, 0),
    ]
    assert cells.warnings == [] and cells.repaired == []  # four cells tiling their community exactly
    assert lines == ["4 features checked; writing", "4 created, 0 updated"]

    areas = db_session.execute(
        text(
            "SELECT code, name, level::text, parent_code, generated, ST_SRID(geom), GeometryType(geom) FROM areas"
            " WHERE code LIKE '99%' ORDER BY code"
        )
    ).all()
    assert [tuple(r) for r in areas] == [
        (DISTRICT, f"area {DISTRICT}", "district", None, False, 4326, "MULTIPOLYGON"),
        (STREET, f"area {STREET}", "street", DISTRICT, False, 4326, "MULTIPOLYGON"),
        (COMMUNITY, f"area {COMMUNITY}", "community", STREET, False, 4326, "MULTIPOLYGON"),
    ]
    assert stored(db_session, "areas", STREET).equals(MultiPolygon([STREET_GEOM]))

    rows = db_session.execute(
        text(
            "SELECT code, community_code, ST_SRID(geom), GeometryType(geom), area_m2, retired_at FROM grid_cells"
            " WHERE code LIKE '99%' ORDER BY code"
        )
    ).all()
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        (code, COMMUNITY, 4326, "POLYGON", None) for code in CELL_CODES
    ]
    for row in rows:
        assert row[4] == pytest.approx(CELL_M2, rel=0.01)
    assert stored(db_session, "grid_cells", CELL_CODES[3]).equals(CELLS[CELL_CODES[3]])


def test_imports_responsibility_zones_with_department_and_kind(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "zones.geojson",
        [
            ({"code": "ROAD-1", "name": "Test avenue", "department": "ROADS", "kind": "road"}, cell_box(0, 0)),
            ({"code": "PARK-1", "name": "Test park", "department": "PARKS"}, cell_box(1, 0)),
        ],
    )
    report = run_import(db_session, path, "zone")

    assert (report.created, report.updated, report.warnings) == (2, 0, [])
    rows = db_session.execute(
        text(
            "SELECT code, name, department_code, kind, ST_SRID(geom), GeometryType(geom) FROM responsibility_zones"
            " ORDER BY code"
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("PARK-1", "Test park", "PARKS", "other", 4326, "MULTIPOLYGON"),  # no kind given: "other"
        ("ROAD-1", "Test avenue", "ROADS", "road", 4326, "MULTIPOLYGON"),
    ]
    assert db_session.execute(text("SELECT count(*) FROM areas WHERE code LIKE '99%'")).scalar_one() == 0


def test_field_names_are_options(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "zones.geojson",
        [({"id": "ROAD-7", "title": "Ring road", "owner": "ROADS", "type": "road"}, cell_box(0, 0))],
    )
    report = run_import(
        db_session, path, "zone", code_field="id", name_field="title", department_field="owner", kind_field="type"
    )
    assert report.created == 1
    row = db_session.execute(text("SELECT code, name, department_code, kind FROM responsibility_zones")).one()
    assert tuple(row) == ("ROAD-7", "Ring road", "ROADS", "road")


# --- idempotence ---------------------------------------------------------------------------------------------------


def test_reimporting_areas_changes_nothing_and_one_changed_area_is_one_update(
    db_session: Session, tmp_path: Path
) -> None:
    second = NEW_DISTRICT_GEOM
    path = areas_file(tmp_path / "d.geojson", {DISTRICT: DISTRICT_GEOM, "990002": second})
    assert run_import(db_session, path, "district").created == 2

    again = run_import(db_session, path, "district", now=LATER)
    assert (again.features, again.created, again.updated) == (2, 0, 0)
    stamps = db_session.execute(text("SELECT DISTINCT updated_at FROM areas WHERE code LIKE '99%'")).scalars().all()
    assert stamps == [NOW]  # the rows were not even touched

    renamed = write_geojson(
        tmp_path / "renamed.geojson",
        [({"code": DISTRICT, "name": "Renamed"}, DISTRICT_GEOM), ({"code": "990002", "name": "area 990002"}, second)],
    )
    report = run_import(db_session, renamed, "district", now=LATER)
    assert (report.created, report.updated) == (0, 1)
    name, updated_at = db_session.execute(
        text("SELECT name, updated_at FROM areas WHERE code = :c"), {"c": DISTRICT}
    ).one()
    assert (name, updated_at) == ("Renamed", LATER)

    moved_geom = box(116.50, 39.80, 116.61, 39.90)
    moved = areas_file(tmp_path / "moved.geojson", {"990002": moved_geom})
    report = run_import(db_session, moved, "district", now=LATER)
    assert (report.created, report.updated) == (0, 1)
    assert stored(db_session, "areas", "990002").equals(MultiPolygon([moved_geom]))


def test_reimporting_cells_changes_nothing_and_a_reshaped_cell_is_one_update(
    db_session: Session, parents: None, tmp_path: Path
) -> None:
    path = cells_file(tmp_path / "cells.geojson", dict(CELLS))
    assert run_import(db_session, path, "cell").created == 4
    again = run_import(db_session, path, "cell")
    assert (again.created, again.updated, again.warnings) == (0, 0, [])

    # A notch in the south edge of the first cell: a real change that keeps the cell's bounding box.
    x0, y0, x1, y1 = CELLS[CELL_CODES[0]].bounds
    notched = Polygon([(x0, y0), ((x0 + x1) / 2, y0 + DLAT / 10), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
    report = run_import(db_session, cells_file(tmp_path / "notched.geojson", {**CELLS, CELL_CODES[0]: notched}), "cell")

    assert (report.created, report.updated) == (0, 1)
    assert stored(db_session, "grid_cells", CELL_CODES[0]).equals(notched)
    area = db_session.execute(text("SELECT area_m2 FROM grid_cells WHERE code = :c"), {"c": CELL_CODES[0]}).scalar()
    assert area == pytest.approx(CELL_M2 * 0.95, rel=0.01)  # the notch takes a twentieth of the cell
    # ... and the notch is a hole in the community's coverage.
    assert [(p.index, p.code) for p in report.warnings] == [(None, COMMUNITY)]
    assert m2_in(report.warnings[0].message) == pytest.approx(CELL_M2 * 0.05, rel=0.02)


def test_reimporting_zones_changes_nothing_and_a_changed_zone_is_one_update(
    db_session: Session, tmp_path: Path
) -> None:
    outer = box(LON0, LAT0, LON0 + 4 * DLON, LAT0 + 4 * DLAT)
    features: list[Feat] = [
        ({"code": "PARK-1", "name": "park", "department": "PARKS", "kind": "park"}, outer),
        ({"code": "ROAD-1", "name": "road", "department": "ROADS", "kind": "road"}, cell_box(5, 0)),
    ]
    path = write_geojson(tmp_path / "zones.geojson", features)
    assert run_import(db_session, path, "zone").created == 2
    again = run_import(db_session, path, "zone")
    assert (again.created, again.updated) == (0, 0)

    # A lake cut out of the park: the bounding box stays the same, the zone does not.
    with_lake = Polygon(outer.exterior.coords, [cell_box(1, 1).exterior.coords])
    changed = write_geojson(tmp_path / "lake.geojson", [(features[0][0], with_lake), features[1]])
    report = run_import(db_session, changed, "zone")
    assert (report.created, report.updated) == (0, 1)
    assert stored(db_session, "responsibility_zones", "PARK-1").equals(MultiPolygon([with_lake]))

    rekinded = write_geojson(
        tmp_path / "kind.geojson", [(features[0][0], with_lake), ({**features[1][0], "kind": "street"}, features[1][1])]
    )
    report = run_import(db_session, rekinded, "zone")
    assert (report.created, report.updated) == (0, 1)
    kind = db_session.execute(text("SELECT kind FROM responsibility_zones WHERE code = 'ROAD-1'")).scalar_one()
    assert kind == "street"


# --- every way a file is refused -----------------------------------------------------------------------------------

GOOD: dict[str, Feat] = {
    "district": ({"code": "990002", "name": "new district", "department": "X"}, NEW_DISTRICT_GEOM),
    "street": ({"code": "990001002", "name": "new street", "department": "X"}, NEW_STREET_GEOM),
    "community": ({"code": "990001001002", "name": "new", "department": "X"}, box(116.30, 39.80, 116.31, 39.81)),
    "cell": ({"code": CELL_CODES[0], "name": "cell", "department": "X"}, CELLS[CELL_CODES[0]]),
    "zone": ({"code": "ROAD-1", "name": "road", "department": "ROADS"}, cell_box(0, 0)),
}


def with_good(level: str, *bad: Feat) -> list[Feat]:
    """A good feature first, so that a refusal visibly keeps it out too."""
    return [GOOD[level], *bad]


def test_missing_code_field_is_refused_naming_the_fields_present(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "adcode.geojson",
        [({"adcode": "990002", "name": "a"}, NEW_DISTRICT_GEOM), ({"adcode": "990003", "name": "b"}, DISTRICT_GEOM)],
    )
    assert refused(db_session, path, "district", code_field="code") == [
        (None, None, "no field code (fields are: adcode, name)")
    ]
    assert run_import(db_session, path, "district").created == 2  # the same file: adcode is found by itself


def test_empty_code_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "empty-code.geojson",
        with_good(
            "district", ({"code": ""}, DISTRICT_GEOM), ({"code": "   "}, DISTRICT_GEOM), ({"code": None}, DISTRICT_GEOM)
        ),
    )
    assert refused(db_session, path, "district") == [(i, None, "no code in field code") for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("level", "code", "shape"),
    [
        ("district", "99000", "6 digits"),
        ("district", "9900011", "6 digits"),
        ("district", "99000A", "6 digits"),
        ("street", "990001", "9 digits"),
        ("community", "990001001", "12 digits"),
        ("cell", COMMUNITY, "15 digits"),
        ("cell", f"{COMMUNITY}0001", "15 digits"),
        ("zone", "road 1", "1-40 letters, digits, '.', '_' or '-'"),
        ("zone", "R" * 41, "1-40 letters, digits, '.', '_' or '-'"),
    ],
)
def test_code_of_the_wrong_format_for_the_level_is_refused(
    db_session: Session, parents: None, tmp_path: Path, level: str, code: str, shape: str
) -> None:
    bad = ({"code": code, "department": "X"}, CELLS[CELL_CODES[1]])
    path = write_geojson(tmp_path / "bad-code.geojson", with_good(level, bad))
    assert refused(db_session, path, level) == [(1, code, f"code must be {shape}")]


def test_repeated_code_is_refused_naming_the_first_feature(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "repeated.geojson",
        [({"code": DISTRICT}, DISTRICT_GEOM), GOOD["district"], ({"code": DISTRICT}, box(116.6, 39.8, 116.7, 39.9))],
    )
    assert refused(db_session, path, "district") == [(2, DISTRICT, "code repeated (first at feature 0)")]


def test_feature_without_geometry_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "no-geometry.geojson",
        with_good("district", ({"code": "990003"}, None), ({"code": "990004"}, {"type": "Polygon", "coordinates": []})),
    )
    assert refused(db_session, path, "district") == [(1, "990003", "no geometry"), (2, "990004", "no geometry")]


def test_point_or_line_instead_of_a_polygon_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "points.geojson",
        with_good(
            "district",
            ({"code": "990003"}, Point(116.35, 39.85)),
            ({"code": "990004"}, shapely.LineString([(116.35, 39.85), (116.36, 39.86)])),
        ),
    )
    assert refused(db_session, path, "district") == [
        (1, "990003", "geometry is a Point, not a polygon"),
        (2, "990004", "geometry is a LineString, not a polygon"),
    ]


def test_invalid_geometry_that_does_not_repair_into_a_polygon_is_refused(db_session: Session, tmp_path: Path) -> None:
    # Zero-area rings: make_valid turns them into lines, so nothing of a polygon is left.
    flat = {
        "type": "Polygon",
        "coordinates": [[[LON0, LAT0], [LON0 + DLON, LAT0], [LON0 + 2 * DLON, LAT0], [LON0, LAT0]]],
    }
    back_and_forth = {"type": "Polygon", "coordinates": [[[LON0, LAT0], [LON0 + DLON, LAT0 + DLAT], [LON0, LAT0]]]}
    path = write_geojson(
        tmp_path / "flat.geojson",
        with_good("district", ({"code": "990003"}, flat), ({"code": "990004"}, back_and_forth)),
    )
    problems = refused(db_session, path, "district")
    assert [(index, code) for index, code, _ in problems] == [(1, "990003"), (2, "990004")]
    for _, _, message in problems:
        assert message.startswith("invalid geometry that cannot be repaired: "), message
        assert len(message) > len("invalid geometry that cannot be repaired: ")  # the reason GEOS gives


def test_cell_in_two_parts_is_refused(db_session: Session, parents: None, tmp_path: Path) -> None:
    x0, y0, x1, y1 = CELLS[CELL_CODES[1]].bounds
    bowtie = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])  # repaired into two triangles
    two_squares = MultiPolygon([CELLS[CELL_CODES[2]], cell_box(5, 5)])
    path = cells_file(
        tmp_path / "parts.geojson",
        {CELL_CODES[0]: CELLS[CELL_CODES[0]], CELL_CODES[1]: bowtie, CELL_CODES[2]: two_squares},
    )
    assert refused(db_session, path, "cell") == [
        (1, CELL_CODES[1], "a cell must be one polygon, this has 2 parts"),
        (2, CELL_CODES[2], "a cell must be one polygon, this has 2 parts"),
    ]
    # A cell given as a one-part MultiPolygon is fine.
    one_part = cells_file(tmp_path / "one-part.geojson", {c: MultiPolygon([g]) for c, g in CELLS.items()})
    assert run_import(db_session, one_part, "cell").created == 4
    assert db_session.execute(text("SELECT DISTINCT GeometryType(geom) FROM grid_cells")).scalars().all() == ["POLYGON"]


def test_parent_field_contradicting_the_code_is_refused(db_session: Session, parents: None, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "parent.geojson",
        [
            ({"code": "990001002", "parent": DISTRICT}, NEW_STREET_GEOM),
            ({"code": "990001003", "parent": "990009"}, STREET_GEOM),
            ({"code": "990001004", "parent": None}, STREET_GEOM),  # no parent given: the code's prefix
        ],
    )
    assert refused(db_session, path, "street", parent_field="parent") == [
        (1, "990001003", "parent 990009 does not match the code's prefix 990001")
    ]
    # Without the option the field is not looked at, and the file is good.
    assert run_import(db_session, path, "street").created == 3


def test_parent_field_missing_from_the_file_is_refused(db_session: Session, parents: None, tmp_path: Path) -> None:
    path = areas_file(tmp_path / "streets.geojson", {"990001002": NEW_STREET_GEOM})
    assert refused(db_session, path, "street", parent_field="parent_code") == [
        (None, None, "no field parent_code (fields are: code, name)")
    ]


def test_parent_missing_from_the_database_is_refused(db_session: Session, parents: None, tmp_path: Path) -> None:
    streets = write_geojson(tmp_path / "streets.geojson", with_good("street", ({"code": "990002001"}, STREET_GEOM)))
    assert refused(db_session, streets, "street") == [
        (1, "990002001", "district 990002 does not exist: import it first")
    ]

    cells = cells_file(
        tmp_path / "cells.geojson", {CELL_CODES[0]: CELLS[CELL_CODES[0]], "990001001009001": cell_box(3, 3)}
    )
    assert refused(db_session, cells, "cell") == [
        (1, "990001001009001", "community 990001001009 does not exist: import it first")
    ]

    db_session.execute(text("UPDATE areas SET retired_at = now() WHERE code = :c"), {"c": COMMUNITY})
    retired = cells_file(tmp_path / "retired.geojson", {CELL_CODES[0]: CELLS[CELL_CODES[0]]})
    assert refused(db_session, retired, "cell") == [
        (0, CELL_CODES[0], f"community {COMMUNITY} does not exist: import it first")
    ]


def test_zone_without_department_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "zones.geojson",
        with_good("zone", ({"code": "PARK-1", "department": ""}, cell_box(1, 0)), ({"code": "PARK-2"}, cell_box(2, 0))),
    )
    assert refused(db_session, path, "zone") == [
        (1, "PARK-1", "no department in field department"),
        (2, "PARK-2", "no department in field department"),
    ]
    no_field = write_geojson(tmp_path / "no-field.geojson", [({"code": "PARK-1", "name": "park"}, cell_box(1, 0))])
    assert refused(db_session, no_field, "zone") == [(None, None, "no field department (fields are: code, name)")]


def test_zone_department_or_kind_too_long_for_the_table_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "zones.geojson",
        with_good(
            "zone",
            ({"code": "PARK-1", "department": "D" * 41, "kind": "park"}, cell_box(1, 0)),
            ({"code": "PARK-2", "department": "PARKS", "kind": "k" * 41}, cell_box(2, 0)),
            ({"code": "PARK-3", "department": "D" * 40, "kind": "k" * 40}, cell_box(3, 0)),  # exactly fits
        ),
    )
    assert refused(db_session, path, "zone") == [
        (1, "PARK-1", "department in field department is longer than 40 characters"),
        (2, "PARK-2", "kind in field kind is longer than 40 characters"),
    ]


def test_empty_layer_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "empty.geojson", [])
    assert refused(db_session, path, "district") == [(None, None, "the layer has no features")]


def test_coordinates_that_are_not_longitude_latitude_are_refused(db_session: Session, tmp_path: Path) -> None:
    # Web Mercator metres in a GeoJSON file without a "crs" member: GDAL calls it WGS-84.
    metres = to_web_mercator(NEW_DISTRICT_GEOM)
    path = write_geojson(tmp_path / "metres.geojson", with_good("district", ({"code": "990003"}, metres)))
    problems = refused(db_session, path, "district")
    assert [(index, code) for index, code, _ in problems] == [(1, "990003")]
    assert problems[0][2].startswith("coordinates are not longitude/latitude (x 1.29")
    assert problems[0][2].endswith("give the file's CRS with --crs")


@pytest.mark.parametrize("content", ["just some notes\nnot a map\n", '{"type": "FeatureCollection", "features": ['])
def test_unreadable_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / ("notes.txt" if content.startswith("just") else "broken.geojson")
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=r"cannot read it as a geographic file") as caught:
        read_layer(path)
    assert caught.value.message.startswith(f"{path}: ")


def test_nonexistent_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"no such file$"):
        read_layer(tmp_path / "missing.geojson")


@pytest.mark.parametrize(
    ("crs", "says"),
    [
        ("mars", "unknown CRS 'mars'; accepted: wgs84"),
        ("EPSG:12345", "unknown CRS 'EPSG:12345': PostGIS has no EPSG:12345"),
        ("999999", "unknown CRS '999999': PostGIS has no EPSG:999999"),
    ],
)
def test_unknown_crs_is_refused(db_session: Session, tmp_path: Path, crs: str, says: str) -> None:
    path = areas_file(tmp_path / "d.geojson", {DISTRICT: DISTRICT_GEOM})
    before = snapshot(db_session)
    with pytest.raises(ValidationError) as caught:
        run_import(db_session, path, "district", crs=crs)
    assert caught.value.message.startswith(says)
    assert caught.value.details == {"crs": crs}
    assert snapshot(db_session) == before


def test_unknown_level_is_refused(db_session: Session, tmp_path: Path) -> None:
    path = areas_file(tmp_path / "d.geojson", {DISTRICT: DISTRICT_GEOM})
    with pytest.raises(ValidationError, match=r"^level must be one of district, street, community, cell, zone$"):
        run_import(db_session, path, "province")


def test_every_bad_feature_is_reported_and_none_of_the_good_ones_written(db_session: Session, tmp_path: Path) -> None:
    run_import(db_session, areas_file(tmp_path / "first.geojson", {DISTRICT: DISTRICT_GEOM}), "district")
    path = write_geojson(
        tmp_path / "many.geojson",
        [
            ({"code": DISTRICT, "name": "Renamed"}, DISTRICT_GEOM),  # would be an update
            ({"code": "990002", "name": "New"}, NEW_DISTRICT_GEOM),  # would be created
            ({"code": "12", "name": "short"}, DISTRICT_GEOM),
            ({"code": "990002", "name": "again"}, DISTRICT_GEOM),
            ({"code": "990003", "name": "nothing"}, None),
            ({"code": "990004", "name": "point"}, Point(116.4, 39.9)),
            ({"code": "", "name": "no code"}, DISTRICT_GEOM),
            ({"code": "990005", "name": "fine"}, box(116.6, 39.8, 116.7, 39.9)),
        ],
    )
    assert refused(db_session, path, "district") == [
        (2, "12", "code must be 6 digits"),
        (3, "990002", "code repeated (first at feature 1)"),
        (4, "990003", "no geometry"),
        (5, "990004", "geometry is a Point, not a polygon"),
        (6, None, "no code in field code"),
    ]
    names = db_session.execute(text("SELECT code, name FROM areas WHERE code LIKE '99%' ORDER BY code")).all()
    assert [tuple(r) for r in names] == [(DISTRICT, f"area {DISTRICT}")]


def test_problems_of_different_stages_are_reported_together(db_session: Session, parents: None, tmp_path: Path) -> None:
    path = cells_file(
        tmp_path / "cells.geojson",
        {CELL_CODES[0]: CELLS[CELL_CODES[0]], "990001001009001": cell_box(3, 3), "99000100100100": cell_box(4, 4)},
    )
    assert refused(db_session, path, "cell") == [
        (2, "99000100100100", "code must be 15 digits"),
        (1, "990001001009001", "community 990001001009 does not exist: import it first"),
    ]


# --- repairs -------------------------------------------------------------------------------------------------------


def test_repairable_invalid_polygons_are_imported_and_reported(
    db_session: Session, parents: None, tmp_path: Path
) -> None:
    x0, y0, x1, y1 = CELLS[CELL_CODES[0]].bounds
    # A spike poking out of the east edge and back: a self-intersection that make_valid cuts off as a line.
    spiked = Polygon(
        [
            (x0, y0),
            (x1, y0),
            (x1, (y0 + y1) / 2),
            (x1 + DLON / 2, (y0 + y1) / 2),
            (x1, (y0 + y1) / 2),
            (x1, y1),
            (x0, y1),
        ]
    )
    assert not spiked.is_valid
    report = run_import(db_session, cells_file(tmp_path / "spike.geojson", {**CELLS, CELL_CODES[0]: spiked}), "cell")

    assert (report.created, report.warnings) == (4, [])  # the repaired cell tiles the community like the others
    assert [(p.index, p.code) for p in report.repaired] == [(0, CELL_CODES[0])]
    assert report.repaired[0].message.startswith("invalid geometry repaired: Self-intersection[")
    got = stored(db_session, "grid_cells", CELL_CODES[0])
    assert got.is_valid and got.equals(CELLS[CELL_CODES[0]])


def test_repaired_area_may_keep_several_parts_and_holes(db_session: Session, tmp_path: Path) -> None:
    x0, y0, x1, y1 = NEW_DISTRICT_GEOM.bounds
    bowtie = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    # A ring touching itself in one point (how some GIS write a hole): invalid in OGC terms, repaired into a hole.
    inverted_hole = Polygon(
        [
            (116.6, 39.8),
            (116.7, 39.8),
            (116.7, 39.9),
            (116.65, 39.9),
            (116.66, 39.85),
            (116.64, 39.85),
            (116.65, 39.9),
            (116.6, 39.9),
        ]
    )
    path = write_geojson(
        tmp_path / "repair.geojson", [({"code": "990002"}, bowtie), ({"code": "990003"}, inverted_hole)]
    )
    report = run_import(db_session, path, "district")

    assert report.created == 2
    assert [(p.index, p.code, p.message.split("[")[0]) for p in report.repaired] == [
        (0, "990002", "invalid geometry repaired: Self-intersection"),
        (1, "990003", "invalid geometry repaired: Ring Self-intersection"),
    ]
    shape = db_session.execute(
        text(
            "SELECT code, ST_NumGeometries(geom), ST_NRings(geom), ST_IsValid(geom) FROM areas"
            " WHERE code LIKE '99%' ORDER BY code"
        )
    ).all()
    assert [tuple(r) for r in shape if r[0] != DISTRICT] == [("990002", 2, 2, True), ("990003", 1, 2, True)]
    halves = stored(db_session, "areas", "990002")  # the west and the east triangle of the bowtie
    assert halves.contains(Point(x0 + (x1 - x0) / 10, my)) and halves.contains(Point(x1 - (x1 - x0) / 10, my))
    assert not halves.contains(Point(mx, y0 + (y1 - y0) / 10))


def test_coordinates_with_z_are_imported_flat(db_session: Session, tmp_path: Path) -> None:
    with_z = shapely.force_3d(NEW_DISTRICT_GEOM, 43.5)
    path = write_geojson(tmp_path / "z.geojson", [({"code": "990002"}, with_z)])
    read = read_layer(path).features[0].geometry
    assert read is not None and read.has_z
    assert run_import(db_session, path, "district").created == 1
    dims = db_session.execute(text("SELECT ST_NDims(geom) FROM areas WHERE code = '990002'")).scalar_one()
    assert dims == 2
    assert stored(db_session, "areas", "990002").equals(MultiPolygon([NEW_DISTRICT_GEOM]))


# --- overlaps and gaps ---------------------------------------------------------------------------------------------


def test_overlapping_cells_are_reported_with_the_overlap_in_square_metres(
    db_session: Session, parents: None, tmp_path: Path
) -> None:
    straddling = box(LON0 + DLON / 2, LAT0, LON0 + 1.5 * DLON, LAT0 + DLAT)  # half over cell 1, half over cell 2
    copy_of_4 = CELLS[CELL_CODES[3]]
    path = cells_file(
        tmp_path / "overlaps.geojson", {**CELLS, f"{COMMUNITY}005": straddling, f"{COMMUNITY}006": copy_of_4}
    )
    report = run_import(db_session, path, "cell")

    assert report.created == 6  # reported, not refused
    assert [(p.index, p.code, re.sub(r"[\d,]+ m²", "N m²", p.message)) for p in report.warnings] == [
        (0, CELL_CODES[0], f"overlaps cell {COMMUNITY}005 by N m²"),
        (1, CELL_CODES[1], f"overlaps cell {COMMUNITY}005 by N m²"),
        (3, CELL_CODES[3], f"overlaps cell {COMMUNITY}006 by N m²"),
    ]
    assert [m2_in(p.message) for p in report.warnings] == pytest.approx([CELL_M2 / 2, CELL_M2 / 2, CELL_M2], rel=0.01)


def test_gap_inside_a_community_is_reported_with_its_area(db_session: Session, parents: None, tmp_path: Path) -> None:
    path = cells_file(tmp_path / "gap.geojson", {c: CELLS[c] for c in CELL_CODES[:3]})
    report = run_import(db_session, path, "cell")

    assert report.created == 3
    assert [(p.index, p.code) for p in report.warnings] == [(None, COMMUNITY)]
    assert report.warnings[0].message.endswith(f"m² of community {COMMUNITY} is in no cell")
    assert m2_in(report.warnings[0].message) == pytest.approx(CELL_M2, rel=0.01)


def test_strict_refuses_overlaps_and_gaps_and_changes_nothing(
    db_session: Session, parents: None, tmp_path: Path
) -> None:
    gap = cells_file(tmp_path / "gap.geojson", {c: CELLS[c] for c in CELL_CODES[:3]})
    problems = refused(db_session, gap, "cell", strict=True)
    assert [(index, code) for index, code, _ in problems] == [(None, COMMUNITY)]
    assert "is in no cell" in problems[0][2]

    overlap = cells_file(tmp_path / "overlap.geojson", {**CELLS, f"{COMMUNITY}005": CELLS[CELL_CODES[0]]})
    problems = refused(db_session, overlap, "cell", strict=True)
    assert [(index, code) for index, code, _ in problems] == [(0, CELL_CODES[0])]
    assert problems[0][2].startswith(f"overlaps cell {COMMUNITY}005 by ")

    # The good tiling passes strict, and a second strict import after the refusals works as usual.
    report = run_import(db_session, cells_file(tmp_path / "good.geojson", dict(CELLS)), "cell", strict=True)
    assert (report.created, report.warnings) == (4, [])


# --- coordinate reference systems ----------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_square_in_gcj02_or_bd09_lands_within_half_a_metre_of_its_wgs84_place(
    db_session: Session, tmp_path: Path, crs: str
) -> None:
    square = cell_box(0, 0)
    shifted = transform_geometry(square, "wgs84", crs)
    assert vertex_error_m(shifted, square) > 100  # the file's coordinates are far off until converted
    path = write_geojson(tmp_path / f"{crs}.geojson", [({"code": "990002"}, shifted)])

    assert run_import(db_session, path, "district", crs=crs).created == 1
    assert vertex_error_m(stored(db_session, "areas", "990002"), square) < 0.5


def test_epsg_3857_metres_are_reprojected_to_wgs84(db_session: Session, parents: None, tmp_path: Path) -> None:
    cells = cells_file(tmp_path / "3857.geojson", {c: to_web_mercator(g) for c, g in CELLS.items()})
    report = run_import(db_session, cells, "cell", crs="EPSG:3857")

    assert (report.created, report.warnings) == (4, [])  # lands exactly on its community again
    for code, square in CELLS.items():
        assert vertex_error_m(stored(db_session, "grid_cells", code), square) < 0.5
    srid, area = db_session.execute(
        text("SELECT ST_SRID(geom), area_m2 FROM grid_cells WHERE code = :c"), {"c": CELL_CODES[0]}
    ).one()
    assert srid == 4326 and area == pytest.approx(CELL_M2, rel=0.01)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_the_files_own_crs_is_used_when_none_is_given(db_session: Session, tmp_path: Path, fmt: str) -> None:
    square = NEW_DISTRICT_GEOM
    metres = to_web_mercator(square)
    if fmt == "geojson":
        path = write_geojson(tmp_path / "own.geojson", [({"code": "990002"}, metres)], crs="urn:ogc:def:crs:EPSG::3857")
    else:
        path = write_ogr(tmp_path / "own.gpkg", "GPKG", [metres], {"code": ["990002"]}, crs="EPSG:3857")
    assert read_layer(path).crs == "EPSG:3857"

    assert run_import(db_session, path, "district").created == 1
    assert vertex_error_m(stored(db_session, "areas", "990002"), square) < 0.5


# --- file formats --------------------------------------------------------------------------------------------------


def test_shapefile(db_session: Session, tmp_path: Path) -> None:
    path = write_ogr(
        tmp_path / "districts.shp",
        "ESRI Shapefile",
        [DISTRICT_GEOM, NEW_DISTRICT_GEOM],
        {"code": [990001, 990002], "name": ["测试一区", "测试二区"]},  # an integer code field, Chinese names
    )
    report = run_import(db_session, path, "district")

    assert (report.created, report.updated) == (2, 0)
    rows = db_session.execute(text("SELECT code, name FROM areas WHERE code LIKE '99%' ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [("990001", "测试一区"), ("990002", "测试二区")]
    assert stored(db_session, "areas", "990002").equals(MultiPolygon([NEW_DISTRICT_GEOM]))
    assert run_import(db_session, path, "district").updated == 0


def test_geopackage_layer_is_chosen_by_name(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "city.gpkg"
    write_ogr(path, "GPKG", [DISTRICT_GEOM], {"code": [DISTRICT], "name": ["d"]}, layer="districts")
    write_ogr(path, "GPKG", [STREET_GEOM, NEW_STREET_GEOM], {"code": [STREET, "990001002"]}, layer="streets")

    assert run_import(db_session, path, "district", layer="districts").created == 1
    report = run_import(db_session, path, "street", layer="streets")
    assert (report.features, report.created) == (2, 2)
    rows = db_session.execute(text("SELECT code, level::text FROM areas WHERE code LIKE '99%' ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [(DISTRICT, "district"), (STREET, "street"), ("990001002", "street")]

    with pytest.raises(ValidationError, match=r"cannot read it as a geographic file \(Layer 'roads' could not"):
        read_layer(path, "roads")


# --- progress --------------------------------------------------------------------------------------------------------


def test_progress_on_a_file_of_thousands_of_cells(db_session: Session, tmp_path: Path) -> None:
    small_lon, small_lat = DLON / 10, DLAT / 10  # 10 m cells
    cols, rows = 30, 25  # 750 cells per community, 4 communities
    communities = {
        f"{STREET}00{k}": box(
            LON0 + k * cols * small_lon, LAT0, LON0 + (k + 1) * cols * small_lon, LAT0 + rows * small_lat
        )
        for k in range(1, 5)
    }
    run_import(db_session, areas_file(tmp_path / "d.geojson", {DISTRICT: DISTRICT_GEOM}), "district")
    run_import(db_session, areas_file(tmp_path / "s.geojson", {STREET: STREET_GEOM}), "street")
    run_import(db_session, areas_file(tmp_path / "c.geojson", communities), "community")
    cells: dict[str, Geometry] = {}
    for k, community in enumerate(communities, start=1):
        base = LON0 + k * cols * small_lon
        for n in range(cols * rows):
            cells[f"{community}{n:03d}"] = box(
                base + (n % cols) * small_lon,
                LAT0 + (n // cols) * small_lat,
                base + (n % cols + 1) * small_lon,
                LAT0 + (n // cols + 1) * small_lat,
            )
    path = cells_file(tmp_path / "many.geojson", cells)

    lines: list[str] = []
    report = run_import(db_session, path, "cell", progress=lines.append)

    assert (report.features, report.created, report.warnings) == (3000, 3000, [])
    assert lines == [
        "checked 1000/3000 features",
        "checked 2000/3000 features",
        "3000 features checked; writing",
        "3000 created, 0 updated",
    ]


# --- the command line ------------------------------------------------------------------------------------------------


def invoke(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # FlaskGroup sets it; restored after the test
    return app.test_cli_runner().invoke(cli, ["grids", "import", *args])


def test_cli_imports_and_prints_the_summary(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = areas_file(tmp_path / "districts.geojson", {DISTRICT: DISTRICT_GEOM, "990002": NEW_DISTRICT_GEOM})

    result = invoke(app, monkeypatch, str(path), "--level", "district")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "imported 2 district features: 2 created, 0 updated, 0 unchanged; 0 repaired, 0 warnings\n"
    )
    assert f"{path}: 2 features" in result.stderr
    assert "2 created, 0 updated" in result.stderr
    assert db_session.execute(text("SELECT count(*) FROM areas WHERE code LIKE '99%'")).scalar_one() == 2

    again = invoke(app, monkeypatch, str(path), "--level", "district")
    assert again.exit_code == 0
    assert again.stdout == "imported 2 district features: 0 created, 0 updated, 2 unchanged; 0 repaired, 0 warnings\n"


def test_cli_passes_its_options_and_prints_warnings(
    app: Flask, db_session: Session, parents: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcj = {c: transform_geometry(g, "wgs84", "gcj02") for c, g in CELLS.items() if c != CELL_CODES[3]}
    path = write_geojson(
        tmp_path / "cells.geojson", [({"cell_id": c, "community": COMMUNITY}, g) for c, g in gcj.items()]
    )
    args = [str(path), "--level", "cell", "--code-field", "cell_id", "--parent-field", "community", "--crs", "gcj02"]
    db_session.commit()  # the parents, committed as by an earlier import (the command rolls back to here)

    strict = invoke(app, monkeypatch, *args, "--strict")
    assert strict.exit_code == 1
    assert "import refused, nothing was changed" in strict.stderr and "is in no cell" in strict.stderr
    assert db_session.execute(text("SELECT count(*) FROM grid_cells WHERE code LIKE '99%'")).scalar_one() == 0

    result = invoke(app, monkeypatch, *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("3 created, 0 updated, 0 unchanged; 0 repaired, 1 warnings\n")
    assert re.search(
        rf"^warning: layer \({COMMUNITY}\): [\d,]+ m² of community {COMMUNITY} is in no cell$", result.stderr, re.M
    )
    assert vertex_error_m(stored(db_session, "grid_cells", CELL_CODES[0]), CELLS[CELL_CODES[0]]) < 0.5


def test_cli_refused_file_exits_1_with_the_problems_and_changes_nothing(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_import(db_session, areas_file(tmp_path / "first.geojson", {DISTRICT: DISTRICT_GEOM}), "district")
    db_session.commit()  # there before the command, which rolls back to here
    path = write_geojson(
        tmp_path / "bad.geojson",
        [
            ({"code": DISTRICT, "name": "Renamed"}, DISTRICT_GEOM),
            GOOD["district"],
            ({"code": "99001"}, DISTRICT_GEOM),
            ({"code": "990003"}, None),
        ],
    )
    before = snapshot(db_session)

    result = invoke(app, monkeypatch, str(path), "--level", "district")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: import refused, nothing was changed (2 problem(s)):" in result.stderr
    assert "  feature 2 (99001): code must be 6 digits\n" in result.stderr
    assert "  feature 3 (990003): no geometry\n" in result.stderr
    assert snapshot(db_session) == before


@pytest.mark.parametrize("case", ["missing", "text", "crs"])
def test_cli_unusable_input_exits_1_with_the_reason(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    good = areas_file(tmp_path / "d.geojson", {DISTRICT: DISTRICT_GEOM})
    notes = tmp_path / "notes.txt"
    notes.write_text("not a map", encoding="utf-8")
    args, says = {
        "missing": ([str(tmp_path / "nope.geojson")], "nope.geojson: no such file"),
        "text": ([str(notes)], "notes.txt: cannot read it as a geographic file"),
        "crs": ([str(good), "--crs", "mars"], "unknown CRS 'mars'"),
    }[case]
    before = snapshot(db_session)

    result = invoke(app, monkeypatch, *args, "--level", "district")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and says in result.stderr  # the message, then each detail on its own line
    assert snapshot(db_session) == before


def test_problem_text_names_feature_code_and_reason() -> None:
    assert str(Problem(3, "990001", "no geometry")) == "feature 3 (990001): no geometry"
    assert str(Problem(None, None, "the layer has no features")) == "layer: the layer has no features"
    many = ImportRefused([Problem(i, None, "no code in field code") for i in range(60)])
    assert str(many).endswith("  feature 49: no code in field code\n  ... and 10 more")
