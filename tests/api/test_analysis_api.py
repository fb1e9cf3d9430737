"""/api/v1/analysis/*: the planted patterns of tests/dispatch/analysis come out of each endpoint as JSON, CSV and
GeoJSON, for supervisors, leaders and admins only, with no reporter in any of them; bad parameters are 400s naming
the field."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dispatch.analysis.rollups import rebuild
from tests.dispatch.analysis.test_analysis import T0, Grid, Plant, grid, plant  # noqa: F401 (the fixtures)

pytestmark = pytest.mark.usefixtures("beijing")

MARCH = "from=2025-03-01&to=2025-03-31"
FORMATS = ("json", "csv", "geojson")


def _get(client, url: str, headers: dict[str, str], status: int | tuple[int, ...] = 200):  # type: ignore[no-untyped-def]
    response = client.get(url, headers=headers)
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), response.get_data(as_text=True)
    return response


def _csv_rows(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_planted_patterns_through_the_api(grid: Grid, plant: Plant, client, token_for, db_session, app) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    a = grid.far[0]
    for day in (0, 3, 6, 9):  # recurring in A
        plant(a, T0 + timedelta(days=day))
    plant(grid.far[10], T0, status="closed", closed_at=T0 + timedelta(days=1))  # and a repeat after closure
    plant(grid.far[10], T0 + timedelta(days=4))
    for i in range(8):  # a cluster and a hot cell (of another category: recurring too, and left out by category)
        plant(grid.centre, T0 + timedelta(hours=i), "E0103", dx=(i % 3) * 5, dy=(i // 3) * 5)
    for cell in grid.neighbours:
        for j in range(3):
            plant(cell, T0 + timedelta(days=1, hours=j))
    db_session.execute(  # what a caller left for the call-back: never in an analysis
        text(
            "UPDATE cases SET reporter_contact = CAST(:contact AS jsonb), address = '张三家门口'"
            " WHERE code LIKE 'A%' AND reported_at >= '2025-03-01'"
        ),
        {"contact": '{"name": "张三", "phone": "13800138000"}'},
    )
    rebuild(db_session, datetime.now(UTC), app.extensions["citymgmt.settings"])  # as the hourly job would
    supervisor = token_for("supervisor")

    url = f"/api/v1/analysis/recurrence?{MARCH}&min_cases=4&days=10&within_days=10&area={grid.street}&category=E0102"
    body = _get(client, url, supervisor).get_json()
    assert [(g["place"], g["most_in_window"]) for g in body["recurring"]] == [(a, 4)]
    assert body["from"] == "2025-03-01" and body["by"] == "cell" and body["source"] == "rollups" and body["as_of"]
    fresh = _get(client, url + "&fresh=true", supervisor).get_json()
    assert fresh["source"] == "direct" and fresh["recurring"] == body["recurring"] and fresh["as_of"] is None
    assert [(g["place"], g["repeats"]) for g in body["repeats"]] == [(grid.far[10], 1)]
    rows = _csv_rows(_get(client, url + "&format=csv", supervisor))
    assert [r["kind"] for r in rows] == ["recurring"] * 4 + ["repeat"]
    assert rows[-1]["next_case_code"] and rows[-1]["days_after_closure"] == "3.0"
    features = _get(client, url + "&format=geojson", token_for("leader")).get_json()["features"]
    assert {f["properties"]["place"] for f in features} == {a, grid.far[10]}
    assert all(f["geometry"]["type"] == "Polygon" for f in features)

    url = f"/api/v1/analysis/hotspots?{MARCH}&area={grid.street}&eps=30&min_points=5"
    body = _get(client, url, supervisor).get_json()
    assert [c["cases"] for c in body["clusters"]] == [8]
    assert body["cells"][0]["code"] == grid.centre and body["cells"][0]["kind"] == "hot"
    geojson = _get(client, url + "&format=geojson", token_for("admin"))
    assert geojson.mimetype == "application/geo+json"
    layers = {f["properties"]["layer"] for f in geojson.get_json()["features"]}
    assert layers == {"cell", "cluster"}
    rows = _csv_rows(_get(client, url + "&format=csv", supervisor))
    assert rows[0]["layer"] == "cell" and rows[0]["code"] == grid.centre and float(rows[0]["z"]) > 3

    body = _get(client, f"/api/v1/analysis/patterns?{MARCH}&area={grid.street}", supervisor).get_json()
    assert [g["category_code"] for g in body["groups"]] == ["E0102", "E0103"] and len(body["groups"][0]["matrix"]) == 7
    rows = _csv_rows(_get(client, f"/api/v1/analysis/patterns?{MARCH}&group_by=all&format=csv", supervisor))
    assert len(rows) == 7 * 24 and sum(int(r["cases"]) for r in rows) == 4 + 2 + 8 + 3 * 8

    urls = [f"/api/v1/analysis/{w}?{MARCH}&min_cases=2&format={f}" for w in ("recurrence", "hotspots") for f in FORMATS]
    urls += [f"/api/v1/analysis/patterns?{MARCH}&format={f}" for f in ("json", "csv")]
    bodies = [_get(client, u, supervisor).get_data(as_text=True) for u in urls]
    assert bodies and not [b for b in bodies if "张三" in b or "13800138000" in b]


def test_anomalies_today(grid: Grid, plant: Plant, client, token_for, clock) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    today = clock.now() - timedelta(hours=1)  # the clock: Monday 23 November 2026, 09:30 in Beijing
    a = grid.far[0]
    for w in range(1, 9):
        plant(a, today - timedelta(weeks=w))
    for m in range(6):
        plant(a, today + timedelta(minutes=m))
    supervisor = token_for("supervisor")
    body = _get(client, "/api/v1/analysis/anomalies", supervisor).get_json()
    assert body["day"] == "2026-11-23" and body["until"] == "2026-11-23T09:30:00+08:00"
    assert [(x["place"], x["count"], x["baseline_mean"]) for x in body["anomalies"]] == [(a, 6, 1.0)]
    rows = _csv_rows(_get(client, "/api/v1/analysis/anomalies?format=csv&by=community", supervisor))
    assert [r["count"] for r in rows] == ["6"] and rows[0]["place_name"]
    features = _get(client, "/api/v1/analysis/anomalies?format=geojson&by=street", supervisor).get_json()["features"]
    assert [f["properties"]["place"] for f in features] == [grid.street]
    assert features[0]["geometry"]["type"] == "MultiPolygon"
    assert _get(client, "/api/v1/analysis/anomalies?day=2026-11-16", supervisor).get_json()["anomalies"] == []


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/analysis/recurrence?from=2025-03-01", "to"),
        ("/api/v1/analysis/recurrence?from=2025-03-01&to=2025-03-31&by=street", "by"),
        ("/api/v1/analysis/recurrence?from=2025-03-01&to=2025-03-31&min_cases=1", "min_cases"),
        ("/api/v1/analysis/recurrence?from=2024-01-01&to=2025-03-31", "to"),
        ("/api/v1/analysis/hotspots?from=2025-03-01&to=2025-03-31&eps=0", "eps"),
        ("/api/v1/analysis/hotspots?from=2025-03-01&to=2025-03-31&area=12", "area"),
        ("/api/v1/analysis/hotspots?from=2025-03-01&to=2025-03-31&family=thing", "family"),
        ("/api/v1/analysis/anomalies?weeks=1", "weeks"),
        ("/api/v1/analysis/anomalies?day=2099-01-01", "day"),
        ("/api/v1/analysis/anomalies?day=0001-01-01", "day"),
        ("/api/v1/analysis/patterns?from=9999-12-30&to=9999-12-31", "from"),
        ("/api/v1/analysis/patterns?from=2025-03-31&to=2025-03-01", "to"),
        ("/api/v1/analysis/patterns?from=2025-03-01&to=2025-03-31&category=E0%27", "category"),
    ],
)
def test_bad_parameters_name_the_field(client, token_for, url: str, field: str) -> None:  # type: ignore[no-untyped-def]
    """400 for a parameter of the wrong shape, 422 for one the analysis cannot take (a future day, a long period)."""
    body = _get(client, url, token_for("supervisor"), status=(400, 422)).get_json()
    assert field in str(body["error"].get("details", {})), body


def test_only_supervisors_leaders_and_admins(client, token_for) -> None:  # type: ignore[no-untyped-def]
    for role in ("inspector", "operator", "dispatcher", "handler"):
        _get(client, f"/api/v1/analysis/patterns?{MARCH}", token_for(role), status=403)
    _get(client, f"/api/v1/analysis/patterns?{MARCH}", {}, status=401)
