"""/api/v1/rules: the routing rules (派遣规则), their YAML form, and why a report would go where it goes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest import Blueprint

from citymgmt.core.access import allow
from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.config import current_settings
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from citymgmt.core.identity import OVERSEERS
from dispatch.intake.explain import explain_report
from dispatch.routing.rules import export_rules, import_rules, rule_cache

blp = Blueprint("rules", __name__, description="Routing rules (派遣规则)")

CENTRE = tuple(str(r) for r in OVERSEERS)
MAX_YAML_BYTES = 1_000_000


class RuleOutSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    priority = ma.fields.Integer()
    enabled = ma.fields.Boolean()
    when = ma.fields.Dict(attribute="conditions")
    then = ma.fields.Dict(attribute="target")


class ExplainQuery(ma.Schema):
    category_code = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=10))
    lon = ma.fields.Raw(required=True, metadata={"description": "Longitude (number)"})
    lat = ma.fields.Raw(required=True, metadata={"description": "Latitude (number)"})
    crs = ma.fields.String(load_default="wgs84")
    urgency = ma.fields.String(validate=ma.validate.OneOf(("urgent", "normal")))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    source = ma.fields.String(
        load_default="inspector", validate=ma.validate.OneOf(("inspector", "public", "hotline", "open311"))
    )
    component_id = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={
            "description": "The asset (部件) reported, by its 16-digit registry id; without it, the nearest of"
            " the category's class within the search radius, as a report gets"
        },
    )
    at = ma.fields.AwareDateTime(metadata={"description": "When (ISO 8601 with offset; default now)"})


class CheckSchema(ma.Schema):
    condition = ma.fields.String()
    ok = ma.fields.Boolean()
    detail = ma.fields.String()
    why = ma.fields.String(metadata={"description": "The reason, as a key (what detail says in English)"})
    args = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), metadata={"description": "Its values"})


class ConsideredSchema(ma.Schema):
    rule = ma.fields.String()
    name = ma.fields.String()
    priority = ma.fields.Integer()
    matched = ma.fields.Boolean()
    checks = ma.fields.List(ma.fields.Nested(CheckSchema))
    department = ma.fields.String(allow_none=True)
    note = ma.fields.String()
    why = ma.fields.String(allow_none=True, metadata={"description": "The note's reason, as a key"})
    args = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class ExplanationSchema(ma.Schema):
    category_code = ma.fields.String()
    family = ma.fields.String()
    cell_code = ma.fields.String()
    lon = ma.fields.Float()
    lat = ma.fields.Float()
    at = ma.fields.DateTime()
    component = ma.fields.Dict(
        allow_none=True,
        metadata={"description": "The asset the report concerns (named or nearest), as intake finds it"},
    )
    zones = ma.fields.List(ma.fields.Dict())
    department = ma.fields.String(allow_none=True, metadata={"description": "Where it would go (none: manual)"})
    rule = ma.fields.String(allow_none=True, metadata={"description": "The first matching rule"})
    auto_dispatch = ma.fields.Boolean()
    manual = ma.fields.Boolean(metadata={"description": "No rule matched: the dispatcher's manual queue"})
    rules_revision = ma.fields.Integer()
    considered = ma.fields.List(ma.fields.Nested(ConsideredSchema))


class ImportResultSchema(ma.Schema):
    inserted = ma.fields.Integer()
    updated = ma.fields.Integer()
    unchanged = ma.fields.Integer()
    retired = ma.fields.Integer()


@blp.get("")
@blp.response(200, RuleOutSchema(many=True))
@allow(*CENTRE)
def list_rules() -> Any:
    """The live rules in the order they are tried (priority, then code)."""
    return list(rule_cache.book(db.session()).rules)


@blp.get("/explain")
@blp.arguments(ExplainQuery, location="query", error_status_code=400)
@blp.response(200, ExplanationSchema)
@allow(*CENTRE)
def explain_view(query: dict[str, Any]) -> Any:
    """Where a report like this would be routed: every rule considered, and why it matched or did not."""
    session = db.session()
    settings = current_app.extensions["citymgmt.settings"]
    return explain_report(
        session,
        rule_cache.book(session),
        category_code=query["category_code"],
        lon=query["lon"],
        lat=query["lat"],
        crs=query["crs"],
        at=query.get("at") or utcnow(),
        settings=settings,
        urgency=query.get("urgency"),
        description=query["description"],
        source=query["source"],
        component_id=query.get("component_id"),
    )


@blp.get("/export")
@blp.response(200, description="The live rules as YAML (the format PUT /rules and `citymgmt rules import` read)")
@allow(*CENTRE)
def export_view() -> Response:
    """The live rules as YAML."""
    return Response(export_rules(db.session()), mimetype="application/yaml")


@blp.put("")
@blp.doc(
    requestBody={"content": {"application/yaml": {"schema": {"type": "string"}}}, "required": True},
    parameters=[
        {
            "in": "query",
            "name": "retire_all",
            "schema": {"type": "boolean"},
            "description": "true to accept a document with no rules (every rule retired, automatic dispatch stops)",
        }
    ],
)
@blp.response(200, ImportResultSchema)
@blp.alt_response(422, description="The file is not valid: details name each bad field by its path")
@allow("admin")
def import_view() -> Any:
    """Replace the rule set with this YAML document, all or nothing; rules left out are retired."""
    if request.content_length is not None and request.content_length > MAX_YAML_BYTES:
        raise ValidationError("the rules document is too large", details={"body": f"at most {MAX_YAML_BYTES} bytes"})
    try:
        source = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the rules document must be UTF-8", details={"body": "not UTF-8"}) from None
    retire_all = request.args.get("retire_all", "").lower() == "true"
    result = import_rules(
        db.session(), source, utcnow(), allow_empty=retire_all, kinds=current_settings().department_kinds
    )
    record(db.session(), "rules.import", "PUT /api/v1/rules", utcnow(), **asdict(result))
    return result
