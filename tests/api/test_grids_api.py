"""GET /api/v1/grids/match and /cells through HTTP, as the apps and the web maps call them."""

from __future__ import annotations

import pytest

from grids.crs import wgs84_to_gcj02

pytestmark = pytest.mark.usefixtures("beijing")


def test_match_returns_the_cell_with_its_areas_and_polygon(client, token_for) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/grids/match?lon=116.3906&lat=39.9158", headers=token_for("inspector"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["district"] == {"code": "110101", "name": "东城区"}
    assert body["code"].startswith(body["street"]["code"]) and body["street"]["code"].startswith("110101")
    assert body["community"]["code"] == body["code"][:12] and "社区" in body["community"]["name"]
    assert body["geometry"]["type"] == "Polygon"
    ring = body["geometry"]["coordinates"][0]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    assert min(lons) <= 116.3906 <= max(lons) and min(lats) <= 39.9158 <= max(lats)
    assert body["point"] == {"lon": 116.3906, "lat": 39.9158, "crs": "wgs84"}
    assert 9_000 < body["area_m2"] <= 10_001


def test_a_cell_by_its_code(client, token_for) -> None:  # type: ignore[no-untyped-def]
    """Where a map finds a cell it has not drawn (the big screen's feed): the same cell as a match gives."""
    headers = token_for("supervisor")
    matched = client.get("/api/v1/grids/match?lon=116.3906&lat=39.9158", headers=headers).get_json()
    response = client.get(f"/api/v1/grids/cells/{matched['code']}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body == {k: v for k, v in matched.items() if k != "point"}
    shifted = client.get(f"/api/v1/grids/cells/{matched['code']}?output_crs=gcj02", headers=headers).get_json()
    assert shifted["geometry"]["coordinates"][0][0][0] > body["geometry"]["coordinates"][0][0][0]  # east, on GCJ-02
    missing = client.get("/api/v1/grids/cells/110101999999999", headers=headers)
    assert missing.status_code == 404 and "110101999999999" in missing.get_json()["error"]["message"]
    assert client.get("/api/v1/grids/cells/1101%00", headers=headers).status_code == 404  # not a cell code at all
    assert client.get(f"/api/v1/grids/cells/{matched['code']}?output_crs=mars", headers=headers).status_code == 400
    assert client.get(f"/api/v1/grids/cells/{matched['code']}").status_code == 401


def test_match_takes_gcj02_and_returns_gcj02_for_chinese_basemaps(client, token_for) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("operator")
    wgs = client.get("/api/v1/grids/match?lon=116.3906&lat=39.9158", headers=headers).get_json()
    lon, lat = wgs84_to_gcj02(116.3906, 39.9158)
    gcj = client.get(f"/api/v1/grids/match?lon={lon}&lat={lat}&crs=gcj02&output_crs=gcj02", headers=headers).get_json()
    assert gcj["code"] == wgs["code"]
    shifted = gcj["geometry"]["coordinates"][0][0][0] - wgs["geometry"]["coordinates"][0][0][0]
    assert 0.004 < shifted < 0.008  # GCJ-02 lies some 500 m east of WGS-84 in Beijing


@pytest.mark.parametrize(
    ("query", "status", "code", "message"),
    [
        ("lon=NaN&lat=39.9", 400, "bad_coordinates", "lon must be a finite number"),
        ("lon=39.9&lat=116.4", 400, "bad_coordinates", "lon and lat look swapped"),
        ("lon=116.4&lat=95", 400, "bad_coordinates", "lat 95.0 is out of range"),
        ("lon=east&lat=39.9", 400, "bad_coordinates", "lon must be a number"),
        ("lat=39.9", 400, "bad_request", "invalid lon"),
        ("lon=116.4&lat=39.9&crs=mars", 400, "bad_coordinates", "unknown CRS 'mars'"),
        ("lon=116.4&lat=39.9&output_crs=EPSG:3857", 400, "bad_request", "invalid output_crs"),
        ("lon=117.2&lat=39.13", 422, "outside_grid", "the nearest is 1101"),
    ],
)
def test_match_errors(client, token_for, query: str, status: int, code: str, message: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/grids/match?{query}", headers=token_for("inspector"))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and message in error["message"]


def test_cells_in_a_view_as_geojson(client, token_for) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/grids/cells?bbox=116.39,39.91,116.40,39.92&zoom=17", headers=token_for("supervisor"))
    assert response.status_code == 200
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection"
    assert 80 < len(collection["features"]) < 200
    feature = collection["features"][0]
    assert feature["id"] == feature["properties"]["code"] and feature["geometry"]["type"] == "Polygon"
    coarse = client.get("/api/v1/grids/cells?bbox=116.39,39.91,116.40,39.92&zoom=12", headers=token_for("supervisor"))
    vertices = lambda fc: sum(len(f["geometry"]["coordinates"][0]) for f in fc["features"])  # noqa: E731
    assert vertices(coarse.get_json()) <= vertices(collection)


def test_district_outlines_in_a_view_as_geojson(client, token_for) -> None:  # type: ignore[no-untyped-def]
    view = "bbox=116.39,39.91,116.40,39.92&zoom=14"
    response = client.get(f"/api/v1/grids/areas?{view}", headers=token_for("inspector"))
    assert response.status_code == 200
    features = response.get_json()["features"]
    assert [f["properties"]["code"] for f in features] == ["110101", "110102"]  # Dongcheng and Xicheng meet here
    assert features[0]["properties"] == {"code": "110101", "name": "东城区", "level": "district", "source_code": None}
    assert features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    streets = client.get(f"/api/v1/grids/areas?{view}&level=street", headers=token_for("inspector")).get_json()
    assert streets["features"] and all(len(f["id"]) == 9 for f in streets["features"])
    shifted = client.get(f"/api/v1/grids/areas?{view}&output_crs=gcj02", headers=token_for("inspector")).get_json()
    assert shifted["features"][0]["geometry"] != features[0]["geometry"]
    wrong = client.get(f"/api/v1/grids/areas?{view}&level=city", headers=token_for("inspector"))
    assert wrong.status_code == 400 and "level" in str(wrong.get_json()["error"])


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("bbox=1,2,3", 422, "bbox must be four numbers"),
        ("bbox=116.4,39.9,116.3,40.0", 422, "west < east"),
        ("bbox=116.3,39.8,116.5,40.0&zoom=10", 422, "zoom in"),
        ("bbox=116.39,39.91,116.40,39.92&zoom=30", 422, "zoom must be between 0 and 22"),
        ("zoom=3", 400, "invalid bbox"),
    ],
)
def test_cells_errors(client, token_for, query: str, status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/grids/cells?{query}", headers=token_for("inspector"))
    assert response.status_code == status
    assert message in response.get_json()["error"]["message"]


def test_the_openapi_document_lists_the_endpoints(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/grids/match", "/api/v1/grids/cells", "/api/v1/auth/token"} <= set(spec["paths"])
    bearer = spec["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.data
    bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    try:
        assert bundle.status_code == 200
    finally:
        bundle.close()
