"""One JSON error shape everywhere, with the request id, and nothing internal in it."""

from __future__ import annotations

from flask import Flask

from citymgmt.core.access import allow_public
from citymgmt.core.errors import Conflict
from tests.conftest import make_test_app


def test_unknown_route_gets_the_json_shape_with_request_id(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/no/such/page")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]
    assert error["id"] == response.headers["X-Request-ID"]


def test_a_sensible_incoming_request_id_is_kept_and_a_bad_one_replaced(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz", headers={"X-Request-ID": "lb-1234"}).headers["X-Request-ID"] == "lb-1234"
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert replaced != "<script>" and len(replaced) == 32


def test_wrong_method_is_405_with_allow(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def _app_with_failing_routes(servers, database_url) -> Flask:  # type: ignore[no-untyped-def]
    app = make_test_app(servers, database_url)
    app.config["CITYMGMT_RAISE_UNEXPECTED"] = False

    @app.get("/boom")
    @allow_public
    def boom() -> str:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 12")

    @app.get("/conflict")
    @allow_public
    def conflict() -> str:
        raise Conflict("The case changed since you loaded it.", details={"version": 3})

    return app


def test_unexpected_errors_leak_nothing(servers, database_url, caplog) -> None:  # type: ignore[no-untyped-def]
    response = _app_with_failing_routes(servers, database_url).test_client().get("/boom")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "secret.py" not in text and "Traceback" not in text
    error = response.get_json()["error"]
    assert error["code"] == "internal_error"
    # The id in the response finds the traceback in the log.
    assert any(error["id"] in getattr(r, "request_id", "") for r in caplog.records if r.exc_info)


def test_domain_errors_keep_their_status_and_details(servers, database_url) -> None:  # type: ignore[no-untyped-def]
    response = _app_with_failing_routes(servers, database_url).test_client().get("/conflict")
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "code": "conflict",
        "message": "The case changed since you loaded it.",
        "details": {"version": 3},
        "id": response.headers["X-Request-ID"],
    }
