"""/api/v1/notifications: what could not be delivered (admins)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from citymgmt.core.access import allow
from citymgmt.core.db import db
from dispatch.notifications.operations import failures

blp = Blueprint("notifications", __name__, description="Notifications (通知)")


class ChannelSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String()
    department_code = ma.fields.String(allow_none=True)


class FailureSchema(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.String()
    case_ids = ma.fields.List(ma.fields.Integer())
    channel = ma.fields.Nested(ChannelSchema)
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


@blp.get("/failures")
@blp.response(200, FailureSchema(many=True))
@allow("admin")
def list_failures() -> Any:
    """Notifications not delivered after at least one attempt (they are retried with backoff), newest first."""
    return failures(db.session())
