"""The dashboard's endpoints (/api/v1/metrics/cells, /table, /daily, /feed) on the evaluation's hand-computed city:
six cases in one cell on Monday 23 and Tuesday 24 November 2026 (tests/dispatch/metrics/test_metrics.py), whose cell
figures are known: closed 2 (A, B), closed on time 1 (A), overdue and open 2 (D, F)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import text

from dispatch.metrics import operations as metrics
from dispatch.sla import sweep as sla
from tests.dispatch.metrics.test_metrics import City, city  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("beijing")

PERIOD = "from=2026-11-23&to=2026-11-24"
ENDPOINTS = (
    f"/api/v1/metrics/cells?{PERIOD}&bbox=116.39,39.91,116.391,39.911",
    f"/api/v1/metrics/table?group_by=department&{PERIOD}",
    f"/api/v1/metrics/daily?{PERIOD}",
    "/api/v1/metrics/feed",
    f"/api/v1/metrics/headline?{PERIOD}",
)


def _box(db_session, code: str) -> str:  # type: ignore[no-untyped-def]
    """A bbox around the cell and its neighbours."""
    row = db_session.execute(
        text(
            "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT ST_Expand(geom, 0.0015) g"
            " FROM grid_cells WHERE code = :code) x"
        ),
        {"code": code},
    ).one()
    return ",".join(f"{v:.6f}" for v in row)


def _get(client, url: str, token: dict[str, str]) -> Any:  # type: ignore[no-untyped-def]
    response = client.get(url, headers=token)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_dashboard_figures(city: City, client, token_for, db_session, app) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The hand-computed city (building it is what takes time), every endpoint."""
    settings, now = app.extensions["citymgmt.settings"], app.extensions["citymgmt.clock"].now()
    metrics.refresh(db_session, now, settings)
    cells_by_each_indicator_against_a_hand_count(city, client, token_for, db_session)
    exports_are_files_of_what_the_map_and_the_table_show(city, client, token_for, db_session)
    daily_trend_and_feed(city, client, token_for, db_session, app)
    headline_and_merged_reports(city, client, token_for, db_session, app)


