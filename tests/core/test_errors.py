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


def _subclasses(cls: type) -> list[type]:
    return [cls] + [s for sub in cls.__subclasses__() for s in _subclasses(sub)]


def test_every_kind_of_domain_error_has_one_http_status_and_no_error_carries_its_own() -> None:
    import importlib
    import pkgutil

    import citymgmt
    import dispatch
    import grids
    from citymgmt.api.errors import HTTP_STATUS
    from citymgmt.core.errors import DomainError, Kind

    for package in (citymgmt, grids, dispatch):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.startswith(("citymgmt.migrations", "citymgmt.local")):
                importlib.import_module(module.name)  # every module that may define an error
    assert set(HTTP_STATUS) == set(Kind)
    errors = _subclasses(DomainError)
    assert {"OutsideGrid", "BadCoordinates", "InvalidKey", "IdempotencyKeyReused"} <= {e.__name__ for e in errors}
    carrying = [e.__qualname__ for e in errors if {"status", "headers"} & set(vars(e))]
    assert carrying == []  # the shell says a kind in HTTP; the domain says only what went wrong
