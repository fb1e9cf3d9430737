"""A city's own boundary file: `grids generate` and `grids import` over a multi-feature file, one area per feature,
codes assigned by the documented scheme (grids/codes.py) when the file has none or its own, stable on re-runs;
generated names in the city's language and words; western longitudes on the command line. Real data: the Los
Angeles neighbourhood councils (fixtures/grids, from /work/shared/data: WGS-84, `name` and `nc_id`, no DB11 codes)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import shapely
from flask import Flask
from shapely.geometry import box, mapping, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.demo import FIXTURES
from dispatch.taxonomy.operations import load_taxonomy
from grids.boundaries import districts_of
from grids.codes import assign_codes, key_order
from grids.sources import read_layer

LA_COUNCILS = FIXTURES / "grids/la-neighborhood-councils.geojson"  # a copy of /work/shared/data's
# Three small councils (nc_id, name), cut at 500 m to keep the test quick.
SMALL = {"126": "HERMON NC", "97": "WESTLAKE NORTH NC", "54": "MACARTHUR PARK NC"}


def la_features() -> list[dict[str, Any]]:
    return list(json.loads(LA_COUNCILS.read_text(encoding="utf-8"))["features"])


def write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def small_councils(tmp_path: Path, ids: tuple[str, ...] = ("126", "97", "54")) -> Path:
    chosen = [f for f in la_features() if f["properties"]["nc_id"] in ids]
    assert sorted(f["properties"]["name"] for f in chosen) == sorted(SMALL[i] for i in ids)
    return write(tmp_path / f"councils-{'-'.join(ids)}.geojson", chosen)


def invoke(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["grids", *args])


def districts(db_session: Session) -> list[tuple[str, str, str | None]]:
    return [
        tuple(r)
        for r in db_session.execute(
            text(
                "SELECT code, name, source_code FROM areas WHERE level = 'district' AND code LIKE '900%'"
                " AND retired_at IS NULL ORDER BY code"
            )
        )
    ]


def test_the_whole_la_file_gives_99_districts_coded_in_the_order_of_their_own_codes(db_session: Session) -> None:
    found = districts_of(db_session, read_layer(LA_COUNCILS), None, code_field="nc_id")
    assert len(found) == 99
    own = [d.source_code for d in found]
    assert own == sorted(own, key=lambda c: int(c or 0))  # numbers in numeric order: 4 before 52 before 114
    assert [d.code for d in found] == [f"9{n:05d}" for n in range(1, 100)]
    by_own = {d.source_code: d for d in found}
    assert by_own["126"].name == "HERMON NC"
    # Each district is its own feature's boundary, in WGS-84, not the union of all.
    feature = next(f for f in la_features() if f["properties"]["nc_id"] == "126")
    assert shapely.from_wkb(by_own["126"].wkb).equals_exact(shape(feature["geometry"]), 1e-9)


def test_generate_makes_one_district_per_feature_and_keeps_its_codes_on_a_later_file(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = small_councils(tmp_path, ("126", "97"))
    result = invoke(app, monkeypatch, "generate", "--boundary", str(first), "--size", "500", "--code-field", "nc_id")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 districts, ")
    assert districts(db_session) == [
        ("900001", "WESTLAKE NORTH NC", "97"),
        ("900002", "HERMON NC", "126"),
    ]
    streets = db_session.execute(
        text("SELECT count(*) FROM areas WHERE level = 'street' AND parent_code IN ('900001', '900002')")
    ).scalar_one()
    assert streets >= 2
    # Cells of each council lie in its own boundary (clipped to it), under its code.
    for code, nc_id in (("900001", "97"), ("900002", "126")):
        outside = db_session.execute(
            text(
                """
                SELECT count(*) FROM grid_cells c JOIN areas a ON a.code = left(c.code, 6)
                WHERE a.code = :code AND a.source_code = :own
                  AND NOT ST_Covers(ST_Buffer(a.geom::geography, 1)::geometry, c.geom)
                """
            ),
            {"code": code, "own": nc_id},
        ).scalar_one()
        assert outside == 0

    # The maps' areas carry the city's own code beside the assigned one.
    from grids.maps import area_outlines

    outlines = {f["id"]: f["properties"] for f in area_outlines(db_session, "district")["features"]}
    assert outlines["900002"] == {"code": "900002", "name": "HERMON NC", "level": "district", "source_code": "126"}

    # A later file with one more council: the known ones keep their codes, the new one takes the next.
    later = small_councils(tmp_path, ("126", "97", "54"))
    again = invoke(app, monkeypatch, "generate", "--boundary", str(later), "--size", "500", "--code-field", "nc_id")
    assert again.exit_code == 0, again.output
    assert districts(db_session) == [
        ("900001", "WESTLAKE NORTH NC", "97"),
        ("900002", "HERMON NC", "126"),
        ("900003", "MACARTHUR PARK NC", "54"),
    ]


def test_a_western_longitude_is_a_point_not_an_option(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_councils(tmp_path, ("126",))
    assert invoke(app, monkeypatch, "generate", "--boundary", str(path), "--size", "500").exit_code == 0
    inside = shape(next(f for f in la_features() if f["properties"]["nc_id"] == "126")["geometry"])
    point = inside.representative_point()
    cell = (
        db_session.execute(
            text(
                "SELECT code FROM grid_cells WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                " ORDER BY code"
            ),
            {"x": point.x, "y": point.y},
        )
        .scalars()
        .first()
    )
    assert cell is not None and cell.startswith("900001")

    result = invoke(app, monkeypatch, "match", f"{point.x:.6f}", f"{point.y:.6f}")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{cell} community {cell[:12]} street {cell[:9]} district 900001")
    # Options after the numbers, and a southern latitude, are read as such too.
    south = invoke(app, monkeypatch, "match", "-58.3816", "-34.6037", "--crs", "wgs84")
    assert "No such option" not in south.output and south.exit_code == 1
    assert "outside" in south.stderr or "nearest" in south.stderr
    nonsense = invoke(app, monkeypatch, "match", "-x", "2")
    assert nonsense.exit_code == 2 and "'-x' is not a valid float" in nonsense.output
    # The other command taking coordinates reads them as options' values.
    load_taxonomy(db_session, FIXTURES / "taxonomy" / "cjt214-2007-demo.json")
    db_session.commit()
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    explain = app.test_cli_runner().invoke(
        cli, ["rules", "explain", "--lon", f"{point.x:.6f}", "--lat", f"{point.y:.6f}", "--category", "E0102", "--json"]
    )
    assert explain.exit_code == 0, explain.output
    assert f'"cell": "{cell}"' in explain.stdout or cell in explain.stdout


def test_a_file_of_names_only_is_coded_in_alphabetical_order(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = [
        {"type": "Feature", "properties": {"name": name}, "geometry": mapping(box(x, 34.0, x + 0.01, 34.01))}
        for name, x in (("Westside", -118.45), ("eastside", -118.20), ("Downtown", -118.25))
    ]
    path = write(tmp_path / "names.geojson", features)
    result = invoke(app, monkeypatch, "generate", "--boundary", str(path), "--size", "500")
    assert result.exit_code == 0, result.output
    assert districts(db_session) == [
        ("900001", "Downtown", "Downtown"),
        ("900002", "eastside", "eastside"),
        ("900003", "Westside", "Westside"),
    ]
    assert "overlap" not in result.stderr


def test_districts_that_overlap_in_the_file_are_reported(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = [
        {"type": "Feature", "properties": {"name": name}, "geometry": mapping(box(x, 34.0, x + 0.01, 34.01))}
        for name, x in (("West", -118.300), ("East", -118.291))  # 0.001° of longitude in common, about 92 m wide
    ]
    path = write(tmp_path / "overlapping.geojson", features)
    result = invoke(app, monkeypatch, "generate", "--boundary", str(path), "--size", "500")
    assert result.exit_code == 0, result.output
    found = re.search(r"warning: districts 900001 and 900002 overlap by ([\d,]+) m²", result.stderr)
    assert found is not None, result.stderr
    assert 90_000 < int(found[1].replace(",", "")) < 115_000  # about 92 m x 1,110 m
    assert "1 pairs of districts overlap" in result.stderr


def test_generated_names_follow_the_locale_and_the_citys_words(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.extensions["citymgmt.settings"]
    monkeypatch.setitem(
        app.extensions,
        "citymgmt.settings",
        dataclasses.replace(settings, default_locale="en", level_names=("Council", "Area", "Block")),
    )
    path = small_councils(tmp_path, ("97",))
    result = invoke(app, monkeypatch, "generate", "--boundary", str(path), "--size", "500", "--code-field", "nc_id")
    assert result.exit_code == 0, result.output
    assert "Council 1/1: 900001 WESTLAKE NORTH NC (97)" in result.stderr
    names = db_session.execute(
        text("SELECT level::text, name FROM areas WHERE code LIKE '900001%' AND level <> 'district' ORDER BY code")
    ).all()
    assert ("street", "Area 001 (generated)") in names
    assert ("community", "Block 001 (generated)") in names
    assert not any("生成" in n for _, n in names)

    # The city's words name the levels on the command line too.
    streets = write(
        tmp_path / "areas.geojson",
        [
            {
                "type": "Feature",
                "properties": {"name": "West", "council": "97"},
                "geometry": mapping(box(-118.29, 34.06, -118.28, 34.07)),
            }
        ],
    )
    result = invoke(app, monkeypatch, "import", str(streets), "--level", "area", "--parent-field", "council")
    assert result.exit_code == 0, result.output
    assert "imported 1 street features" in result.stdout
    wrong = invoke(app, monkeypatch, "import", str(streets), "--level", "ward")
    assert (
        wrong.exit_code == 2 and "'ward' is not one of district, street, community, cell, zone, Council" in wrong.output
    )


@pytest.mark.parametrize(
    ("features", "says"),
    [
        (
            [({"code": "110101"}, 0.0), ({"code": "NC-7"}, 0.1)],
            "feature 1 (NC-7): code in field code is not 6 digits, as other features' codes are",
        ),
        ([({"code": "A"}, 0.0), ({"code": "A"}, 0.1)], "feature 1 (A): repeated in field code (first at feature 0)"),
        ([({"code": "A"}, 0.0), ({"name": "x"}, 0.1)], "feature 1: no value in field code"),
        ([({"code": "x" * 81}, 0.0)], "the value in field code is longer than 80 characters"),
        ([({"nc": "A"}, 0.0)], "no field name (fields are: nc): give the field of the codes (--code-field)"),
    ],
)
def test_a_bad_file_is_refused_naming_the_feature_and_the_field(
    app: Flask,
    db_session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    features: list[tuple[dict[str, Any], float]],
    says: str,
) -> None:
    path = write(
        tmp_path / "bad.geojson",
        [
            {"type": "Feature", "properties": p, "geometry": mapping(box(-118 + dx, 34, -117.99 + dx, 34.01))}
            for p, dx in features
        ],
    )
    result = invoke(app, monkeypatch, "generate", "--boundary", str(path), "--size", "500")
    assert result.exit_code == 1
    assert says in result.stderr
    assert "generation refused, nothing was changed" in result.stderr or "no field" in result.stderr
    assert districts(db_session) == []


def test_import_takes_names_and_own_codes_and_finds_parents_by_their_own_codes(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    councils = small_councils(tmp_path, ("126", "54"))
    result = invoke(app, monkeypatch, "import", str(councils), "--level", "district", "--code-field", "nc_id")
    assert result.exit_code == 0, result.output
    assert districts(db_session) == [("900001", "MACARTHUR PARK NC", "54"), ("900002", "HERMON NC", "126")]

    macarthur = shape(next(f for f in la_features() if f["properties"]["nc_id"] == "54")["geometry"])
    x0, y0, _x1, _y1 = macarthur.bounds
    streets = write(
        tmp_path / "areas.geojson",
        [
            {"type": "Feature", "properties": {"name": name, "council": "54"}, "geometry": mapping(geom)}
            for name, geom in (
                ("North", box(x0, y0 + 0.01, x0 + 0.01, y0 + 0.02)),
                ("East", box(x0, y0, x0 + 0.01, y0 + 0.01)),
            )
        ],
    )
    result = invoke(app, monkeypatch, "import", str(streets), "--level", "street", "--parent-field", "council")
    assert result.exit_code == 0, result.output
    rows = db_session.execute(
        text("SELECT code, name, parent_code, source_code FROM areas WHERE level = 'street' ORDER BY code")
    ).all()
    assert [tuple(r) for r in rows if r[2] == "900001"] == [
        ("900001001", "East", "900001", "East"),
        ("900001002", "North", "900001", "North"),
    ]

    again = invoke(app, monkeypatch, "import", str(streets), "--level", "street", "--parent-field", "council")
    assert again.exit_code == 0 and "0 created, 0 updated, 2 unchanged" in again.stdout

    orphan = write(
        tmp_path / "orphan.geojson",
        [
            {
                "type": "Feature",
                "properties": {"name": "Lost", "council": "999"},
                "geometry": mapping(box(x0, y0, x0 + 0.01, y0 + 0.01)),
            }
        ],
    )
    refused = invoke(app, monkeypatch, "import", str(orphan), "--level", "street", "--parent-field", "council")
    assert refused.exit_code == 1
    assert "feature 0 (Lost): district 999 does not exist: import it first" in refused.stderr
    broken = write(
        tmp_path / "broken.geojson",
        [{"type": "Feature", "properties": {"name": "Nowhere", "council": "54"}, "geometry": None}],
    )
    refused = invoke(app, monkeypatch, "import", str(broken), "--level", "street", "--parent-field", "council")
    assert refused.exit_code == 1
    assert "(1 problem(s))" in refused.stderr and "feature 0 (Nowhere): no geometry" in refused.stderr
    no_parent = invoke(app, monkeypatch, "import", str(orphan), "--level", "street")
    assert no_parent.exit_code == 1 and "give --parent-field" in no_parent.stderr


def test_assigned_codes_are_stable_and_never_reused(db_session: Session) -> None:
    assert key_order("4") < key_order("52") < key_order("114") < key_order("Arleta") < key_order("arroyo")
    first = assign_codes(db_session, "district", None, ["b", "a"])
    assert first == {"a": "900001", "b": "900002"}
    db_session.execute(
        text(
            "INSERT INTO areas (code, name, level, source_code, retired_at, updated_at)"
            " VALUES ('900001', 'a', 'district', 'a', now(), now()), ('900002', 'b', 'district', 'b', NULL, now())"
        )
    )
    # A retired area keeps its code for its own code; a new key never takes a retired code.
    assert assign_codes(db_session, "district", None, ["c", "a", "b"]) == {"a": "900001", "b": "900002", "c": "900003"}


def test_a_chinese_boundary_keeps_its_adcode_and_district_code_unites_a_file(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bare geometry with a "properties" member, as Chinese boundary datasets ship them: its adcode is the code.
    bare = tmp_path / "990102.geojson"
    bare.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": mapping(box(116.60, 39.80, 116.62, 39.81))["coordinates"],
                "properties": {"adcode": "990102", "name": "测试二区"},
            }
        ),
        encoding="utf-8",
    )
    result = invoke(app, monkeypatch, "generate", "--boundary", str(bare), "--size", "500", "--crs", "gcj02")
    assert result.exit_code == 0, result.output
    row = db_session.execute(text("SELECT name, source_code FROM areas WHERE code = '990102'")).one()
    assert tuple(row) == ("测试二区", None)

    # --district-code: every polygon of the file in that one district, as before.
    two = small_councils(tmp_path, ("126", "97"))
    result = invoke(
        app,
        monkeypatch,
        "generate",
        "--boundary",
        str(two),
        "--size",
        "500",
        "--district-code",
        "990103",
        "--district-name",
        "Two councils",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 districts, ")
    assert districts(db_session) == []  # nothing assigned: the code was given
    area = db_session.execute(text("SELECT name, ST_NumGeometries(geom) FROM areas WHERE code = '990103'")).one()
    assert area[0] == "Two councils" and area[1] >= 1
    covered = db_session.execute(
        text(
            "SELECT count(DISTINCT left(code, 6)) FROM grid_cells WHERE retired_at IS NULL"
            " AND ST_Intersects(geom, ST_SetSRID(ST_MakeEnvelope(-118.30, 34.05, -118.25, 34.10), 4326))"
            " AND left(code, 6) = '990103'"
        )
    ).scalar_one()
    assert covered == 1


def test_an_outline_simplified_within_metres_stays_a_valid_polygon_within_them() -> None:
    from grids.boundaries import METRES_PER_DEGREE, simplified

    # A square of about 1 km with a vertex every metre along its sides, and a 3 m notch that simplification drops.
    side = [(-118.25 + i / METRES_PER_DEGREE, 34.05) for i in range(1000)]
    notch = [(-118.25 + 1000 / METRES_PER_DEGREE, 34.05 + 3 / METRES_PER_DEGREE)]
    far = 1000 / METRES_PER_DEGREE
    square = shapely.Polygon([*side, *notch, (-118.25 + far, 34.05 + far), (-118.25, 34.05 + far)])
    out = shapely.from_wkb(simplified(shapely.to_wkb(square), 10))
    assert out.is_valid and out.geom_type == "Polygon"
    assert shapely.get_num_coordinates(out) < 10 < shapely.get_num_coordinates(square)
    assert square.hausdorff_distance(out) <= 10 / METRES_PER_DEGREE
