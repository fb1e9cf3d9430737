"""/api/v1/cases: reports in (intake), cases out."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask_smorest import Blueprint

from citymgmt.core.access import allow, current_user
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.errors import NotFound, ValidationError
from dispatch.cases import SOURCES, URGENCIES, Case
from dispatch.intake import Report, case_view, report_case

blp = Blueprint("cases", __name__, description="Cases (案件): intake and reading")

KEY = re.compile(r"^[A-Za-z0-9._:-]{8,200}$")
REPORTERS = ("inspector", "operator", "leader", "dispatcher", "admin")
READERS = ("operator", "leader", "dispatcher", "supervisor", "admin")


class ContactSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(max=100))
    phone = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9+() -]{3,30}$"))
    email = ma.fields.Email()


class ReportSchema(ma.Schema):
    category_code = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=10))
    lon = ma.fields.Raw(required=True, metadata={"description": "Longitude (number)", "example": 116.3906})
    lat = ma.fields.Raw(required=True, metadata={"description": "Latitude (number)", "example": 39.9158})
    crs = ma.fields.String(load_default="wgs84", metadata={"description": "wgs84, gcj02, bd09 or EPSG:n"})
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    address = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))
    urgency = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(URGENCIES))
    source = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(SOURCES[:3]))
    contact = ma.fields.Nested(ContactSchema, load_default=None, allow_none=True)


class EventSchema(ma.Schema):
    action = ma.fields.String()
    at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    payload = ma.fields.Dict()


class CaseSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String(metadata={"description": "Public case code: date and number"})
    status = ma.fields.String()
    source = ma.fields.String()
    category_code = ma.fields.String()
    urgency = ma.fields.String()
    description = ma.fields.String()
    address = ma.fields.String(allow_none=True)
    lon = ma.fields.Float()
    lat = ma.fields.Float()
    cell_code = ma.fields.String()
    community_code = ma.fields.String()
    street_code = ma.fields.String()
    district_code = ma.fields.String()
    department_code = ma.fields.String(allow_none=True)
    reported_at = ma.fields.DateTime()
    version = ma.fields.Integer()
    contact = ma.fields.Dict(allow_none=True)
    suspected_duplicate = ma.fields.Boolean()
    duplicate_of = ma.fields.Integer(allow_none=True)
    duplicate_candidates = ma.fields.List(
        ma.fields.Dict(), metadata={"description": "Open cases of the same category nearby: id, code, distance_m"}
    )
    events = ma.fields.List(ma.fields.Nested(EventSchema))


@blp.post("")
@blp.arguments(ReportSchema)
@blp.response(201, CaseSchema)
@blp.alt_response(400, description="Impossible coordinates or a malformed Idempotency-Key")
@blp.alt_response(422, description="A field not acceptable (named in details), or a point outside every cell")
@allow(*REPORTERS)
def report(body: dict[str, Any]) -> Any:
    """Report a problem: it becomes a case in its grid cell. Send an `Idempotency-Key` header (8-200 of
    letters, digits, `._:-`) so that a retry returns the first case instead of making a second."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not KEY.match(key):
        raise ValidationError(
            "Idempotency-Key must be 8-200 letters, digits, '.', '_', ':' or '-'", details={"Idempotency-Key": key}
        ).with_status(400)
    session = db.session()
    user = current_user()
    assert user is not None
    settings = current_app.extensions["citymgmt.settings"]
    case, _created = report_case(session, user, Report(**body), key, utcnow(), settings)
    view = case_view(session, case)
    session.commit()
    return view


@blp.get("/<int:case_id>")
@blp.response(200, CaseSchema)
@allow(*READERS, "inspector", "handler")
def get_case(case_id: int) -> Any:
    """A case with its events. Handlers see their department's cases, inspectors the cases they reported."""
    session = db.session()
    case = session.get(Case, case_id)
    user = current_user()
    assert user is not None
    visible = case is not None and (
        user.has_role(*READERS)
        or (user.has_role("handler") and case.department_code == user.department_code)
        or (user.has_role("inspector") and case.reporter_id == user.id)
    )
    if not visible or case is None:
        raise NotFound(f"no case {case_id}")
    return case_view(session, case)
