"""/api/v1/metrics: the evaluation indicators (绩效评价, DOMAIN.md §6) per group over a period."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint

from citymgmt.core.access import allow
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from dispatch.metrics import GROUPS, parse_period, report

blp = Blueprint("metrics", __name__, description="Evaluation (绩效评价)")


class MetricsQuery(ma.Schema):
    group_by = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(GROUPS),
        metadata={"description": "cell | community | street | district | department | inspector (user id)"},
    )
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day (city's zone)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, included"})
    fresh = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Compute from cases and events now instead of the daily roll-ups (slow)"},
    )


class GroupSchema(ma.Schema):
    key = ma.fields.String(metadata={"description": "The cell, area or department code, or the inspector's id"})
    name = ma.fields.String(allow_none=True, metadata={"description": "The area's, department's or inspector's name"})
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    rates = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(allow_none=True))
    score = ma.fields.Float(allow_none=True, metadata={"description": "Composite score 综合指标值, 0–100"})
    grade = ma.fields.String(allow_none=True, metadata={"description": "A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E"})


class MetricsSchema(ma.Schema):
    group_by = ma.fields.String()
    from_ = ma.fields.String(data_key="from")
    to = ma.fields.String()
    source = ma.fields.String(metadata={"description": "rollups or direct"})
    as_of = ma.fields.DateTime(allow_none=True, metadata={"description": "When the figures were computed"})
    weights = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    groups = ma.fields.List(ma.fields.Nested(GroupSchema))


@blp.get("")
@blp.arguments(MetricsQuery, location="query", error_status_code=400)
@blp.response(200, MetricsSchema)
@allow("supervisor", "leader", "admin")
def metrics(query: dict[str, Any]) -> Any:
    """The indicators per group over the days from..to, each with its counts, rates, score and grade, best first."""
    settings = current_app.extensions["citymgmt.settings"]
    period = parse_period(query["from_"], query["to"])
    result = report(db.session(), query["group_by"], period, utcnow(), settings, fresh=query["fresh"])
    result["from_"] = result.pop("from")
    return result
