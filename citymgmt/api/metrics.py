"""/api/v1/metrics: the evaluation indicators (绩效评价, DOMAIN.md §6) per group over a period."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app
from flask_smorest import Blueprint

from citymgmt.api.downloads import GEOJSON, csv_text, download
from citymgmt.core.access import allow
from citymgmt.core.clock import utcnow
from citymgmt.core.db import reads
from citymgmt.core.errors import ValidationError
from dispatch.metrics.dashboard import (
    CELL_COLUMNS,
    CELL_INDICATORS,
    MAP_LEVELS,
    cell_features,
    cell_values,
    daily,
    feed,
    headline,
)
from dispatch.metrics.operations import GROUPS, INDICATORS_FOR, REGION_INDICATORS, kind_of, parse_period, report
from grids.maps import parse_bbox
from grids.schemas import FeatureCollectionSchema

blp = Blueprint("metrics", __name__, description="Evaluation (绩效评价)")


class MetricsQuery(ma.Schema):
    group_by = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(GROUPS),
        metadata={
            "description": "cell | community | street | district | department | inspector | leader (shift leader)"
            " | dispatcher (the last three by person: the user id)"
        },
    )
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day (city's zone)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, included"})
    fresh = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Compute from cases and events now instead of the daily roll-ups (slow)"},
    )


class GroupSchema(ma.Schema):
    key = ma.fields.String(metadata={"description": "The cell, area or department code, or the person's user id"})
    name = ma.fields.String(allow_none=True, metadata={"description": "The area's, department's or person's name"})
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
    result = report(reads(), query["group_by"], period, utcnow(), settings, fresh=query["fresh"])
    result["from_"] = result.pop("from")
    return result


# -- the dashboard's figures (监督指挥大屏) ------------------------------------------------------------------------

EXPORT_FORMATS = ("json", "csv", "geojson")
LEAGUE_COLUMNS = (
    "rank",
    "key",
    "name",
    "score",
    "grade",
    "due",
    "closed",
    "overdue_open",
    *INDICATORS_FOR["department"],
)


class CellMetricsQuery(ma.Schema):
    indicator = ma.fields.String(
        load_default="on_time_closing_rate",
        validate=ma.validate.OneOf(CELL_INDICATORS),
        metadata={
            "description": "on_time_closing_rate (按期结案率) | overdue_open (超期未结案数)"
            " | density (案件密度, per km²)"
        },
    )
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day (city's zone)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, included"})
    bbox = ma.fields.String(
        load_default=None, metadata={"description": "west,south,east,north (WGS-84); all cells if left out"}
    )
    zoom = ma.fields.Integer(load_default=14, metadata={"description": "Map zoom level; polygons are simplified"})
    level = ma.fields.String(
        load_default="cell",
        validate=ma.validate.OneOf(MAP_LEVELS),
        metadata={
            "description": "cell, or community: each community's cells added up (JSON and GeoJSON; CSV is by cell)"
        },
    )
    fresh = ma.fields.Boolean(load_default=False, metadata={"description": "Counts from cases and events now (slow)"})
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(EXPORT_FORMATS),
        metadata={"description": "json (GeoJSON inline) | geojson or csv (a file to download)"},
    )


class MetricsTableQuery(MetricsQuery):
    format = ma.fields.String(
        load_default="csv", validate=ma.validate.OneOf(("csv",)), metadata={"description": "csv (a file to download)"}
    )


class MetricsDailyQuery(ma.Schema):
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day (city's zone)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, included"})


class MetricsDaySchema(ma.Schema):
    day = ma.fields.Date()
    reported = ma.fields.Integer(metadata={"description": "Cases reported that day"})
    closed = ma.fields.Integer(metadata={"description": "Cases closed that day"})
    overdue = ma.fields.Integer(metadata={"description": "Cases that went overdue (red light) that day"})


class MetricsDailySchema(ma.Schema):
    from_ = ma.fields.String(data_key="from")
    to = ma.fields.String()
    days = ma.fields.List(ma.fields.Nested(MetricsDaySchema))


class MetricsHeadlineSchema(ma.Schema):
    day = ma.fields.Date(metadata={"description": "Today, in the city's zone"})
    reported = ma.fields.Integer(metadata={"description": "Cases reported today"})
    closed = ma.fields.Integer(metadata={"description": "Cases closed today"})
    overdue = ma.fields.Integer(metadata={"description": "Cases gone overdue (red light) today"})
    due = ma.fields.Integer(metadata={"description": "Cases due in the period (应结案数), the whole city"})
    on_time_closing_rate = ma.fields.Float(
        allow_none=True, metadata={"description": "按期结案率 of the period, the whole city; null when nothing was due"}
    )


class MetricsFeedQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class MetricsFeedItemSchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "The event's id"})
    at = ma.fields.DateTime()
    kind = ma.fields.String(metadata={"description": "report (a new case) or overdue (its light turned red)"})
    case_id = ma.fields.Integer()
    code = ma.fields.String()
    category_code = ma.fields.String()
    category_name = ma.fields.String(allow_none=True)
    category_name_en = ma.fields.String(allow_none=True)
    cell_code = ma.fields.String()
    status = ma.fields.String()
    light = ma.fields.String(allow_none=True)
    urgency = ma.fields.String()


def _period_name(query: dict[str, Any]) -> str:
    return f"{query['from_'].isoformat()}_{query['to'].isoformat()}"


class CellMetricsSchema(FeatureCollectionSchema):
    indicator = ma.fields.String(metadata={"description": "The indicator each cell's value is of"})


@blp.get("/cells")
@blp.arguments(CellMetricsQuery, location="query", error_status_code=400)
@blp.response(200, CellMetricsSchema, description="GeoJSON (format=json|geojson) or CSV (format=csv)")
@blp.doc(
    responses={
        "200": {
            "description": "GeoJSON (format=json, or geojson as a file) or CSV (format=csv, a file)",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CellMetrics"}},
                GEOJSON: {"schema": {"$ref": "#/components/schemas/CellMetrics"}},
                "text/csv": {"schema": {"type": "string", "description": "one row a cell: " + ", ".join(CELL_COLUMNS)}},
            },
        }
    }
)
@allow("supervisor", "leader", "admin")
def cells(query: dict[str, Any]) -> Any:
    """Every live cell (in bbox) with one indicator's value over the days from..to and the counts behind it: the
    dashboard's map. Rates are None where nothing was due. format=geojson or csv gives the same as a file."""
    settings = current_app.extensions["citymgmt.settings"]
    period = parse_period(query["from_"], query["to"])
    bbox = parse_bbox(query["bbox"]) if query["bbox"] else None
    session, now, indicator = reads(), utcnow(), query["indicator"]
    name = f"cells-{indicator}-{_period_name(query)}"
    if query["format"] == "csv":
        rows = cell_values(session, indicator, period, now, settings, bbox, query["fresh"])
        return download(csv_text(CELL_COLUMNS, rows), "text/csv", f"{name}.csv")
    body = cell_features(session, indicator, period, now, settings, bbox, query["zoom"], query["fresh"], query["level"])
    if query["format"] == "geojson":
        return download(body, GEOJSON, f"{name}.geojson")
    return Response(body, mimetype="application/json")


