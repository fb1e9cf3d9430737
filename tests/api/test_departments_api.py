"""/api/v1/departments: admins list, create, change and retire departments; every change audited; the document
describes the operations; other roles are refused (the whole matrix is in test_access_matrix)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from citymgmt.core.audit import AuditEntry
from citymgmt.core.departments import Department
from dispatch.notifications.operations import NotificationChannel

pytestmark = pytest.mark.usefixtures("beijing")

NEW = {
    "code": "t-parks-east",
    "name": "东城测试公园管理处",
    "kind": "landscaping",
    "district": "110101",
    "parent": "110101-landscaping",
    "channels": [{"email": "parks@example.org", "events": ["new_work"]}],
}


def test_an_admin_creates_changes_lists_and_retires_a_department(client, token_for, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    admin = token_for("admin")

    created = client.post("/api/v1/departments", json=NEW, headers=admin)
    assert created.status_code == 201, created.get_json()
    body: dict[str, Any] = created.get_json()
    assert (body["code"], body["name_en"], body["district"], body["parent"]) == (
        "t-parks-east",
        "东城测试公园管理处",
        "110101",
        "110101-landscaping",
    )
    channel = db_session.execute(
        select(NotificationChannel).where(NotificationChannel.department_code == "t-parks-east")
    ).scalar_one()
    assert (channel.kind, channel.target, channel.events) == ("email", "parks@example.org", ["new_work"])

    again = client.post("/api/v1/departments", json=NEW, headers=admin)
    assert again.status_code == 409 and again.get_json()["error"]["details"] == {"code": "t-parks-east"}

    changed = client.patch(
        "/api/v1/departments/t-parks-east", json={"name_en": "East Parks", "phone": None}, headers=admin
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["name_en"] == "East Parks"

    listed = client.get("/api/v1/departments", headers=admin).get_json()
    assert "t-parks-east" in {d["code"] for d in listed}

    retired = client.post("/api/v1/departments/t-parks-east/retire", headers=admin)
    assert retired.status_code == 200, retired.get_json()
    assert retired.get_json() == {"code": "t-parks-east", "open_cases": 0, "rules": 0, "handlers": 0}
    department = db_session.get(Department, "t-parks-east")
    assert department is not None and department.retired_at is not None
    assert "t-parks-east" not in {d["code"] for d in client.get("/api/v1/departments", headers=admin).get_json()}
    every = client.get("/api/v1/departments?all=true", headers=admin).get_json()
    assert next(d for d in every if d["code"] == "t-parks-east")["retired_at"] is not None
    gone = client.patch("/api/v1/departments/t-parks-east", json={"name": "x"}, headers=admin)
    assert gone.status_code == 404

    entries = db_session.execute(
        select(AuditEntry.action, AuditEntry.actor, AuditEntry.details)
        .where(AuditEntry.target == "t-parks-east")
        .order_by(AuditEntry.id)
    ).all()
    assert [(a, actor) for a, actor, _ in entries] == [
        ("department.create", "t-admin"),
        ("department.update", "t-admin"),
        ("department.retire", "t-admin"),
    ]
    assert entries[1][2]["changes"] == {"name_en": ["东城测试公园管理处", "East Parks"]}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**NEW, "kind": "spaceport"}, "kind", "spaceport is not a kind of department here"),
        ({**NEW, "district": "999999"}, "district", "no live district 999999"),
        ({**NEW, "code": "bad code!"}, "code", "required: 1-40 letters"),
        ({**NEW, "parent": "nowhere"}, "parent", "no live department nowhere"),
        ({**NEW, "street": "110102001"}, "street", "street 110102001 is not in district 110101"),
        ({**NEW, "channels": [{"webhook": "https://h.example.org/x"}]}, "channels", "secret at least 16"),
    ],
)
def test_bad_fields_are_refused_by_name(client, token_for, body, field, message) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/departments", json=body, headers=token_for("admin"))
    assert response.status_code == 422, response.get_json()
    assert message in response.get_json()["error"]["details"][field]


def test_the_schema_refuses_unknown_and_missing_fields(client, token_for) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/departments", json={"code": "t-x", "colour": "red"}, headers=token_for("admin"))
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert {"colour", "name", "kind"} <= set(details)


@pytest.mark.parametrize("role", ["dispatcher", "supervisor", "handler", "leader"])
def test_only_admins_may_touch_departments(client, token_for, role: str) -> None:  # type: ignore[no-untyped-def]
    headers = token_for(role)
    assert client.get("/api/v1/departments", headers=headers).status_code == 403
    assert client.post("/api/v1/departments", json=NEW, headers=headers).status_code == 403
    assert client.post("/api/v1/departments/bj-water/retire", headers=headers).status_code == 403


def test_the_operations_are_in_the_openapi_document(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert set(paths["/api/v1/departments"]) >= {"get", "post"}
    assert "patch" in paths["/api/v1/departments/{code}"]
    retire = paths["/api/v1/departments/{code}/retire"]["post"]
    assert "admin" in retire["responses"]["403"]["description"]
    assert "409" in retire["responses"]
    body = paths["/api/v1/departments"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/DepartmentIn")
    assert {"code", "name", "kind"} <= set(spec["components"]["schemas"]["DepartmentIn"]["required"])


def test_a_street_office_moved_to_another_district_leaves_its_street(client, token_for) -> None:  # type: ignore[no-untyped-def]
    admin = token_for("admin")
    office = {"code": "t-office", "name": "测试街道办", "kind": "street_office", "street": "110101005"}
    assert client.post("/api/v1/departments", json=office, headers=admin).get_json()["district"] == "110101"
    same = client.patch("/api/v1/departments/t-office", json={"district": "110101"}, headers=admin).get_json()
    assert (same["district"], same["street"]) == ("110101", "110101005")
    moved = client.patch("/api/v1/departments/t-office", json={"district": "110102"}, headers=admin).get_json()
    assert (moved["district"], moved["street"]) == ("110102", None)
    wrong = client.patch("/api/v1/departments/t-office", json={"street": "110101005"}, headers=admin)
    assert wrong.status_code == 422
    assert wrong.get_json()["error"]["details"] == {"street": "street 110101005 is not in district 110102"}
