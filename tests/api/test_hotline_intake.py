"""Hotline and public intake at the centre (POST /api/v1/cases as the desk's new-case form sends it): the caller's
contact, the work-order number (one case per number and source), the kind of request, photos in a multipart form,
and the suspected duplicates shown before submitting (GET /api/v1/cases/duplicates)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlalchemy import text

pytestmark = pytest.mark.usefixtures("beijing")

FORBIDDEN_CITY = {"lon": 116.3906, "lat": 39.9158}
CALL = {
    "category_code": "E0102",
    **FORBIDDEN_CITY,
    "description": "市民来电：路边暴露垃圾",
    "source": "hotline",
    "contact": {"name": "张先生", "phone": "138 0013 8000"},
    "work_order": "12345-20261123-0001",
    "request_kind": "complaint",
}
M_LAT = 1 / 111_000


def count(db_session) -> int:  # type: ignore[no-untyped-def]
    return int(db_session.execute(text("SELECT count(*) FROM cases")).scalar_one())


def test_a_work_order_makes_one_case_per_source(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("operator")
    first = client.post("/api/v1/cases", json=CALL, headers={**headers, "Idempotency-Key": "desk-call-0001"})
    assert first.status_code == 201
    case = first.get_json()
    assert (case["source"], case["request_kind"], case["work_order"]) == ("hotline", "complaint", CALL["work_order"])
    assert case["contact"] == CALL["contact"]  # the centre sees it, to call back
    # The form sent twice (a double click, a retry): the same key is the same case.
    retried = client.post("/api/v1/cases", json=CALL, headers={**headers, "Idempotency-Key": "desk-call-0001"})
    assert retried.status_code == 201 and retried.get_json()["id"] == case["id"]
    # The same work order entered again by another operator: refused, naming the case it already is.
    before = count(db_session)
    again = client.post(
        "/api/v1/cases",
        json={**CALL, "description": "再次来电"},
        headers={**token_for("leader"), "Idempotency-Key": "k-2nd-call"},
    )
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "work_order_exists" and error["details"] == {
        "work_order": "already reported",
        "case": case["code"],
    }
    assert case["code"] in error["message"] and count(db_session) == before
    without_key = client.post("/api/v1/cases", json=CALL, headers=headers)
    assert without_key.status_code == 409 and count(db_session) == before
    # The same number from another source is another work order.
    public = client.post("/api/v1/cases", json={**CALL, "source": "public", "request_kind": "help"}, headers=headers)
    assert public.status_code == 201 and public.get_json()["work_order"] == CALL["work_order"]
    stored = db_session.execute(
        text("SELECT external_system, external_id, request_kind FROM cases WHERE id = :id"), {"id": case["id"]}
    ).one()
    assert tuple(stored) == ("hotline", CALL["work_order"], "complaint")


def test_the_form_with_photos_sends_the_contact_as_json_text(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 90, 60)).save(photo, "JPEG")
    form = {
        **{k: str(v) for k, v in CALL.items() if k != "contact"},
        "contact": json.dumps(CALL["contact"], ensure_ascii=False),
        "work_order": "12345-20261123-0002",
        "urgency": "normal",
        "photos": [(io.BytesIO(photo.getvalue()), "site.jpg")],
    }
    response = client.post(
        "/api/v1/cases", data=form, headers=token_for("operator"), content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["contact"] == CALL["contact"] and len(case["photos"]) == 1 and case["work_order"].endswith("0002")
    bad = client.post(
        "/api/v1/cases",
        data={**form, "contact": "张先生 13800138000", "photos": []},
        headers=token_for("operator"),
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and "contact" in bad.get_json()["error"]["details"]


@pytest.mark.parametrize(
    ("role", "change", "field"),
    [
        ("inspector", {"source": None, "contact": None, "request_kind": None}, "work_order"),
        ("inspector", {"source": None, "contact": None, "work_order": None}, "request_kind"),
        ("operator", {"request_kind": "praise"}, "request_kind"),
        ("operator", {"work_order": "12345 0001"}, "work_order"),
        ("operator", {"work_order": "x" * 101}, "work_order"),
    ],
)
def test_bad_hotline_fields_are_refused_naming_them(client, token_for, db_session, role, change, field) -> None:  # type: ignore[no-untyped-def]
    before = count(db_session)
    body = {k: v for k, v in {**CALL, **change}.items() if v is not None}
    response = client.post("/api/v1/cases", json=body, headers=token_for(role))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"] and count(db_session) == before


def test_suspected_duplicates_are_shown_before_submitting(client, token_for) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("operator")
    nearby = {"category_code": "E0102", "lon": FORBIDDEN_CITY["lon"], "lat": FORBIDDEN_CITY["lat"] + 10 * M_LAT}
    assert client.get("/api/v1/cases/duplicates", query_string=nearby, headers=headers).get_json() == []
    first = client.post("/api/v1/cases", json=CALL, headers=headers).get_json()
    found = client.get("/api/v1/cases/duplicates", query_string=nearby, headers=headers).get_json()
    assert [(c["id"], c["code"]) for c in found] == [(first["id"], first["code"])]
    assert found[0]["distance_m"] == pytest.approx(10, abs=0.5)
    # What intake then records is the same list.
    second = client.post("/api/v1/cases", json={**CALL, **nearby, "work_order": "w-2"}, headers=headers).get_json()
    assert second["suspected_duplicate"] and [c["id"] for c in second["duplicate_candidates"]] == [first["id"]]
    other = {**nearby, "category_code": "E0104"}
    assert client.get("/api/v1/cases/duplicates", query_string=other, headers=headers).get_json() == []
    outside = client.get(
        "/api/v1/cases/duplicates", query_string={**nearby, "lon": 117.2, "lat": 39.13}, headers=headers
    )
    assert outside.status_code == 422 and "nearest_cell" in outside.get_json()["error"]["details"]
    unknown = client.get("/api/v1/cases/duplicates", query_string={**nearby, "category_code": "X9999"}, headers=headers)
    assert unknown.status_code == 422 and "category_code" in unknown.get_json()["error"]["details"]
    no_lat = client.get(
        "/api/v1/cases/duplicates", query_string={"category_code": "E0102", "lon": 116.39}, headers=headers
    )
    assert no_lat.status_code == 400 and "lat" in no_lat.get_json()["error"]["details"]
    for role in ("handler", "inspector", "supervisor"):  # the centre's intake only
        assert client.get("/api/v1/cases/duplicates", query_string=nearby, headers=token_for(role)).status_code == 403


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"crs": "mars"}, 400, "crs"),
        ({"crs": "EPSG:999999"}, 400, "crs"),
        ({"lon": "1e308"}, 400, "lon"),
        ({"lat": "nan"}, 400, "lat"),
        ({"lon": 39.9, "lat": 116.4}, 400, "lat"),
        ({"category_code": "E01"}, 422, "category_code"),
    ],
)
def test_bad_duplicate_questions_are_refused_naming_the_field(client, token_for, query, status, field) -> None:  # type: ignore[no-untyped-def]
    asked = {"category_code": "E0102", **FORBIDDEN_CITY, **query}
    response = client.get("/api/v1/cases/duplicates", query_string=asked, headers=token_for("operator"))
    assert response.status_code == status, response.get_json()
    assert field in json.dumps(response.get_json()["error"]["details"])


def test_a_report_without_the_new_fields_keeps_the_fingerprint_it_had_before_them() -> None:
    """An Idempotency-Key stored before work orders existed still matches its retry: the digest of a report that
    gives neither work_order nor request_kind is the one computed over the fields there were."""
    import hashlib

    from dispatch.intake.operations import Report

    before = {
        "category_code": "E0102",
        "lon": 116.3906,
        "lat": 39.9158,
        "crs": "wgs84",
        "description": "d",
        "address": None,
        "urgency": None,
        "source": None,
        "contact": None,
        "component_id": None,
    }
    canonical = json.dumps(before, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    report = Report(category_code="E0102", lon=116.3906, lat=39.9158, description="d")
    assert report.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()
    assert Report(**{**before, "work_order": "w-1"}).fingerprint() != report.fingerprint()
