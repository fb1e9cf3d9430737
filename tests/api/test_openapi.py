"""The OpenAPI document at /api/v1/openapi.json: valid OpenAPI 3.0 (openapi-spec-validator), bodies as request
bodies, the headers the views read, and each operation's security as its view's access policy says."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from citymgmt.core.access import policy_of

ACTION = "/api/v1/cases/{case_id}/actions/{action}"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def spec(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def errors_of(document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator_errors(document)]


def validator_errors(document: dict[str, Any]) -> list[Any]:
    return list(OpenAPIV30SpecValidator(document).iter_errors())


def test_the_document_is_valid_openapi(spec) -> None:  # type: ignore[no-untyped-def]
    assert spec["openapi"].startswith("3.0")
    assert errors_of(spec) == []


@pytest.mark.parametrize(
    "break_it",
    [
        # what the document published before: a body's fields as parameters of a location OpenAPI does not know
        lambda d: d["paths"][ACTION]["post"]["parameters"].append({"in": "json_or_form", "name": "note"}),
        lambda d: d["paths"][ACTION]["post"]["parameters"][0].pop("schema"),  # a header without its schema
        lambda d: d["paths"]["/api/v1/cases"]["post"]["requestBody"].pop("content"),
        lambda d: d["paths"]["/api/v1/cases"]["post"]["responses"].clear(),
    ],
    ids=["json_or_form parameter", "header without schema", "body without content", "no responses"],
)
def test_the_validator_refuses_a_broken_copy(spec, break_it) -> None:  # type: ignore[no-untyped-def]
    broken = copy.deepcopy(spec)
    break_it(broken)
    assert errors_of(broken) != []
    assert errors_of(spec) == []  # the copy, not the document, was broken


def test_report_and_action_bodies_are_request_bodies(spec) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/v1/cases", ACTION):
        operation = spec["paths"][path]["post"]
        assert all(p["in"] in ("path", "query", "header", "cookie") for p in operation.get("parameters", []))
        content = operation["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}
        form = content["multipart/form-data"]["schema"]["properties"]
        assert form["photos"] == {
            "type": "array",
            "maxItems": 9,
            "items": {"type": "string", "format": "binary"},
            "description": "JPEG, PNG or WebP; re-encoded, without EXIF",
        }
    report = spec["paths"]["/api/v1/cases"]["post"]["requestBody"]
    assert report["required"] is True
    assert report["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Report"}
    assert "category_code" in report["content"]["multipart/form-data"]["schema"]["required"]
    action = spec["paths"][ACTION]["post"]["requestBody"]
    assert action["required"] is False  # most moves need no field at all
    assert {"note", "department", "hours", "result", "original"} <= set(
        action["content"]["multipart/form-data"]["schema"]["properties"]
    )


def test_the_headers_the_views_read_are_documented(spec) -> None:  # type: ignore[no-untyped-def]
    def headers(path: str, method: str) -> dict[str, Any]:
        return {p["name"]: p for p in spec["paths"][path][method].get("parameters", []) if p["in"] == "header"}

    key = headers("/api/v1/cases", "post")["Idempotency-Key"]
    assert key["required"] is False and key["schema"]["pattern"] == r"^[A-Za-z0-9._:-]{8,200}$"
    if_match = headers(ACTION, "post")["If-Match"]
    assert if_match["required"] is True and "428" in spec["paths"][ACTION]["post"]["responses"]
    for path, method in (("/api/v1/cases/{case_id}", "get"), (ACTION, "post")):
        assert "ETag" in spec["paths"][path][method]["responses"]["200"]["headers"]


def test_every_operation_declares_the_security_of_its_access_policy(app, spec) -> None:  # type: ignore[no-untyped-def]
    schemes = set(spec["components"]["securitySchemes"])
    assert schemes == {"bearer", "session"}
    assert spec["components"]["securitySchemes"]["session"]["name"] == app.config["SESSION_COOKIE_NAME"]
    seen = 0
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<int:", "{").replace("<string:", "{").replace("<", "{").replace(">", "}")
        if path not in spec["paths"]:
            continue
        policy = policy_of(app, rule.endpoint)
        assert policy is not None, rule.endpoint
        for method in set(METHODS) & {m.lower() for m in rule.methods or ()}:
            operation = spec["paths"][path][method]
            seen += 1
            if policy.public:
                assert operation["security"] == [], (method, path)
                continue
            assert operation["security"] == [{"bearer": []}, {"session": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
            if policy.roles:
                assert all(role in operation["responses"]["403"]["description"] for role in policy.roles)
    assert seen == sum(len(set(ops) & set(METHODS)) for ops in spec["paths"].values())
    assert spec["paths"]["/api/v1/auth/token"]["post"]["security"] == []