def cells_by_each_indicator_against_a_hand_count(town: City, client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    cell = town.desks["A"].case["cell_code"]
    area_km2 = db_session.execute(text("SELECT area_m2 / 1e6 FROM grid_cells WHERE code = :c"), {"c": cell}).scalar()
    box = _box(db_session, cell)
    supervisor = token_for("supervisor")
    expected = {"on_time_closing_rate": 0.25, "overdue_open": 2.0, "density": round(6 / area_km2, 2)}
    for indicator, value in expected.items():
        for fresh in ("false", "true"):  # from the roll-ups and directly: the same
            url = f"/api/v1/metrics/cells?indicator={indicator}&{PERIOD}&bbox={box}&fresh={fresh}"
            body = _get(client, url, supervisor).get_json()
            assert body["type"] == "FeatureCollection" and body["indicator"] == indicator
            features = {f["id"]: f for f in body["features"]}
            assert len(features) > 4, "the neighbours are there too"
            mine = features[cell]
            assert mine["geometry"]["type"] == "Polygon"
            assert mine["properties"]["value"] == value, (indicator, fresh)
            assert {
                k: mine["properties"][k] for k in ("reported", "due", "closed", "closed_on_time", "overdue_open")
            } == {
                "reported": 6,
                "due": 4,
                "closed": 2,
                "closed_on_time": 1,
                "overdue_open": 2,
            }
            neighbour = next(f for code, f in features.items() if code != cell)
            assert neighbour["properties"]["value"] == (None if indicator == "on_time_closing_rate" else 0)

    # At district zoom the map shows communities: each the sum of all its cells (not only those in the box).
    community = town.desks["A"].case["community_code"]
    url = f"/api/v1/metrics/cells?indicator=on_time_closing_rate&{PERIOD}&bbox={box}&level=community"
    body = _get(client, url, supervisor).get_json()
    mine = {f["id"]: f for f in body["features"]}[community]
    assert body["level"] == "community" and mine["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert {k: mine["properties"][k] for k in ("community_code", "value", "reported", "due", "overdue_open")} == {
        "community_code": community,
        "value": 0.25,
        "reported": 6,
        "due": 4,
        "overdue_open": 2,
    }
    community_km2 = db_session.execute(
        text("SELECT sum(area_m2) / 1e6 FROM grid_cells WHERE community_code = :c AND retired_at IS NULL"),
        {"c": community},
    ).scalar()
    assert mine["properties"]["area_km2"] == round(community_km2, 4) > area_km2
    assert client.get(url.replace("community", "street"), headers=supervisor).status_code == 400


def exports_are_files_of_what_the_map_and_the_table_show(town: City, client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    cell = town.desks["A"].case["cell_code"]
    box = _box(db_session, cell)
    leader = token_for("leader")
    base = f"/api/v1/metrics/cells?indicator=overdue_open&{PERIOD}&bbox={box}"

    response = _get(client, base + "&format=csv", leader)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="cells-overdue_open-2026-11-23_2026-11-24.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    by_code = {r["code"]: r for r in rows}
    assert by_code[cell]["value"] == "2.0" and by_code[cell]["reported"] == "6" and by_code[cell]["closed"] == "2"
    shown = {f["id"] for f in _get(client, base, leader).get_json()["features"]}
    assert set(by_code) == shown

    response = _get(client, base + "&format=geojson", leader)
    assert response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"].endswith('.geojson"')
    geo = json.loads(response.get_data(as_text=True))
    assert {f["id"]: f["properties"]["value"] for f in geo["features"]}[cell] == 2.0

    response = _get(client, f"/api/v1/metrics/table?group_by=department&{PERIOD}", leader)
    assert response.headers["Content-Disposition"] == 'attachment; filename="department-2026-11-23_2026-11-24.csv"'
    table = {r["key"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))}
    league = _get(client, f"/api/v1/metrics?group_by=department&{PERIOD}", leader).get_json()["groups"]
    assert [table[g["key"]]["rank"] for g in league] == [str(i) for i in range(1, len(league) + 1)]
    assert table["t-water"]["grade"] == "C" and table["t-water"]["name"] == "测试供水"
    assert table["t-water"]["overdue_open"] == "2" and table["m-roads"]["score"] == "63.33"

    response = _get(client, f"/api/v1/metrics/table?group_by=dispatcher&{PERIOD}", leader)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["name"], r["dispatched"], r["wrong_dispatches"], r["accurate_dispatch_rate"]) for r in rows] == [
        ("m-dispatcher", "1", "0", "1.0"),  # who corrected B's dispatch
        ("t-dispatcher", "5", "1", "0.8"),  # who sent B to the wrong department
    ]


def daily_trend_and_feed(town: City, client, token_for, db_session, app) -> None:  # type: ignore[no-untyped-def]
    now = app.extensions["citymgmt.clock"].now()
    swept = sla.sweep(db_session, now)  # the lights turn red: D and F at least
    ids = {name: desk.case["id"] for name, desk in town.desks.items()}
    assert {ids["D"], ids["F"]} <= set(swept.overdue)
    admin = token_for("admin")
    days = _get(client, f"/api/v1/metrics/daily?{PERIOD}", admin).get_json()["days"]
    assert days == [
        {"day": "2026-11-23", "reported": 6, "closed": 1, "overdue": 0},  # A closed on Monday
        {"day": "2026-11-24", "reported": 0, "closed": 1, "overdue": len(swept.overdue)},  # B on Tuesday
    ]
    feed = _get(client, "/api/v1/metrics/feed?limit=100", admin).get_json()
    mine = [item for item in feed if item["case_id"] in ids.values()]
    overdue = [item["case_id"] for item in mine if item["kind"] == "overdue"]
    assert sorted(overdue) == sorted(swept.overdue)
    assert sorted(item["case_id"] for item in mine if item["kind"] == "report") == sorted(ids.values())
    assert mine[0]["kind"] == "overdue" and mine[0]["light"] == "red"  # newest first
    report = next(item for item in mine if item["case_id"] == ids["A"] and item["kind"] == "report")
    assert report["category_code"] == "E0102" and report["category_name"] and report["category_name_en"]
    assert not {"contact", "reporter_id", "actor_id", "description"} & set(report), "no personal data"


