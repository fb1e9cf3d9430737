"""Hostile input found by fuzzing (each was a 500): refused with a 4xx in the one error shape, naming where, and
nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.usefixtures("beijing")

REPORT = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "路边暴露垃圾"}


def raw_json(client, path: str, body: str, headers: dict[str, str], method: str = "POST") -> Any:  # type: ignore[no-untyped-def]
    return client.open(path, method=method, data=body, content_type="application/json", headers=headers)


def assert_refused(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error: dict[str, Any] = response.get_json()["error"]
    assert error["code"] and error["message"]
    return error


def test_text_postgresql_cannot_store_is_refused_naming_the_field(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    inspector = token_for("inspector")
    error = assert_refused(client.post("/api/v1/cases", json={**REPORT, "description": "a\x00b"}, headers=inspector))
    assert error["details"] == {"json": {"description": "unstorable character"}}
    lone = json.dumps({**REPORT, "description": "LONE"}).replace("LONE", "\\ud800 lone")
    error = assert_refused(raw_json(client, "/api/v1/cases", lone, inspector))
    assert error["details"] == {"json": {"description": "unstorable character"}}
    assert_refused(client.get("/api/v1/categories?q=%00", headers=inspector))
    assert_refused(client.get("/api/v1/cases?category=E%00", headers=inspector))
    assert_refused(client.post("/api/v1/auth/token", json={"username": "inspector\x00", "password": "x" * 12}))
    assert_refused(client.post("/api/v1/cases", data={**REPORT, "description": "\x00"}, headers=inspector))
    assert db_session.execute(text("SELECT count(*) FROM cases WHERE description LIKE 'a%b'")).scalar_one() == 0


def test_json_nested_a_thousand_deep_is_refused(client, token_for) -> None:  # type: ignore[no-untyped-def]
    deep = '{"category_code": "E0102", "extra": ' + "[" * 1000 + "]" * 1000 + "}"
    error = assert_refused(raw_json(client, "/api/v1/cases", deep, token_for("inspector")))
    assert error["details"] == {"json": "nested too deep"}
    # Brackets inside strings are text, not nesting.
    text_only = client.post("/api/v1/cases", json={**REPORT, "description": "[" * 1000}, headers=token_for("inspector"))
    assert text_only.status_code == 201, text_only.get_data(as_text=True)


def test_a_form_part_without_a_name_is_refused(client, token_for) -> None:  # type: ignore[no-untyped-def]
    # A line break in the part's name leaves werkzeug without one (schemathesis sent this: a 500 in the error mapping).
    body = b'--b0\r\nContent-Disposition: form-data; name="\n"\r\n\r\nnull\r\n--b0--\r\n'
    headers = {**token_for("operator"), "If-Match": '"1"', "Content-Type": "multipart/form-data; boundary=b0"}
    for path in ("/api/v1/cases", "/api/v1/cases/1/actions/file"):
        error = assert_refused(client.post(path, data=body, headers=headers))
        assert error["details"] == {"form": "a part without a name"}


def test_an_if_match_that_is_not_a_version_is_refused(client, token_for) -> None:  # type: ignore[no-untyped-def]
    case = client.post("/api/v1/cases", json=REPORT, headers=token_for("operator")).get_json()
    for value in ("²", '"¹²"', "9" * 5000, "1.0"):  # digits to str.isdigit, not to int(); too long for int()
        headers = {**token_for("operator"), "If-Match": value}
        error = assert_refused(client.post(f"/api/v1/cases/{case['id']}/actions/comment", json={}, headers=headers))
        assert "If-Match" in error["details"]


def test_numbers_beyond_the_database_are_not_found_or_refused(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    huge = "99999999999999999999"
    dispatcher = token_for("dispatcher")
    assert_refused(client.get(f"/api/v1/cases/{huge}", headers=dispatcher), 404)
    assert_refused(client.get(f"/api/v1/cases/{huge}/photos/1", headers=dispatcher), 404)
    response = client.get(f"/api/v1/cases?page={huge}", headers=dispatcher)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    case = client.post("/api/v1/cases", json=REPORT, headers=token_for("inspector")).get_json()
    merged = client.post(
        f"/api/v1/cases/{case['id']}/actions/merge",
        json={"original": int(huge)},
        headers={**token_for("leader"), "If-Match": str(case["version"])},
    )
    assert 400 <= merged.status_code < 500, merged.get_data(as_text=True)


@pytest.mark.parametrize(
    "point",
    [
        {"crs": "EPSG:999999"},
        {"crs": "EPSG:3857", "lon": 1e308, "lat": 1e308},
        {"crs": "EPSG:4547", "lon": -1e308, "lat": 1e308},
    ],
)
def test_impossible_coordinate_systems_and_points_are_refused(client, token_for, point: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/cases", json={**REPORT, **point}, headers=token_for("inspector"))
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    response = client.get(
        "/api/v1/grids/match", query_string={"lon": 1e308, "lat": 1e308, **point}, headers=token_for("inspector")
    )
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)


def test_json_types_are_taken_as_they_are(client, token_for) -> None:  # type: ignore[no-untyped-def]
    """true is not "yes" and not the number 1: a boolean must be true or false, a number must be a number."""
    admin = token_for("admin")
    yes = client.put("/api/v1/calendar/2026-11-24", json={"is_workday": "yes"}, headers=admin)
    assert yes.status_code == 422 and yes.get_json()["error"]["details"] == {"is_workday": ["must be true or false"]}
    one = client.put("/api/v1/calendar/2026-11-24", json={"is_workday": 1}, headers=admin)
    assert one.status_code == 422
    response = client.post("/api/v1/cases", json={**REPORT, "lon": True}, headers=token_for("inspector"))
    assert response.status_code == 400 and response.get_json()["error"]["details"] == {"lon": "not a number"}
    case = client.post("/api/v1/cases", json=REPORT, headers=token_for("inspector")).get_json()
    handler = {**token_for("handler"), "If-Match": str(case["version"])}
    extension = client.post(
        f"/api/v1/cases/{case['id']}/actions/request_extension", json={"hours": True, "note": "x"}, headers=handler
    )
    assert extension.status_code == 422 and "hours" in extension.get_json()["error"]["details"]
