"""What the OpenAPI document says beyond the schemas: who may call each operation, read from the access policy the
views declare (citymgmt.core.access), and the bodies and headers that flask-smorest cannot derive by itself."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask
from flask_smorest import Blueprint
from werkzeug.routing import Rule

from citymgmt.core.access import SAFE_METHODS, policy_of
from citymgmt.core.sessions import COOKIE_NAME

# What every text field holds: no NUL character and no lone surrogate (PostgreSQL cannot store them; the API refuses
# them everywhere with a 400, citymgmt.core.inputs), said in the document so that clients and fuzzers know it.
STORABLE_TEXT = r"^[^\u0000]*$"  # (a lone surrogate is not Unicode text: no schema type admits it)


def storable_text(self: Any, field: ma.fields.Field, **kwargs: Any) -> dict[str, Any]:
    """The marshmallow plugin's attribute function: every plain text field says it holds no NUL."""
    if type(field) is not ma.fields.String or any(isinstance(v, ma.validate.Regexp) for v in field.validators):
        return {}  # a field with a pattern of its own (codes, keys) already excludes them
    return {"pattern": STORABLE_TEXT}


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "A token from POST /api/v1/auth/token"},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE_NAME,
        "description": "A browser signed in at /login; requests that change anything also send the page's CSRF"
        " token as the X-CSRFToken header",
    },
}
SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]  # either one
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


class AccessPlugin(BasePlugin):
    """Each operation's `security` and its 401 and 403 answers, from the policy its view declares: one source."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule: Rule | None = kwargs.get("rule")
        if rule is None or not operations or rule.endpoint is None:
            return
        policy = policy_of(self.app, rule.endpoint)
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if policy is None or policy.public:
                operation["security"] = []
            else:
                operation["security"] = SIGNED_IN
                responses.setdefault("401", {"description": "Not signed in, or the token has expired"})
                why = []
                if policy.roles:
                    why.append("your role is not one of " + ", ".join(policy.roles))
                if method.upper() not in SAFE_METHODS:
                    why.append("signed in with the session cookie, the CSRF token is missing or wrong")
                if why:
                    responses.setdefault("403", {"description": "Not allowed: " + "; or ".join(why)})
            for status, response in responses.items():  # every error has the one error shape
                if isinstance(response, dict) and status != "default" and int(status) >= 400 and "$ref" not in response:
                    response.setdefault("content", ERROR_CONTENT)


class JsonOrFormBlueprint(Blueprint):
    """A blueprint whose `json_or_form` arguments are published as a JSON request body (flask-smorest would list
    their fields as parameters "in": "json_or_form", which OpenAPI does not know); the form's multipart body is
    documented beside it by `multipart_body`."""

    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING: ClassVar[dict[str, str]] = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }


def multipart_body(fields: dict[str, str], required: tuple[str, ...], max_photos: int) -> dict[str, Any]:
    """The multipart/form-data form of a JSON body: its text fields (name → description) and up to `max_photos`
    files under `photos`. Form fields are text, numbers too (as numerals)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            **{
                name: {"type": "string", "pattern": STORABLE_TEXT, **({"description": what} if what else {})}
                for name, what in fields.items()
            },
            "photos": {
                "type": "array",
                "maxItems": max_photos,
                "items": {"type": "string", "format": "binary"},
                "description": "JPEG, PNG or WebP; re-encoded, without EXIF",
            },
        },
    }
    if required:
        schema["required"] = list(required)
    return {"multipart/form-data": {"schema": schema}}


def header(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    """A request header an operation reads."""
    return {"in": "header", "name": name, "required": required, "description": description, "schema": schema}
