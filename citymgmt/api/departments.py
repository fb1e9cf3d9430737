"""/api/v1/departments: the city's departments (专业部门), for admins: list, create, change, retire (never delete)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from citymgmt.core.access import allow
from citymgmt.core.clock import utcnow
from citymgmt.core.config import current_settings
from citymgmt.core.db import db
from dispatch.departments.operations import (
    create_department,
    list_departments,
    retire_department,
    update_department,
)
from dispatch.notifications.operations import EVENTS

blp = Blueprint("departments", __name__, description="Departments (专业部门)")

CODE_DOC = "1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"


class DepartmentSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    name_en = ma.fields.String()
    kind = ma.fields.String()
    district = ma.fields.String(attribute="district_code", allow_none=True)
    street = ma.fields.String(attribute="street_code", allow_none=True)
    parent = ma.fields.String(attribute="parent_code", allow_none=True)
    phone = ma.fields.String(allow_none=True)
    retired_at = ma.fields.DateTime(allow_none=True)
    updated_at = ma.fields.DateTime()


class ListQuery(ma.Schema):
    all = ma.fields.Boolean(load_default=False, metadata={"description": "Retired departments too"})


class ChannelInSchema(ma.Schema):
    email = ma.fields.String(validate=ma.validate.Length(min=3, max=500))
    webhook = ma.fields.String(validate=ma.validate.Length(min=8, max=500))
    secret = ma.fields.String(
        validate=ma.validate.Length(min=16, max=200), metadata={"description": "The webhook's HMAC-SHA256 key"}
    )
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(EVENTS)), validate=ma.validate.Length(min=1))

    @ma.validates_schema(skip_on_field_errors=True)
    def one_address(self, data: dict[str, Any], **_: Any) -> None:
        if ("email" in data) == ("webhook" in data):
            raise ma.ValidationError("give email or webhook (one of them)", "email")


def _optional(length: int, description: str) -> ma.fields.String:
    return ma.fields.String(
        allow_none=True, validate=ma.validate.Length(max=length), metadata={"description": description}
    )


class DepartmentChangeSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100), metadata={"description": "zh-CN name"})
    name_en = _optional(100, "English name (default: the name)")
    kind = ma.fields.String(
        validate=ma.validate.Length(min=1, max=20), metadata={"description": "One of CITYMGMT_DEPARTMENT_KINDS"}
    )
    district = _optional(12, "The district it serves (none: city-wide)")
    street = _optional(12, "The street it serves (a street office)")
    parent = _optional(40, "The department it answers to")
    phone = _optional(40, "")


class DepartmentInSchema(DepartmentChangeSchema):
    code = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=40), metadata={"description": CODE_DOC}
    )
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=100), metadata={"description": "zh-CN name"}
    )
    kind = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=20),
        metadata={"description": "One of CITYMGMT_DEPARTMENT_KINDS"},
    )
    channels = ma.fields.List(ma.fields.Nested(ChannelInSchema), load_default=list, validate=ma.validate.Length(max=20))


class RetiredSchema(ma.Schema):
    code = ma.fields.String()
    open_cases = ma.fields.Integer(metadata={"description": "Open cases still with it: re-dispatch them"})
    rules = ma.fields.Integer(metadata={"description": "Live routing rules naming it (they no longer match)"})
    handlers = ma.fields.Integer(metadata={"description": "Active handler accounts of it"})


@blp.get("")
@blp.arguments(ListQuery, location="query", error_status_code=400)
@blp.response(200, DepartmentSchema(many=True))
@allow("admin")
def list_view(query: dict[str, Any]) -> Any:
    """The departments by code (live ones; `all=true` retired ones too)."""
    return list_departments(db.session(), query["all"])


@blp.post("")
@blp.arguments(DepartmentInSchema)
@blp.response(201, DepartmentSchema)
@blp.alt_response(409, description="A department with this code exists (retired ones too: codes are not reused)")
@allow("admin")
def create_view(body: dict[str, Any]) -> Any:
    """Create a department, with its notification channels; audited."""
    return create_department(db.session(), body, current_settings().department_kinds, utcnow(), "api")


@blp.patch("/<string:code>")
@blp.arguments(DepartmentChangeSchema)
@blp.response(200, DepartmentSchema)
@blp.alt_response(404, description="No live department with this code")
@allow("admin")
def update_view(body: dict[str, Any], code: str) -> Any:
    """Change the fields given (null clears an optional one); audited with the old and new values."""
    return update_department(db.session(), code, body, current_settings().department_kinds, utcnow(), "api")


@blp.post("/<string:code>/retire")
@blp.response(200, RetiredSchema)
@blp.alt_response(404, description="No live department with this code")
@blp.alt_response(409, description="Live departments answer to it")
@allow("admin")
def retire_view(code: str) -> Any:
    """Retire a department: kept with its history; routing sends it nothing more. Says what still points at it."""
    return retire_department(db.session(), code, utcnow(), "api")