def test_bad_questions_and_who_may_ask(client, token_for) -> None:  # type: ignore[no-untyped-def]
    supervisor = token_for("supervisor")
    bad = client.get("/api/v1/metrics/cells?indicator=happiness&from=2026-11-23&to=x", headers=supervisor)
    assert bad.status_code == 400 and set(bad.get_json()["error"]["details"]) == {"indicator", "to"}
    box = client.get(f"/api/v1/metrics/cells?{PERIOD}&bbox=1,2,3", headers=supervisor)
    assert box.status_code == 422 and "bbox" in box.get_json()["error"]["details"]
    year = client.get("/api/v1/metrics/daily?from=2024-01-01&to=2026-01-01", headers=supervisor)
    assert year.status_code == 422 and year.get_json()["error"]["details"] == {"to": "more than a year after from"}
    limit = client.get("/api/v1/metrics/feed?limit=1000", headers=supervisor)
    assert limit.status_code == 400 and "limit" in limit.get_json()["error"]["details"]
    for role in ("inspector", "handler", "operator", "dispatcher"):
        for url in ENDPOINTS:
            response = client.get(url, headers=token_for(role))
            assert response.status_code == 403, (role, url)
            response.close()
    for url in ENDPOINTS:
        assert client.get(url).status_code == 401


def headline_and_merged_reports(town: City, client, token_for, db_session, app) -> None:  # type: ignore[no-untyped-def]
    now = app.extensions["citymgmt.clock"].now()
    today = now.astimezone(app.extensions["citymgmt.settings"].zone).date().isoformat()
    supervisor = token_for("supervisor")
    day = _get(client, f"/api/v1/metrics/daily?from={today}&to={today}", supervisor).get_json()["days"][0]
    headline = _get(client, f"/api/v1/metrics/headline?{PERIOD}", supervisor).get_json()
    assert headline == {
        "day": today,
        "reported": day["reported"],
        "closed": day["closed"],
        "overdue": day["overdue"],
        "due": 4,  # the city is the one cell: A, B closed, D, F overdue and open
        "on_time_closing_rate": 0.25,
    }
    assert (
        _get(client, "/api/v1/metrics/headline?from=2026-10-01&to=2026-10-02", supervisor).get_json()[
            "on_time_closing_rate"
        ]
        is None
    )  # nothing due: no rate, not 0

    # A report merged into another case as its duplicate is no second problem: the density leaves it out.
    cell = town.desks["A"].case["cell_code"]
    area_km2 = db_session.execute(text("SELECT area_m2 / 1e6 FROM grid_cells WHERE code = :c"), {"c": cell}).scalar()
    assert today in ("2026-11-23", "2026-11-24"), "the report below falls in the period"
    twin = town.report("G", "operator", _same_place(town))
    url = f"/api/v1/metrics/cells?indicator=density&{PERIOD}&bbox={_box(db_session, cell)}"
    density = lambda: {f["id"]: f["properties"] for f in _get(client, url, supervisor).get_json()["features"]}[cell]  # noqa: E731
    assert density()["reported"] == 7 and density()["value"] == round(7 / area_km2, 2)
    twin.act("operator", "merge", original=town.desks["D"].case["id"])  # D: open, overdue
    assert density()["reported"] == 6 and density()["value"] == round(6 / area_km2, 2)


def _same_place(town: City) -> dict[str, Any]:
    a = town.desks["A"].case
    return {"category_code": a["category_code"], "lon": a["lon"], "lat": a["lat"], "description": "同一处暴露垃圾"}
