"""Public Open311 output carries no personal data: not the caller's name, phone or e-mail given through Open311 or
the API, nor who reported or acted on a case (their user names and display names), in JSON or XML."""

from __future__ import annotations

import pytest

from citymgmt.core.identity import create_user
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("beijing")]

BASE = "/open311/v2"
CALLER = {"email": "wang.wu.private@example.org", "first_name": "五私", "last_name": "王隐", "phone": "13912345678"}
HOTLINE_CALLER = {"name": "赵六隐私", "phone": "+86 139 8765 4321", "email": "zhao.liu.private@example.org"}
STAFF = {
    "pv-operator": ("接线员钱七隐私", ["operator"]),
    "pv-inspector": ("巡查员孙八隐私", ["inspector"]),
    "pv-dispatcher": ("派遣员周九隐私", ["dispatcher"]),
}


@pytest.fixture
def open311_key(db_session, clock) -> str:  # type: ignore[no-untyped-def]
    from citymgmt.open311.keys import create_key

    secret, _ = create_key(db_session, "pv-client", clock.now())
    return secret


def _headers(client, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_public_open311_output_carries_no_personal_data(client, db_session, open311_key, clock) -> None:  # type: ignore[no-untyped-def]
    for username, (display, roles) in STAFF.items():
        create_user(db_session, username, PASSWORD, roles, display_name=display)
    db_session.flush()

    # A member of the public through Open311, with name, phone and e-mail.
    posted = client.post(
        f"{BASE}/requests.json",
        data={"api_key": open311_key, "service_code": "E0103", "lat": "39.9170", "long": "116.3950",
              "description": "路面不洁", **CALLER},
    )  # fmt: skip
    assert posted.status_code == 200, posted.get_json()
    open311_code = posted.get_json()[0]["service_request_id"]

    # A caller on the hotline, entered through the API by an operator with the caller's contact; an inspector's.
    hotline = client.post(
        "/api/v1/cases",
        json={"category_code": "E0104", "lon": 116.3990, "lat": 39.9190, "description": "路面积水",
              "source": "hotline", "contact": HOTLINE_CALLER},
        headers={**_headers(client, "pv-operator"), "Idempotency-Key": "privacy-hotline-1"},
    )  # fmt: skip
    assert hotline.status_code == 201, hotline.get_json()
    assert hotline.get_json()["contact"]["phone"] == HOTLINE_CALLER["phone"]  # the centre sees it, to call back
    inspected = client.post(
        "/api/v1/cases",
        json={"category_code": "E0105", "lon": 116.4010, "lat": 39.9200, "description": "绿地脏乱"},
        headers={**_headers(client, "pv-inspector"), "Idempotency-Key": "privacy-inspector-1"},
    )
    assert inspected.status_code == 201, inspected.get_json()

    # The dispatcher acts on the hotline case with a note, so that it has updates by a named person.
    dispatcher = _headers(client, "pv-dispatcher")
    case = hotline.get_json()
    if "file" in client.get(f"/api/v1/cases/{case['id']}", headers=dispatcher).get_json()["allowed_actions"]:
        filed = client.post(
            f"/api/v1/cases/{case['id']}/actions/file",
            json={"note": "立案"},
            headers={**dispatcher, "If-Match": str(case["version"])},
        )
        assert filed.status_code == 200, filed.get_json()

    codes = [open311_code, case["code"], inspected.get_json()["code"]]
    secrets = [*CALLER.values(), *HOTLINE_CALLER.values(), *STAFF, *(display for display, _ in STAFF.values())]
    seen = set()
    for path in ("requests", *(f"requests/{code}" for code in codes), "servicerequestupdates"):
        for fmt in ("json", "xml"):
            response = client.get(f"{BASE}/{path}.{fmt}", query_string={"start_date": "2026-11-01T00:00:00+08:00"})
            assert response.status_code == 200, (path, fmt, response.data[:300])
            body = response.data.decode("utf-8")
            seen.update(code for code in codes if code in body)
            for secret in secrets:
                assert secret not in body, (path, fmt, secret)
    assert seen == set(codes), "the three requests are in the public output (else this test proves nothing)"
