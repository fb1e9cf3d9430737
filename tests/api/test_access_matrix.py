"""Every role against every API endpoint: the matrix below is the documented access rule. An endpoint missing from
it fails the test (so every new endpoint is decided here), and each cell is checked by a real request."""

from __future__ import annotations

import pytest
from flask import Flask

from citymgmt.core.identity import ALL_ROLES

pytestmark = pytest.mark.usefixtures("beijing")

ALL = "any signed-in role"
PUBLIC = "public"
STAFF = ("operator", "leader", "dispatcher", "admin", "supervisor", "inspector", "handler")
CENTRE = ("operator", "leader", "dispatcher", "supervisor", "admin")

# (method, rule) → who may call it, and a URL to call it with (an id that does not exist: allowed → 404/4xx).
MATRIX: dict[tuple[str, str], tuple[object, str]] = {
    ("GET", "/api/v1/addresses"): (("operator", "leader", "dispatcher", "admin"), "/api/v1/addresses?q=景山"),
    ("GET", "/api/v1/auth/me"): (ALL, "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/token"): (PUBLIC, "/api/v1/auth/token"),
    ("DELETE", "/api/v1/auth/token"): (ALL, None),  # revokes the caller's token: checked in test_auth
    ("GET", "/api/v1/calendar"): (ALL, "/api/v1/calendar?year=2026"),
    ("PUT", "/api/v1/calendar/<string:day>"): (("admin",), "/api/v1/calendar/not-a-day"),
    ("POST", "/api/v1/cases"): (("inspector", "operator", "leader", "dispatcher", "admin"), "/api/v1/cases"),
    ("GET", "/api/v1/cases"): (STAFF, "/api/v1/cases?page_size=1"),
    ("GET", "/api/v1/cases/duplicates"): (
        ("operator", "leader", "dispatcher", "admin"),
        "/api/v1/cases/duplicates?category_code=E0102&lon=116.39&lat=39.91",
    ),
    ("GET", "/api/v1/cases/<int:case_id>"): (STAFF, "/api/v1/cases/999999999"),
    ("POST", "/api/v1/cases/<int:case_id>/actions/<string:action>"): (STAFF, "/api/v1/cases/999999999/actions/comment"),
    ("GET", "/api/v1/cases/<int:case_id>/photos/<int:photo_id>"): (STAFF, "/api/v1/cases/999999999/photos/1"),
    ("GET", "/api/v1/categories"): (ALL, "/api/v1/categories?q=E01"),
    ("GET", "/api/v1/components"): (ALL, "/api/v1/components?lon=116.39&lat=39.91"),
    ("GET", "/api/v1/components/<string:component_id>"): (ALL, "/api/v1/components/1101010101999999"),
    ("GET", "/api/v1/departments"): (("admin",), "/api/v1/departments"),
    ("POST", "/api/v1/departments"): (("admin",), "/api/v1/departments"),
    ("PATCH", "/api/v1/departments/<string:code>"): (("admin",), "/api/v1/departments/no-such-department"),
    ("POST", "/api/v1/departments/<string:code>/retire"): (("admin",), "/api/v1/departments/no-such-department/retire"),
    ("GET", "/api/v1/docs"): (PUBLIC, "/api/v1/docs"),
    ("GET", "/api/v1/openapi.json"): (PUBLIC, "/api/v1/openapi.json"),
    ("GET", "/api/v1/grids/areas"): (ALL, "/api/v1/grids/areas?bbox=116.39,39.91,116.391,39.911"),
    ("GET", "/api/v1/grids/cells"): (ALL, "/api/v1/grids/cells?bbox=116.39,39.91,116.391,39.911"),
    ("GET", "/api/v1/grids/cells/<code>"): (ALL, "/api/v1/grids/cells/110101999999999"),
    ("GET", "/api/v1/grids/match"): (ALL, "/api/v1/grids/match?lon=116.3906&lat=39.9158"),
    ("GET", "/api/v1/analysis/recurrence"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/analysis/recurrence?from=2026-11-01&to=2026-11-30&area=110101001001001",
    ),
    ("GET", "/api/v1/analysis/hotspots"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/analysis/hotspots?from=2026-11-01&to=2026-11-30&area=110101001001001",
    ),
    ("GET", "/api/v1/analysis/anomalies"): (("supervisor", "leader", "admin"), "/api/v1/analysis/anomalies"),
    ("GET", "/api/v1/analysis/patterns"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/analysis/patterns?from=2026-11-01&to=2026-11-30",
    ),
    ("GET", "/api/v1/metrics"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/metrics?group_by=district&from=2026-11-01&to=2026-11-30",
    ),
    ("GET", "/api/v1/metrics/cells"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/metrics/cells?from=2026-11-01&to=2026-11-30&bbox=116.39,39.91,116.391,39.911",
    ),
    ("GET", "/api/v1/metrics/table"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/metrics/table?group_by=department&from=2026-11-01&to=2026-11-30",
    ),
    ("GET", "/api/v1/metrics/daily"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/metrics/daily?from=2026-11-01&to=2026-11-07",
    ),
    ("GET", "/api/v1/metrics/feed"): (("supervisor", "leader", "admin"), "/api/v1/metrics/feed?limit=1"),
    ("GET", "/api/v1/metrics/headline"): (
        ("supervisor", "leader", "admin"),
        "/api/v1/metrics/headline?from=2026-11-01&to=2026-11-07",
    ),
    ("GET", "/api/v1/notifications/failures"): (("admin",), "/api/v1/notifications/failures"),
    ("GET", "/api/v1/queues/mine"): (ALL, "/api/v1/queues/mine"),
    ("GET", "/api/v1/rules"): (CENTRE, "/api/v1/rules"),
    ("PUT", "/api/v1/rules"): (("admin",), "/api/v1/rules"),
    ("GET", "/api/v1/rules/explain"): (CENTRE, "/api/v1/rules/explain?category_code=E0102&lon=116.39&lat=39.91"),
    ("GET", "/api/v1/rules/export"): (CENTRE, "/api/v1/rules/export"),
}


def _api_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_matrix_covers_every_endpoint(app: Flask) -> None:
    assert _api_routes(app) == set(MATRIX), "decide who may call the new endpoint here"


@pytest.mark.parametrize("role", [*ALL_ROLES, None])
def test_each_role_gets_what_the_matrix_says(client, token_for, role) -> None:  # type: ignore[no-untyped-def]
    headers = token_for(role) if role else {}
    for (method, _rule), (allowed, url) in MATRIX.items():
        if url is None:
            continue
        response = client.open(url, method=method, headers={**headers, "If-Match": "1"}, json={})
        response.close()
        if allowed == PUBLIC:
            expect_ok = True
        elif role is None:
            assert response.status_code == 401, (method, url)
            continue
        else:
            expect_ok = allowed == ALL or role in allowed  # type: ignore[operator]
        if expect_ok:
            assert response.status_code not in (401, 403), (role, method, url, response.status_code)
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)
