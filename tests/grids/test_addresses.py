"""The address gazetteer: `citymgmt addresses import FILE` (CSV or GeoJSON, all or nothing) and
GET /api/v1/addresses?q= (fuzzy search with pg_trgm, for the centre's staff)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from citymgmt.cli import cli
from grids.addresses import locate_address
from grids.crs import wgs84_to_gcj02

pytestmark = pytest.mark.usefixtures("beijing")

JINGSHAN = (116.3972, 39.9249)  # by Jingshan park, Dongcheng
NANLUO = (116.4032, 39.9370)  # Nanluoguxiang, Dongcheng
XIDAN = (116.3740, 39.9070)  # Xidan, Xicheng


def invoke(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["addresses", "import", *args])


def stored(db_session, address: str) -> tuple[float, float, str | None] | None:  # type: ignore[no-untyped-def]
    row = db_session.execute(
        text("SELECT ST_X(point), ST_Y(point), cell_code FROM addresses WHERE address = :a"), {"a": address}
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def cell_of(db_session, lon: float, lat: float) -> str:  # type: ignore[no-untyped-def]
    return str(
        db_session.execute(
            text(
                "SELECT code FROM grid_cells WHERE retired_at IS NULL"
                " AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY code LIMIT 1"
            ),
            {"lon": lon, "lat": lat},
        ).scalar_one()
    )


@pytest.fixture
def gazetteer(app, db_session, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "addresses.csv"
    path.write_text(
        "地址,经度,纬度\n"
        f"东城区景山前街4号,{JINGSHAN[0]},{JINGSHAN[1]}\n"
        f"东城区南锣鼓巷59号,{NANLUO[0]},{NANLUO[1]}\n"
        f"  西城区西单北大街 120号 ,{XIDAN[0]},{XIDAN[1]}\n",
        "utf-8",
    )
    result = invoke(app, monkeypatch, str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 3 addresses: 3 inserted, 0 updated, 0 unchanged; 0 outside every cell\n"


def test_an_imported_file_is_stored_with_each_point_s_cell_and_again_changes_nothing(  # type: ignore[no-untyped-def]
    app, db_session, monkeypatch, tmp_path, gazetteer
) -> None:
    lon, lat, cell = stored(db_session, "东城区景山前街4号") or (0, 0, None)
    assert (lon, lat) == pytest.approx(JINGSHAN) and cell == cell_of(db_session, *JINGSHAN)
    assert stored(db_session, "西城区西单北大街 120号") is not None  # spaces trimmed and made one
    # GeoJSON, in GCJ-02 (as Chinese map services give it): the same address moves, a new one is added.
    moved = wgs84_to_gcj02(NANLUO[0] + 0.001, NANLUO[1])
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"address": a}, "geometry": {"type": "Point", "coordinates": list(p)}}
            for a, p in (("东城区南锣鼓巷59号", moved), ("东城区景山前街4号", wgs84_to_gcj02(*JINGSHAN)))
        ],
    }
    path = tmp_path / "moved.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    result = invoke(app, monkeypatch, str(path), "--crs", "gcj02")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 2 addresses: 0 inserted, 1 updated, 1 unchanged;")
    lon, lat, _ = stored(db_session, "东城区南锣鼓巷59号") or (0, 0, None)
    assert (lon, lat) == pytest.approx((NANLUO[0] + 0.001, NANLUO[1]), abs=1e-5)


def test_a_bad_file_is_refused_whole_with_every_row_s_problem(app, db_session, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = db_session.execute(text("SELECT count(*) FROM addresses")).scalar_one()
    path = tmp_path / "bad.csv"
    path.write_text(
        "address,lon,lat\n"
        f"东城区一号,{JINGSHAN[0]},{JINGSHAN[1]}\n"
        f",{JINGSHAN[0]},{JINGSHAN[1]}\n"
        f"东城区二号,{JINGSHAN[0]},91\n"
        f"东城区一号,{NANLUO[0]},{NANLUO[1]}\n"
        "东城区三号,east,39.9\n",
        "utf-8",
    )
    result = invoke(app, monkeypatch, str(path))
    assert result.exit_code == 1 and result.stdout == ""
    assert "error: import refused, nothing was changed (4 problem(s)):" in result.stderr
    for line in (
        "  line 3: address: missing",
        "  line 4: lat: lat 91.0 is out of range (-90..90)",
        "  line 5: address: repeated (first at line 2)",
        "  line 6: lon:",
    ):
        assert line in result.stderr, result.stderr
    assert db_session.execute(text("SELECT count(*) FROM addresses")).scalar_one() == before
    no_column = tmp_path / "cols.csv"
    no_column.write_text("name,lon,lat\nx,1,2\n", "utf-8")
    result = invoke(app, monkeypatch, str(no_column))
    assert result.exit_code == 1 and "no column address" in result.stderr


def test_search_finds_by_part_and_with_a_typo_best_first(client, token_for, gazetteer) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("operator")
    found = client.get("/api/v1/addresses", query_string={"q": "南锣鼓巷"}, headers=headers).get_json()
    assert found[0]["address"] == "东城区南锣鼓巷59号" and found[0]["cell_code"].startswith("110101")
    assert (found[0]["lon"], found[0]["lat"]) == pytest.approx(NANLUO)
    typo = client.get("/api/v1/addresses", query_string={"q": "南锣古巷59号"}, headers=headers).get_json()  # 鼓
    assert [a["address"] for a in typo] == ["东城区南锣鼓巷59号"] and 0.3 <= typo[0]["score"] < 1
    exact = client.get("/api/v1/addresses", query_string={"q": "东城区景山前街4号"}, headers=headers).get_json()
    assert exact[0]["address"] == "东城区景山前街4号" and exact[0]["score"] == 1
    assert client.get("/api/v1/addresses", query_string={"q": "50%_"}, headers=headers).get_json() == []


def test_search_is_for_the_centre_and_names_a_bad_field(client, token_for, gazetteer) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/addresses?q=景山", headers=token_for("inspector")).status_code == 403
    assert client.get("/api/v1/addresses?q=景山").status_code == 401
    missing = client.get("/api/v1/addresses", headers=token_for("dispatcher"))
    assert missing.status_code == 400 and "q" in missing.get_json()["error"]["details"]
    too_many = client.get("/api/v1/addresses?q=x&limit=500", headers=token_for("dispatcher"))
    assert too_many.status_code == 400 and "limit" in too_many.get_json()["error"]["details"]


def test_a_text_locates_one_address_only_when_it_names_one(db_session, gazetteer) -> None:  # type: ignore[no-untyped-def]
    found = locate_address(db_session, "景山前街4号")
    assert found is not None and found.address == "东城区景山前街4号"
    assert locate_address(db_session, "  东城区南锣鼓巷59号 ") is not None  # the same text, spaces aside
    assert locate_address(db_session, "朝阳区三里屯") is None


def test_the_demo_city_has_a_door_number_in_every_cell(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    live = db_session.execute(
        text("SELECT count(*) FROM grid_cells WHERE retired_at IS NULL AND left(code, 6) IN ('110101', '110102')")
    ).scalar_one()
    numbered = db_session.execute(
        text("SELECT count(DISTINCT cell_code) FROM addresses WHERE address ~ '^(东城区|西城区)街道'")
    ).scalar_one()
    assert numbered == live > 1000
    found = client.get("/api/v1/addresses?q=东城区街道001社区001第1号", headers=token_for("leader")).get_json()
    assert found[0]["address"] == "东城区街道001社区001第1号" and found[0]["cell_code"] == "110101001001001"
    assert cell_of(db_session, found[0]["lon"], found[0]["lat"]) == "110101001001001"
