"""/api/v1/calendar: the working calendar's special days, and admins' overrides."""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from citymgmt.api.fields import StrictBoolean
from citymgmt.core.access import allow, allow_signed_in, current_user
from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.config import current_settings
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from dispatch.sla.calendar import days_of_year, set_day

blp = Blueprint("calendar", __name__, description="The working calendar (工作日历)")


class YearQuery(ma.Schema):
    year = ma.fields.Integer(required=True, validate=ma.validate.Range(1990, 2100))


class DaySchema(ma.Schema):
    day = ma.fields.Date()
    is_workday = ma.fields.Boolean()
    source = ma.fields.String(
        metadata={"description": "chinese-calendar (CITYMGMT_HOLIDAYS=cn only), import (calendar import) or admin"}
    )
    note = ma.fields.String(allow_none=True)
    updated_at = ma.fields.DateTime()


class DayOverrideSchema(ma.Schema):
    is_workday = StrictBoolean(required=True)
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))


@blp.get("")
@blp.arguments(YearQuery, location="query", error_status_code=400)
@blp.response(200, DaySchema(many=True))
@allow_signed_in
def list_days(query: dict[str, Any]) -> Any:
    """The days of the year that differ from Monday–Friday: holidays, make-up working days, overrides."""
    return days_of_year(db.session(), query["year"], current_settings().holidays)


@blp.put("/<string:day>")
@blp.arguments(DayOverrideSchema)
@blp.response(200, DaySchema)
@allow("admin")
def override_day(body: dict[str, Any], day: str) -> Any:
    """Make the day a working day or a day off, whatever the seed says (deadlines computed from now on use it)."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise ValidationError("the day must be YYYY-MM-DD", details={"day": day}) from None
    user = current_user()
    set_day(db.session(), parsed, body["is_workday"], body["note"], user.id if user else None, utcnow())
    record(db.session(), "calendar.set", parsed.isoformat(), utcnow(), is_workday=body["is_workday"], note=body["note"])
    return next(d for d in days_of_year(db.session(), parsed.year, current_settings().holidays) if d.day == parsed)
