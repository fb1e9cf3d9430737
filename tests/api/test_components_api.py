"""GET /api/v1/components (by id, near a point) and the asset of a case at intake (POST /api/v1/cases)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from citymgmt.core.identity import ALL_ROLES
from dispatch.components.importer import import_component_rows, source_rows
from grids.crs import wgs84_to_gcj02

pytestmark = pytest.mark.usefixtures("beijing")

HERE = (116.4100, 39.9050)  # a corner of Dongcheng; the demo registry has no fire hydrants (C0110)
M_LAT = 1 / 111_000
M_LON = 1 / 85_300
NORTH10 = "1101010110990001"  # 10 m north, in service
EAST20 = "1101010110990002"  # 20 m east, damaged
RETIRED = "1101010110990003"  # 3 m west, retired
LIGHT = "1101010214990004"  # a traffic light 2 m south
HYDRANT_REPORT = {"category_code": "C0110", "lon": HERE[0], "lat": HERE[1], "description": "消防栓漏水"}


@pytest.fixture
def assets(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    import_component_rows(
        db_session,
        source_rows(
            [
                {"id": NORTH10, "owner": "bj-water", "lon": HERE[0], "lat": HERE[1] + 10 * M_LAT, "name": "消防栓 10"},
                {"id": EAST20, "owner": "bj-water", "lon": HERE[0] + 20 * M_LON, "lat": HERE[1], "status": "damaged"},
                {"id": RETIRED, "lon": HERE[0] - 3 * M_LON, "lat": HERE[1], "status": "retired"},
                {"id": LIGHT, "owner": "bj-traffic-police", "lon": HERE[0], "lat": HERE[1] - 2 * M_LAT},
            ]
        ),
        clock.now(),
        progress=lambda _: None,
    )


def count(db_session, table: str) -> int:  # type: ignore[no-untyped-def]
    return int(db_session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


# --- reading the registry ---------------------------------------------------------------------------------------


def test_an_asset_by_its_id(client, token_for, assets, clock) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/components/{NORTH10}", headers=token_for("inspector"))
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("id", "class_code", "class_name", "district_code", "owner_department_code")} == {
        "id": NORTH10,
        "class_code": "C0110",
        "class_name": "消防栓",
        "district_code": "110101",
        "owner_department_code": "bj-water",
    }
    assert body["lat"] == pytest.approx(HERE[1] + 10 * M_LAT, abs=1e-9) and body["cell_code"].startswith("110101")
    assert (body["status"], body["status_name"], body["name"], body["retired_at"]) == (
        "in_use",
        "在用",
        "消防栓 10",
        None,
    )
    assert body["imported_at"].startswith(clock.now().isoformat()[:19]) and "distance_m" not in body
    retired = client.get(f"/api/v1/components/{RETIRED}", headers=token_for("inspector")).get_json()
    assert retired["status"] == "retired" and retired["retired_at"] is not None  # history stays readable
    for missing in ("1101010110990999", "not-an-id"):
        response = client.get(f"/api/v1/components/{missing}", headers=token_for("inspector"))
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_assets_near_a_point_nearest_first(client, token_for, assets) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("handler")
    near = client.get(f"/api/v1/components?lon={HERE[0]}&lat={HERE[1]}", headers=headers).get_json()
    assert [a["id"] for a in near] == [LIGHT, NORTH10, EAST20]  # the retired one is left out
    assert [round(a["distance_m"]) for a in near] == [2, 10, 20]
    only = client.get(f"/api/v1/components?lon={HERE[0]}&lat={HERE[1]}&class=C0110&within=15", headers=headers)
    assert [a["id"] for a in only.get_json()] == [NORTH10]
    first = client.get(f"/api/v1/components?lon={HERE[0]}&lat={HERE[1]}&limit=1", headers=headers).get_json()
    assert [a["id"] for a in first] == [LIGHT]
    lon, lat = wgs84_to_gcj02(*HERE)
    gcj = client.get(f"/api/v1/components?lon={lon}&lat={lat}&crs=gcj02&class=C0110", headers=headers).get_json()
    assert [a["id"] for a in gcj] == [NORTH10, EAST20] and round(gcj[0]["distance_m"]) == 10
    far = client.get("/api/v1/components?lon=116.2&lat=39.8", headers=headers)
    assert far.status_code == 200 and far.get_json() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("lat=39.9", "lon"),
        ("lon=east&lat=39.9", "lon"),
        ("lon=39.9&lat=116.4", "lat"),
        ("lon=116.4&lat=39.9&class=0102", "class"),
        ("lon=116.4&lat=39.9&within=0", "within"),
        ("lon=116.4&lat=39.9&within=5000", "within"),
        ("lon=116.4&lat=39.9&limit=500", "limit"),
        ("lon=116.4&lat=39.9&crs=EPSG:3857", "crs"),
        ("lon=116.4&lat=39.9&crs=mars", "crs"),
    ],
)
def test_bad_searches_are_400_naming_the_parameter(client, token_for, query: str, field: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/components?{query}", headers=token_for("operator"))
    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_signed_in_role_reads_the_registry_and_nobody_else(client, token_for, assets, role: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/api/v1/components/{NORTH10}", headers=token_for(role)).status_code == 200
    assert client.get(f"/api/v1/components?lon={HERE[0]}&lat={HERE[1]}", headers=token_for(role)).status_code == 200


def test_without_signing_in_the_registry_is_closed(client, assets) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/api/v1/components/{NORTH10}").status_code == 401
    assert client.get(f"/api/v1/components?lon={HERE[0]}&lat={HERE[1]}").status_code == 401


def test_the_openapi_document_describes_the_registry(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/components", "/api/v1/components/{component_id}"} <= set(spec["paths"])
    parameters = {p["name"] for p in spec["paths"]["/api/v1/components"]["get"]["parameters"]}
    assert {"lon", "lat", "crs", "class", "within", "limit"} <= parameters
    assert "distance_m" in spec["components"]["schemas"]["Component"]["properties"]
    report = spec["components"]["schemas"]["Report"]["properties"]
    assert "component_id" in report and "component" in spec["components"]["schemas"]["Case"]["properties"]


# --- a case's asset -----------------------------------------------------------------------------------------------


def test_a_report_naming_its_asset_links_it(client, token_for, assets, db_session) -> None:  # type: ignore[no-untyped-def]
    body = {**HYDRANT_REPORT, "component_id": EAST20}
    response = client.post("/api/v1/cases", json=body, headers=token_for("inspector"))
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["component"] == {
        "id": EAST20,
        "class_code": "C0110",
        "owner_department_code": "bj-water",
        "name": None,
        "status": "damaged",
        "distance_m": pytest.approx(20, abs=0.3),
        "source": "named",  # not the nearest (that is NORTH10): the reporter's word counts
    }
    payload = case["events"][0]["payload"]["component"]
    assert payload == {k: case["component"][k] for k in ("id", "class_code", "owner_department_code", "source")} | {
        "distance_m": case["component"]["distance_m"]
    }
    stored = db_session.execute(
        text("SELECT component_id, component_source FROM cases WHERE id = :id"), {"id": case["id"]}
    ).one()
    assert tuple(stored) == (EAST20, "named")


def test_a_report_naming_its_asset_may_leave_out_the_point(client, token_for, assets) -> None:  # type: ignore[no-untyped-def]
    body = {"category_code": "C0110", "component_id": f" {NORTH10} ", "description": "消防栓损坏"}
    case = client.post("/api/v1/cases", json=body, headers=token_for("inspector")).get_json()
    assert case["lat"] == pytest.approx(HERE[1] + 10 * M_LAT, abs=1e-9) and case["lon"] == pytest.approx(HERE[0])
    assert case["component"]["id"] == NORTH10 and case["component"]["distance_m"] == 0
    assert case["cell_code"].startswith("110101")


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        ({"component_id": LIGHT}, "class C0214", f"component {LIGHT} is a C0214, not a C0110"),
        ({"component_id": "1101010110990999"}, "unknown", "no component 1101010110990999 in the registry"),
        ({"component_id": RETIRED}, "retired", f"component {RETIRED} is retired (停用) since"),
        ({"component_id": "11010101"}, "not 16 digits", "is not an asset id"),
        (
            {"component_id": NORTH10, "category_code": "E0102"},
            "category is an event",
            "E0102 is an event category: only a component category (C...) names an asset",
        ),
    ],
)
def test_a_named_asset_must_be_registered_live_and_of_the_class(  # type: ignore[no-untyped-def]
    client, token_for, assets, db_session, change: dict[str, Any], reason: str, message: str
) -> None:
    before = (count(db_session, "cases"), count(db_session, "case_events"))
    response = client.post("/api/v1/cases", json={**HYDRANT_REPORT, **change}, headers=token_for("inspector"))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["details"] == {"component_id": reason} and message in error["message"]
    assert (count(db_session, "cases"), count(db_session, "case_events")) == before


@pytest.mark.parametrize(("missing", "fields"), [(("lon", "lat"), {"lon", "lat"}), (("lat",), {"lat"})])
def test_without_a_point_or_an_asset_the_report_is_refused(client, token_for, missing, fields) -> None:  # type: ignore[no-untyped-def]
    body = {k: v for k, v in HYDRANT_REPORT.items() if k not in missing}
    response = client.post("/api/v1/cases", json=body, headers=token_for("inspector"))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (
        set(error["details"]) == fields
        and "required unless component_id names a registered asset" in (error["message"])
    )


def test_the_nearest_asset_of_the_class_is_suggested(client, token_for, assets) -> None:  # type: ignore[no-untyped-def]
    case = client.post("/api/v1/cases", json=HYDRANT_REPORT, headers=token_for("inspector")).get_json()
    # The traffic light is nearer and the retired hydrant nearer still: neither is a hydrant in service.
    assert case["component"]["id"] == NORTH10 and case["component"]["source"] == "suggested"
    assert case["component"]["distance_m"] == pytest.approx(10, abs=0.3)
    assert case["events"][0]["payload"]["component"]["source"] == "suggested"


def test_no_suggestion_beyond_the_radius_or_for_events(client, token_for, assets) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("inspector")
    away = {**HYDRANT_REPORT, "lat": HERE[1] - 40 * M_LAT}  # 40 m south: the nearest hydrant is 50 m away
    case = client.post("/api/v1/cases", json=away, headers=headers).get_json()
    assert case["component"] is None and "component" not in case["events"][0]["payload"]
    event = {**HYDRANT_REPORT, "category_code": "E0102"}
    assert client.post("/api/v1/cases", json=event, headers=headers).get_json()["component"] is None


def test_the_suggestion_radius_is_the_configured_one(app, client, token_for, assets, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    monkeypatch.setitem(app.extensions, "citymgmt.settings", settings.with_overrides({"component_search_radius_m": 8}))
    case = client.post("/api/v1/cases", json=HYDRANT_REPORT, headers=token_for("inspector")).get_json()
    assert case["component"] is None
    near = client.get(f"/api/v1/components?lon={HERE[0]}&lat={HERE[1]}", headers=token_for("inspector")).get_json()
    assert [a["id"] for a in near] == [LIGHT]  # the search's default radius too


def test_the_assets_owner_routes_the_case_before_the_class_rule(client, token_for, assets, db_session, clock) -> None:  # type: ignore[no-untyped-def]
    """先属主: a hydrant owned by the district's roads department goes there, not to the water group (the class
    rule); an unowned one, or none within reach, falls to the class rule."""
    unusual, unowned = "1101010110990010", "1101010110990011"
    import_component_rows(
        db_session,
        source_rows(
            [
                {"id": unusual, "owner": "110101-roads", "lon": HERE[0], "lat": HERE[1] - 100 * M_LAT},
                {"id": unowned, "lon": HERE[0], "lat": HERE[1] - 200 * M_LAT},
            ]
        ),
        clock.now(),
        progress=lambda _: None,
    )
    headers = token_for("inspector")
    named = client.post("/api/v1/cases", json={**HYDRANT_REPORT, "component_id": unusual}, headers=headers).get_json()
    routed = next(e for e in named["events"] if e["action"] == "route")
    assert named["suggested_department_code"] == "110101-roads" and routed["payload"]["rule"] == "component-owner"
    suggested = client.post("/api/v1/cases", json=HYDRANT_REPORT, headers=headers).get_json()  # NORTH10, bj-water
    assert suggested["component"]["id"] == NORTH10
    assert next(e for e in suggested["events"] if e["action"] == "route")["payload"]["rule"] == "component-owner"
    bare = client.post("/api/v1/cases", json={**HYDRANT_REPORT, "component_id": unowned}, headers=headers).get_json()
    routed = next(e for e in bare["events"] if e["action"] == "route")
    assert bare["suggested_department_code"] == "bj-water" and routed["payload"]["rule"] == "c-water"
    owner_check = next(c for c in routed["payload"]["considered"] if c["rule"] == "component-owner")
    assert owner_check["note"] == "the asset has no owner"


def test_rules_explain_answers_as_a_report_there_is_routed(
    app, client, token_for, assets, db_session, clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """`rules explain` and GET /rules/explain place the report as intake does: at an asset with an owner they name
    the owner (先属主), not the class rule, whether the asset is named or is the nearest of its class."""
    from citymgmt.cli import cli

    owned = "1101010110990010"  # a hydrant the district's roads department owns, 100 m south
    spot = (HERE[0], HERE[1] - 100 * M_LAT)
    import_component_rows(
        db_session,
        source_rows([{"id": owned, "owner": "110101-roads", "lon": spot[0], "lat": spot[1]}]),
        clock.now(),
        progress=lambda _: None,
    )
    there = {**HYDRANT_REPORT, "lon": spot[0], "lat": spot[1]}
    case = client.post("/api/v1/cases", json=there, headers=token_for("inspector")).get_json()
    assert case["suggested_department_code"] == "110101-roads" and case["component"]["id"] == owned

    query = {"category_code": "C0110", "lon": spot[0], "lat": spot[1]}
    shown = client.get("/api/v1/rules/explain", query_string=query, headers=token_for("dispatcher")).get_json()
    assert (shown["department"], shown["rule"]) == (case["suggested_department_code"], "component-owner")
    assert shown["component"]["id"] == owned and shown["component"]["source"] == "suggested"
    named = client.get(
        "/api/v1/rules/explain", query_string={**query, "component_id": NORTH10}, headers=token_for("dispatcher")
    ).get_json()
    assert (named["department"], named["component"]["source"]) == ("bj-water", "named")
    event = client.get(
        "/api/v1/rules/explain", query_string={**query, "category_code": "E0102"}, headers=token_for("dispatcher")
    ).get_json()
    assert event["component"] is None and event["rule"] == "e-sanitation"
    wrong = client.get(
        "/api/v1/rules/explain", query_string={**query, "component_id": "42"}, headers=token_for("dispatcher")
    )
    assert wrong.status_code == 422 and wrong.get_json()["error"]["details"] == {"component_id": "not 16 digits"}

    db_session.commit()
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    runner = app.test_cli_runner()
    by_point = runner.invoke(
        cli, ["rules", "explain", "--lon", str(spot[0]), "--lat", str(spot[1]), "--category", "C0110"]
    )
    assert by_point.exit_code == 0, by_point.output
    assert "→ 110101-roads by component-owner (dispatched at once)" in by_point.stdout
    assert f"asset {owned} (suggested, 0.0 m away), 110101-roads" in by_point.stdout
    by_asset = runner.invoke(cli, ["rules", "explain", "--component", owned, "--category", "C0110"])  # no point
    assert by_asset.exit_code == 0, by_asset.output
    assert "→ 110101-roads by component-owner (dispatched at once)" in by_asset.stdout
    unknown = runner.invoke(cli, ["rules", "explain", "--component", "1101010110990099", "--category", "C0110"])
    assert unknown.exit_code == 1 and "error: no component 1101010110990099 in the registry" in unknown.stderr
