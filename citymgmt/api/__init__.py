"""The REST API at /api/v1 (flask-smorest; OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs).

Kept import-light: blueprints are imported inside `init_api`, which the app factory calls.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask, Response
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from citymgmt.api.errors import http_error_response
from citymgmt.api.openapi import SECURITY_SCHEMES, AccessPlugin, storable_text

API_PREFIX = "/api/v1"


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Machine-readable error code"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, for people"})
    details = ma.fields.Raw(metadata={"description": "Which fields, and why"})
    id = ma.fields.String(metadata={"description": "Request id, also in the X-Request-ID header and the logs"})


class ErrorSchema(ma.Schema):
    """The one error shape of the whole system."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


class CitymgmtApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return http_error_response(error)


def init_api(app: Flask) -> CitymgmtApi:
    app.config.update(
        API_TITLE="citymgmt",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/static/vendor/swagger-ui/",
    )
    spec_kwargs: dict[str, Any] = {
        "info": {"description": "Grid-based urban management case dispatch (数字城管). Errors: " + _ERRORS_DOC},
        "extra_plugins": [AccessPlugin(app)],
    }
    api = CitymgmtApi(app, spec_kwargs=spec_kwargs)
    api.ma_plugin.converter.add_attribute_function(storable_text)

    from citymgmt.api.addresses import blp as addresses_blp
    from citymgmt.api.analysis import blp as analysis_blp
    from citymgmt.api.auth import blp as auth_blp
    from citymgmt.api.calendar import blp as calendar_blp
    from citymgmt.api.cases import blp as cases_blp
    from citymgmt.api.categories import blp as categories_blp
    from citymgmt.api.components import blp as components_blp
    from citymgmt.api.departments import blp as departments_blp
    from citymgmt.api.grids import blp as grids_blp
    from citymgmt.api.metrics import blp as metrics_blp
    from citymgmt.api.notifications import blp as notifications_blp
    from citymgmt.api.queues import blp as queues_blp
    from citymgmt.api.rules import blp as rules_blp

    api.register_blueprint(auth_blp, url_prefix=f"{API_PREFIX}/auth")
    api.register_blueprint(grids_blp, url_prefix=f"{API_PREFIX}/grids")
    api.register_blueprint(categories_blp, url_prefix=f"{API_PREFIX}/categories")
    api.register_blueprint(cases_blp, url_prefix=f"{API_PREFIX}/cases")
    api.register_blueprint(components_blp, url_prefix=f"{API_PREFIX}/components")
    api.register_blueprint(addresses_blp, url_prefix=f"{API_PREFIX}/addresses")
    api.register_blueprint(rules_blp, url_prefix=f"{API_PREFIX}/rules")
    api.register_blueprint(calendar_blp, url_prefix=f"{API_PREFIX}/calendar")
    api.register_blueprint(departments_blp, url_prefix=f"{API_PREFIX}/departments")
    api.register_blueprint(queues_blp, url_prefix=f"{API_PREFIX}/queues")
    api.register_blueprint(notifications_blp, url_prefix=f"{API_PREFIX}/notifications")
    api.register_blueprint(metrics_blp, url_prefix=f"{API_PREFIX}/metrics")
    api.register_blueprint(analysis_blp, url_prefix=f"{API_PREFIX}/analysis")
    if "PAGINATION" in api.spec.components.headers:  # X-Pagination is a JSON text, not OpenAPI's "simple" style
        api.spec.components.headers["PAGINATION"] = {
            "description": "Pagination metadata (JSON)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaginationMetadata"}}},
        }
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    return api


_ERRORS_DOC = (
    'every error answers {"error": {"code", "message", "details"?, "id"?}}; 400 bad input, 401 not signed in, '
    "403 not allowed, 404 not found, 409 stale version, 422 not acceptable (details name the fields), 503 unavailable."
)