@blp.get("/table")
@blp.arguments(MetricsTableQuery, location="query", error_status_code=400)
@blp.response(200, description="CSV: rank, key, name, score, grade, the counts due/closed/overdue and the rates")
@allow("supervisor", "leader", "admin")
def table(query: dict[str, Any]) -> Any:
    """The league table of GET /api/v1/metrics (best score first) as a CSV file to download."""
    settings = current_app.extensions["citymgmt.settings"]
    period = parse_period(query["from_"], query["to"])
    result = report(reads(), query["group_by"], period, utcnow(), settings, fresh=query["fresh"])
    rows = [
        {
            "rank": i,
            "key": g["key"],
            "name": g["name"],
            "score": g["score"],
            "grade": g["grade"],
            **g["counts"],
            **g["rates"],
        }
        for i, g in enumerate(result["groups"], start=1)
    ]
    columns = LEAGUE_COLUMNS if kind_of(query["group_by"]) != "region" else (*LEAGUE_COLUMNS[:8], *REGION_INDICATORS)
    if kind_of(query["group_by"]) == "inspector":
        columns = (*LEAGUE_COLUMNS[:5], "reports", "valid_reports", "filed", *INDICATORS_FOR["inspector"])
    elif kind_of(query["group_by"]) == "leader":
        columns = (*LEAGUE_COLUMNS[:5], "filed", "filed_on_time", "filed_cancelled", *INDICATORS_FOR["leader"])
    elif kind_of(query["group_by"]) == "dispatcher":
        columns = (*LEAGUE_COLUMNS[:5], "dispatched", "dispatched_on_time", "wrong_dispatches")
        columns = (*columns, *INDICATORS_FOR["dispatcher"])
    return download(csv_text(columns, rows), "text/csv", f"{query['group_by']}-{_period_name(query)}.csv")


@blp.get("/daily")
@blp.arguments(MetricsDailyQuery, location="query", error_status_code=400)
@blp.response(200, MetricsDailySchema)
@allow("supervisor", "leader", "admin")
def daily_view(query: dict[str, Any]) -> Any:
    """Per day from..to (city's zone): cases reported, closed, and gone overdue; for trend charts."""
    settings = current_app.extensions["citymgmt.settings"]
    period = parse_period(query["from_"], query["to"])
    if (period.last - period.first).days > 366:
        raise ValidationError("a period of at most a year", details={"to": "more than a year after from"})
    return {
        "from_": period.first.isoformat(),
        "to": period.last.isoformat(),
        "days": daily(reads(), period, settings),
    }


@blp.get("/headline")
@blp.arguments(MetricsDailyQuery, location="query", error_status_code=400)
@blp.response(200, MetricsHeadlineSchema)
@allow("supervisor", "leader", "admin")
def headline_view(query: dict[str, Any]) -> Any:
    """The big screen's headline: today's reported, closed and gone-overdue cases, and the on-time closing rate
    of the period from..to over the whole city."""
    settings = current_app.extensions["citymgmt.settings"]
    period = parse_period(query["from_"], query["to"])
    return headline(reads(), period, utcnow(), settings)


@blp.get("/feed")
@blp.arguments(MetricsFeedQuery, location="query", error_status_code=400)
@blp.response(200, MetricsFeedItemSchema(many=True))
@allow("supervisor", "leader", "admin")
def feed_view(query: dict[str, Any]) -> Any:
    """The latest new and overdue cases, newest first: the case, its category, cell, state and light (no names)."""
    return feed(reads(), utcnow(), query["limit"])
