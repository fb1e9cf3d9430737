"""The component registry (部件普查): importing survey files, nearest assets, the demo registry."""

from __future__ import annotations

import csv
import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.clock import FixedClock
from dispatch.components.importer import ImportRefused, ImportReport, import_components
from dispatch.components.operations import Component, nearby_components, nearest_component
from dispatch.components.queries import NEARBY_SQL
from grids.crs import wgs84_to_bd09, wgs84_to_gcj02
from grids.matching import match_cell
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("beijing")

SAMPLES = REPO / "fixtures" / "components"
# A quiet corner of Dongcheng for our own assets: fire hydrants (C0110) and traffic lights (C0214) are classes the
# demo registry has none of, so nothing but a test's own assets is found there.
HERE = (116.4100, 39.9050)
M_LAT = 1 / 111_000  # about a metre north, in degrees
M_LON = 1 / 85_300  # about a metre east at this latitude


def hydrant(serial: int) -> str:
    return f"110101011099{serial:04d}"


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8")
    return path


def feature(lon: float, lat: float, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def write_csv(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8") -> Path:
    names = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.DictWriter(f, names)
        writer.writeheader()
        writer.writerows(rows)
    return path


def stored(db_session: Session, asset_id: str) -> dict[str, Any] | None:
    row = (
        db_session.execute(
            text(
                "SELECT id, class_code, district_code, owner_department_code, ST_X(point) AS lon, ST_Y(point) AS lat,"
                " ST_SRID(point) AS srid, cell_code, status, name, address, attributes, imported_at, updated_at,"
                " retired_at FROM components WHERE id = :id"
            ),
            {"id": asset_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def ours(db_session: Session) -> int:
    """How many of the tests' own assets (serials from 900000 or 99xxxx) there are."""
    return int(
        db_session.execute(
            text("SELECT count(*) FROM components WHERE id LIKE '11010_____9%'"),
        ).scalar_one()
    )


def run(db_session: Session, path: Path, clock: FixedClock, **kwargs: Any) -> ImportReport:
    lines: list[str] = []
    report = import_components(db_session, path, clock.now(), progress=lines.append, **kwargs)
    assert lines[0].endswith(f"{report.rows} rows") and lines[-1].startswith(f"{report.inserted} inserted")
    return report


# --- importing --------------------------------------------------------------------------------------------------


def test_the_geojson_sample_is_imported_with_cells_owners_and_attributes(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    report = run(db_session, SAMPLES / "sample.geojson", clock)
    assert (report.rows, report.inserted, report.updated, report.unchanged, report.outside_cells) == (4, 4, 0, 0, 0)
    cover = stored(db_session, "1101010102900001")
    assert cover is not None
    assert (cover["class_code"], cover["district_code"], cover["owner_department_code"]) == (
        "C0102",
        "110101",
        "bj-drainage",
    )
    assert (cover["lon"], cover["lat"], cover["srid"]) == (116.4005, 39.912, 4326)
    assert cover["cell_code"] == match_cell(db_session, 116.4005, 39.912).cell_code
    assert (cover["status"], cover["name"], cover["address"]) == (
        "in_use",
        "南池子大街污水井盖",
        "南池子大街 12 号门前",
    )
    assert cover["attributes"] == {"material": "球墨铸铁", "diameter_mm": 700}
    assert cover["imported_at"] == cover["updated_at"] == clock.now() and cover["retired_at"] is None
    # The feature's own id member serves when the properties have none; the class comes from the id.
    lamp = stored(db_session, "1101010118900003")
    assert lamp is not None and lamp["class_code"] == "C0118" and lamp["owner_department_code"] == "110101-roads"
    bin_ = stored(db_session, "1101010305900004")
    assert bin_ is not None and bin_["status"] == "retired" and bin_["retired_at"] == clock.now()
    assert stored(db_session, "1101010103900002")["status"] == "damaged"  # type: ignore[index]


def test_the_csv_sample_is_imported_deriving_classes_and_reading_chinese_statuses(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    report = run(db_session, SAMPLES / "sample.csv", clock)
    assert (report.rows, report.inserted) == (4, 4)
    first = stored(db_session, "1101010101900011")
    assert (
        first is not None and first["attributes"] == {"material": "灰口铸铁"} and first["address"] == "南池子大街 20 号"
    )
    derived = stored(db_session, "1101010101900012")
    assert derived is not None and (derived["class_code"], derived["status"]) == ("C0101", "damaged")
    assert derived["attributes"] == {} and derived["name"] is None
    unowned = stored(db_session, "1101010305900014")
    assert unowned is not None and unowned["owner_department_code"] is None and unowned["status"] == "in_use"


def test_a_gbk_csv_from_a_chinese_spreadsheet_is_read(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(
        tmp_path / "gbk.csv",
        [{"id": hydrant(1), "lon": HERE[0], "lat": HERE[1], "status": "丢失", "name": "消防栓 东单北"}],
        encoding="gbk",
    )
    run(db_session, path, clock)
    row = stored(db_session, hydrant(1))
    assert row is not None and (row["status"], row["name"]) == ("missing", "消防栓 东单北")


def test_importing_again_changes_nothing_and_changes_are_updates(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run(db_session, SAMPLES / "sample.geojson", clock)
    first = stored(db_session, "1101010102900001")
    clock.advance(hours=1)
    again = run(db_session, SAMPLES / "sample.geojson", clock)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert stored(db_session, "1101010102900001") == first  # not even updated_at moved

    clock.advance(hours=1)
    doc = json.loads((SAMPLES / "sample.geojson").read_text("utf-8"))
    doc["features"][0]["properties"]["owner"] = "bj-water"  # the cover changes hands
    doc["features"][1]["properties"]["status"] = "retired"  # 停用
    doc["features"][3]["properties"]["status"] = "in_use"  # back in service
    report = run(db_session, write_geojson(tmp_path / "changed.geojson", doc["features"]), clock)
    assert (report.inserted, report.updated, report.unchanged) == (0, 3, 1)
    cover = stored(db_session, "1101010102900001")
    assert cover is not None and cover["owner_department_code"] == "bj-water"
    assert cover["updated_at"] == clock.now() and cover["imported_at"] == first["imported_at"]  # type: ignore[index]
    assert stored(db_session, "1101010103900002")["retired_at"] == clock.now()  # type: ignore[index]
    assert stored(db_session, "1101010305900004")["retired_at"] is None  # type: ignore[index]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_chinese_map_coordinates_are_converted(db_session, clock, tmp_path, crs: str) -> None:  # type: ignore[no-untyped-def]
    lon, lat = (wgs84_to_gcj02 if crs == "gcj02" else wgs84_to_bd09)(*HERE)
    assert math.dist((lon, lat), HERE) > 0.001  # some hundreds of metres apart
    path = write_geojson(tmp_path / "gcj.geojson", [feature(lon, lat, id=hydrant(2))])
    run(db_session, path, clock, crs=crs)
    row = stored(db_session, hydrant(2))
    assert row is not None
    assert row["lon"] == pytest.approx(HERE[0], abs=1e-7) and row["lat"] == pytest.approx(HERE[1], abs=1e-7)
    assert row["cell_code"] == match_cell(db_session, *HERE).cell_code


def test_projected_coordinates_are_transformed_by_postgis(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    radius = 6_378_137.0  # Web Mercator, EPSG:3857
    x = math.radians(HERE[0]) * radius
    y = math.log(math.tan(math.pi / 4 + math.radians(HERE[1]) / 2)) * radius
    path = write_csv(tmp_path / "m.csv", [{"id": hydrant(3), "lon": x, "lat": y}])
    run(db_session, path, clock, crs="EPSG:3857")
    row = stored(db_session, hydrant(3))
    assert row is not None
    assert row["lon"] == pytest.approx(HERE[0], abs=1e-9) and row["lat"] == pytest.approx(HERE[1], abs=1e-9)


def test_a_geojson_files_declared_crs_is_used_and_projected_coordinates_without_one_are_explained(  # type: ignore[no-untyped-def]
    db_session, clock, tmp_path
) -> None:
    radius = 6_378_137.0
    x = math.radians(HERE[0]) * radius
    y = math.log(math.tan(math.pi / 4 + math.radians(HERE[1]) / 2)) * radius
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [feature(x, y, id=hydrant(5))],
    }
    path = tmp_path / "declared.geojson"
    path.write_text(json.dumps(doc), "utf-8")
    lines: list[str] = []
    import_components(db_session, path, clock.now(), progress=lines.append)
    assert lines[0].endswith("1 rows in EPSG:3857, as the file declares")
    assert stored(db_session, hydrant(5))["lon"] == pytest.approx(HERE[0], abs=1e-9)  # type: ignore[index]

    bare = write_csv(tmp_path / "bare.csv", [{"id": hydrant(6), "lon": x, "lat": y}])
    with pytest.raises(ImportRefused) as refused:
        run(db_session, bare, clock)
    [problem] = refused.value.problems
    assert problem.message.endswith("these look like projected coordinates: give the file's CRS with --crs EPSG:n")


def test_assets_outside_every_cell_are_kept_without_a_cell(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(
        tmp_path / "far.csv",
        [
            {"id": hydrant(4), "lon": 117.2, "lat": 39.13},  # Tianjin: no demo cells
            {"id": "1101020110990005", "lon": HERE[0], "lat": HERE[1]},  # says Xicheng, stands in Dongcheng
        ],
    )
    report = run(db_session, path, clock)
    assert report.outside_cells == 1 and stored(db_session, hydrant(4))["cell_code"] is None  # type: ignore[index]
    [warning] = report.warnings
    assert warning.startswith("line 3 (id 1101020110990005): the id says district 110102, the point is in cell 110101")


BAD_ROWS = [
    ({"id": "12345"}, "id", "'12345' is not 16 digits"),
    ({"id": "3.20582E+15"}, "id", "format the column as text"),
    ({"id": ""}, "id", "missing"),
    ({"class": "C0102"}, "class", "C0102 does not match the id, whose digits 7-10 say C0110"),
    ({"class": "E0110"}, "class", "E0110 does not match the id"),
    ({"id": "1101010199990001"}, "id", "unknown class C0199: not a component class of taxonomy cjt214-2007-demo"),
    ({"owner": "no-such-dept"}, "owner", "unknown owner department no-such-dept"),
    ({"owner": "t-retired"}, "owner", "department t-retired is retired"),
    ({"lat": 95}, "lat", "lat 95.0 is out of range"),
    ({"lon": 39.9, "lat": 116.4}, "lat", "lon and lat look swapped"),
    ({"lon": "east"}, "lon", "'east' is not a number"),
    ({"lon": "nan"}, "lon", "not a finite number"),
    ({"status": "broken"}, "status", "'broken' is not one of in_use (在用), damaged (损坏)"),
    ({"name": "x" * 201}, "name", "longer than 200 characters"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_ROWS)
def test_a_bad_csv_row_refuses_the_whole_file_naming_line_field_and_reason(  # type: ignore[no-untyped-def]
    db_session, clock, tmp_path, change: dict[str, Any], field: str, message: str
) -> None:
    db_session.execute(
        text(
            "INSERT INTO departments (code, name, name_en, kind, retired_at)"
            " VALUES ('t-retired', '旧', 'Old', 'other', now())"
        )
    )
    good = {"id": hydrant(10), "owner": "bj-water", "lon": HERE[0], "lat": HERE[1], "status": "in_use", "name": "ok"}
    path = write_csv(tmp_path / "bad.csv", [good, {**good, "id": hydrant(11), **change}])
    with pytest.raises(ImportRefused) as refused:
        run(db_session, path, clock)
    [problem] = refused.value.problems
    assert (problem.where, problem.field) == ("line 3", field)
    assert message in problem.message
    assert "import refused, nothing was changed (1 problem(s))" in refused.value.message
    assert f"  line 3{' (id ' + problem.asset_id + ')' if problem.asset_id else ''}: {field}: " in refused.value.message
    assert ours(db_session) == 0  # not even the good row


def test_geojson_problems_name_the_feature_and_every_problem_is_listed(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_geojson(
        tmp_path / "bad.geojson",
        [
            feature(*HERE, id=hydrant(20)),
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                "properties": {"id": hydrant(21)},
            },
            {"type": "Feature", "geometry": None, "properties": {"id": "bad"}},
            feature(*HERE, id=hydrant(20)),
            feature(*HERE, id=int(hydrant(23))),  # a JSON integer is fine
            feature(*HERE, id=float(hydrant(24))),
            {"type": "Point", "coordinates": [1, 2]},
            feature(*HERE, id=hydrant(25), owner="nobody", status="gone"),
        ],
    )
    with pytest.raises(ImportRefused) as refused:
        run(db_session, path, clock)
    assert [str(p) for p in refused.value.problems] == [
        f"feature 1 (id {hydrant(21)}): geometry: must be a Point, not LineString",
        "feature 2: geometry: must be a Point, not none",
        "feature 2: id: 'bad' is not 16 digits (6 district, 4 class, 6 serial)",
        f"feature 3 (id {hydrant(20)}): id: repeated (first at feature 0)",
        "feature 5: id: must be written as a string of 16 digits (a number this long loses digits)",
        "feature 6: feature: not a GeoJSON Feature",
        f"feature 7 (id {hydrant(25)}): owner: unknown owner department nobody",
        f"feature 7 (id {hydrant(25)}): status: 'gone' is not one of in_use (在用), damaged (损坏), missing (丢失),"
        " retired (停用)",
    ]
    details = refused.value.details
    assert details["total"] == 8 and details["problems"][0] == {
        "row": "feature 1",
        "id": hydrant(21),
        "field": "geometry",
        "message": "must be a Point, not LineString",
    }
    assert ours(db_session) == 0


def test_problems_are_listed_up_to_a_cap_and_counted_beyond_it(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "all-bad.csv", [{"id": f"x{i}", "lon": 1, "lat": 1} for i in range(1200)])
    with pytest.raises(ImportRefused) as refused:
        run(db_session, path, clock)
    assert refused.value.total == 1200 and len(refused.value.details["problems"]) == 1000
    assert "(50 of 1,200 problems shown)" in refused.value.message
    assert refused.value.message.endswith("... and 1,150 more")
    assert refused.value.message.count("\n  line ") == 50


@pytest.mark.parametrize(
    ("name", "content", "options", "says"),
    [
        ("missing.csv", None, {}, "missing.csv: no such file"),
        ("x.geojson", "{not json", {}, "not a readable GeoJSON file"),
        ("x.geojson", '{"type": "Feature"}', {}, "not a GeoJSON FeatureCollection"),
        ("x.geojson", '{"type": "FeatureCollection", "features": []}', {}, "the file has no rows"),
        ("x.csv", "", {}, "empty file, expected a header line"),
        ("x.csv", "id,x,y\n1,2,3\n", {}, "no column lon, lat (columns are: id, x, y)"),
        ("x.csv", "id,lon,lat,lon\n", {}, "column lon given twice"),
        ("x.csv", "id,lon,lat\n", {"crs": "mars"}, "unknown CRS 'mars'"),
        ("x.csv", "id,lon,lat\n", {"crs": "EPSG:999999"}, "PostGIS has no EPSG:999999"),
        ("x.xlsx", "", {}, "give --format geojson or --format csv"),
        ("x.txt", "id,lon,lat\n", {"fmt": "shapefile"}, "format must be geojson or csv"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(  # type: ignore[no-untyped-def]
    db_session, clock, tmp_path, name: str, content: str | None, options: dict[str, str], says: str
) -> None:
    from citymgmt.core.errors import ValidationError

    path = tmp_path / name
    if content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(ValidationError) as refused:
        import_components(db_session, path, clock.now(), progress=lambda _: None, **options)
    assert says in refused.value.message


def test_too_many_values_in_a_csv_line_are_a_problem_of_that_line(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ragged.csv"
    path.write_text(f"id,lon,lat\n{hydrant(30)},{HERE[0]},{HERE[1]},extra\n", "utf-8")
    with pytest.raises(ImportRefused) as refused:
        run(db_session, path, clock)
    assert [str(p) for p in refused.value.problems] == ["line 2: 4 values for 3 columns"]


def invoke(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["components", "import", *args])


def test_the_command_imports_and_prints_a_summary(app, db_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result = invoke(app, monkeypatch, str(SAMPLES / "sample.csv"))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "imported 4 components: 4 inserted, 0 updated, 0 unchanged; 0 outside every cell; 0 warnings\n"
    )
    assert "sample.csv: 4 rows" in result.stderr and "matching cells" in result.stderr
    assert stored(db_session, "1101010101900011") is not None
    again = invoke(app, monkeypatch, str(SAMPLES / "sample.csv"), "--format", "csv", "--crs", "wgs84")
    assert again.stdout.startswith("imported 4 components: 0 inserted, 0 updated, 4 unchanged;")


def test_the_command_refuses_a_bad_file_with_every_problem_and_exit_1(app, db_session, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(
        tmp_path / "bad.csv",
        [
            {"id": hydrant(40), "class": "C0101", "lon": HERE[0], "lat": HERE[1]},
            {"id": hydrant(41), "lon": HERE[0], "lat": 91},
        ],
    )
    result = invoke(app, monkeypatch, str(path))
    assert result.exit_code == 1 and result.stdout == ""
    assert "error: import refused, nothing was changed (2 problem(s)):" in result.stderr
    assert f"  line 2 (id {hydrant(40)}): class: C0101 does not match the id, whose digits 7-10 say C0110\n" in (
        result.stderr
    )
    assert f"  line 3 (id {hydrant(41)}): lat: lat 91.0 is out of range (-90..90)" in result.stderr
    assert ours(db_session) == 0


# --- nearest asset ------------------------------------------------------------------------------------------------


@pytest.fixture
def hydrants(db_session, clock, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Fire hydrants (C0110) around HERE: 10 m north, 20 m east, 24 m north-west... and a retired one at 5 m,
    a traffic light (C0214) at 1 m."""
    spots = {
        "north10": (hydrant(50), HERE[0], HERE[1] + 10 * M_LAT, "in_use"),
        "east20": (hydrant(51), HERE[0] + 20 * M_LON, HERE[1], "damaged"),
        "south24": (hydrant(52), HERE[0], HERE[1] - 24 * M_LAT, "missing"),
        "retired5": (hydrant(53), HERE[0] + 5 * M_LON, HERE[1], "retired"),
        "light1": ("1101010214990054", HERE[0], HERE[1] + 1 * M_LAT, "in_use"),
    }
    write_csv(
        tmp_path / "h.csv",
        [{"id": i, "lon": x, "lat": y, "status": s, "owner": "bj-water"} for i, x, y, s in spots.values()],
    )
    run(db_session, tmp_path / "h.csv", clock)
    return {name: spot[0] for name, spot in spots.items()}


def test_the_nearest_live_asset_of_the_class_within_the_radius(db_session, hydrants) -> None:  # type: ignore[no-untyped-def]
    found = nearest_component(db_session, "C0110", *HERE, 30)
    assert found is not None and isinstance(found.component, Component)
    assert found.component.id == hydrants["north10"] and found.distance_m == pytest.approx(10, abs=0.2)
    # Smaller radius: nothing; the retired one at 5 m and the traffic light at 1 m are never it.
    assert nearest_component(db_session, "C0110", *HERE, 8) is None
    light = nearest_component(db_session, "C0214", *HERE, 8)
    assert light is not None and light.component.id == hydrants["light1"]
    assert nearest_component(db_session, "C0101", HERE[0] + 0.5, HERE[1], 30) is None


def test_nearest_means_nearest_in_metres_not_in_degrees(db_session, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """20 m east is fewer metres than 24 m north but more degrees (a degree of longitude is shorter)."""
    path = write_csv(
        tmp_path / "two.csv",
        [
            {"id": hydrant(60), "lon": HERE[0] + 20 * M_LON, "lat": HERE[1]},
            {"id": hydrant(61), "lon": HERE[0], "lat": HERE[1] + 24 * M_LAT},
        ],
    )
    run(db_session, path, clock)
    found = nearest_component(db_session, "C0110", *HERE, 30)
    assert found is not None and found.component.id == hydrant(60) and 19 < found.distance_m < 21


def test_nearby_assets_are_listed_nearest_first(db_session, hydrants) -> None:  # type: ignore[no-untyped-def]
    near = nearby_components(db_session, *HERE, 30)
    assert [n.component.id for n in near] == [
        hydrants["light1"],
        hydrants["north10"],
        hydrants["east20"],
        hydrants["south24"],
    ]
    assert [n.distance_m for n in near] == sorted(n.distance_m for n in near)
    assert [n.component.id for n in nearby_components(db_session, *HERE, 30, "C0110", limit=2)] == [
        hydrants["north10"],
        hydrants["east20"],
    ]
    assert nearby_components(db_session, *HERE, 0) == []


@pytest.mark.parametrize("class_code", ["C0102", None])
def test_the_search_is_a_knn_scan_of_the_live_assets_gist_index(db_session, class_code: str | None) -> None:  # type: ignore[no-untyped-def]
    plan = "\n".join(
        db_session.execute(
            text("EXPLAIN " + NEARBY_SQL),
            {
                "lon": 116.4,
                "lat": 39.91,
                "class": class_code,
                "deg": 0.0004,
                "within": 30,
                "candidates": 50,
                "limit": 1,
            },
        ).scalars()
    )
    assert "Index Scan using ix_components_live_point on components" in plan
    assert "Order By: (point <-> " in plan and "Index Cond: (point && " in plan


def test_the_search_radius_is_configuration(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.config import ConfigError, Settings

    assert Settings().component_search_radius_m == 30
    monkeypatch.setenv("CITYMGMT_COMPONENT_SEARCH_RADIUS_M", "15")
    assert Settings.from_env().component_search_radius_m == 15
    monkeypatch.setenv("CITYMGMT_COMPONENT_SEARCH_RADIUS_M", "5000")
    with pytest.raises(ConfigError, match="CITYMGMT_COMPONENT_SEARCH_RADIUS_M=5000"):
        Settings.from_env()


# --- the demo registry ---------------------------------------------------------------------------------------------


def test_the_demo_registers_assets_in_its_cells_with_their_owners(db_session) -> None:  # type: ignore[no-untyped-def]
    rows = db_session.execute(
        text(
            """
            SELECT district_code, class_code, owner_department_code, count(*), min(id), max(id),
                   count(*) FILTER (WHERE left(cell_code, 6) = district_code)
            FROM components WHERE district_code IN ('110101', '110102') AND substr(id, 11, 1) <> '9'
            GROUP BY 1, 2, 3 ORDER BY 1, 2
            """
        )
    ).all()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (d, c, owner.format(d=d), n)
        for d in ("110101", "110102")
        for c, n, owner in (
            ("C0101", 400, "bj-water"),
            ("C0102", 500, "bj-drainage"),
            ("C0103", 500, "bj-drainage"),
            ("C0118", 600, "{d}-roads"),
            ("C0305", 300, "{d}-sanitation"),
        )
    ]
    for district, class_code, _owner, count, first, last, in_own_cells in rows:
        assert first == f"{district}{class_code[1:]}000001" and last == f"{district}{class_code[1:]}{count:06d}"
        assert in_own_cells == count  # every one inside a cell of its own district
    statuses = dict(
        db_session.execute(
            text("SELECT status, count(*) FROM components WHERE district_code = '110101' GROUP BY 1")
        ).all()
    )
    assert statuses["in_use"] > 2000 and statuses["damaged"] > 20 and statuses["missing"] > 0


def test_loading_the_demo_registry_again_changes_nothing(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    from dispatch.demo import load_demo_components

    report = load_demo_components(db_session, ["110101", "110102"], clock.now() + timedelta(days=1))
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (4600, 0, 0, 4600)


def test_problem_text() -> None:
    from dispatch.components.importer import Problem

    assert str(Problem("line 4", "1101010102000001", "owner", "unknown owner department x")) == (
        "line 4 (id 1101010102000001): owner: unknown owner department x"
    )
    assert str(Problem("feature 0", None, None, "x")) == "feature 0: x"
