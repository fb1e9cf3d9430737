"""The one JSON error shape, {"error": {"code", "message", "details"?, "id"?}}, and the one map from a domain error's
kind to its HTTP status (`HTTP_STATUS`): the API, the pages and Open311 all answer a domain error through it.

Nothing internal (exception text, SQL, tracebacks) reaches a client: unexpected errors get a generic message and an
id that appears in the log beside the traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify
from werkzeug.exceptions import HTTPException

from citymgmt.core.errors import DomainError, Kind
from citymgmt.core.pages import is_page_request, page_support

log = logging.getLogger(__name__)

HTTP_STATUS: dict[Kind, int] = {
    Kind.bad_request: 400,
    Kind.unauthenticated: 401,
    Kind.forbidden: 403,
    Kind.not_found: 404,
    Kind.conflict: 409,
    Kind.invalid: 422,
    Kind.precondition_required: 428,
    Kind.too_many_attempts: 429,
    Kind.unavailable: 503,
    Kind.failed: 500,
}


def http_status(exc: DomainError) -> int:
    return HTTP_STATUS[exc.kind]


def http_headers(exc: DomainError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """The error in the one JSON shape; for a server-rendered page, the same error as an HTML page."""
    support = page_support() if is_page_request() else None
    if support is not None:
        page = support.render_error(status, code, message)
        page.status_code = status
        return page
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    request_id = g.get("request_id") if g else None
    if request_id:
        body["id"] = request_id
    response = jsonify(error=body)
    response.status_code = status
    return response


# werkzeug names → our codes; anything else is its snake-cased name.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "too_many_requests",
    503: "unavailable",
}


def http_error_response(exc: HTTPException) -> Response:
    """Werkzeug's and webargs' HTTP errors in our shape; webargs puts field messages in `exc.data`."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    details = data.get("messages") if isinstance(data, dict) else None
    if (
        isinstance(details, dict)
        and len(details) == 1
        and next(iter(details)) in ("query", "json", "form", "files", "json_or_form")
    ):
        details = next(iter(details.values()))  # {"query": {"lon": [...]}} → {"lon": [...]}
    message = exc.description or ""
    if details and status in (400, 422):
        message = "invalid " + ", ".join(sorted(details)) if isinstance(details, dict) else message
    response = error_response(status, _HTTP_CODES.get(status, "http_error"), message, details)
    allow = exc.get_response().headers.get("Allow") if status == 405 else None
    if allow:
        response.headers["Allow"] = allow
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        response = error_response(http_status(exc), exc.code, exc.message, exc.details)
        response.headers.update(http_headers(exc))
        return response

    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        return error_response(*unexpected_error(exc))


def unexpected_error(exc: Exception) -> tuple[int, str, str]:
    """(status, code, message) for an exception no handler knows, logged; the message says nothing internal.
    Under TESTING the exception is raised again (CITYMGMT_RAISE_UNEXPECTED=False to see the answer instead)."""
    if _is_database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return 503, "unavailable", "The database is unavailable; try again shortly."
    if _is_bad_value(exc):
        # A value the database refused as such (a number out of range, text too long): the input's fault.
        log.warning("value refused by the database: %s", getattr(exc, "orig", exc).__class__.__name__)
        return 422, "invalid_value", "A value is out of range or too long; check the numbers and texts sent."
    if current_app.testing and current_app.config.get("CITYMGMT_RAISE_UNEXPECTED", True):
        raise exc
    log.exception("unhandled error")
    return 500, "internal_error", "An internal error occurred; quote the id when reporting it."


def _is_bad_value(exc: BaseException) -> bool:
    import psycopg
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.DataError)


def _is_database_unavailable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    import psycopg

    return isinstance(exc, psycopg.OperationalError) or (
        isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.OperationalError)
    )
