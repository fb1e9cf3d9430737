"""/api/v1/analysis: where problems keep coming back (高发问题分析): recurrence, hot spots, anomalies and time
patterns, counted from the roll-up the hourly job keeps, or from the cases as they are now with `fresh=true`
(dispatch/analysis). For supervisors, leaders and admins; the
answers name places, categories and case codes, never who reported a case."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint

from citymgmt.api.downloads import GEOJSON, csv_text, download
from citymgmt.core.access import allow
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from dispatch.analysis import anomalies as anomalies_module
from dispatch.analysis import hotspots as hotspots_module
from dispatch.analysis import patterns as patterns_module
from dispatch.analysis import recurrence as recurrence_module
from dispatch.analysis.scope import FAMILIES, Scope, place_features
from dispatch.metrics.operations import parse_period

blp = Blueprint("analysis", __name__, description="Analysis (高发问题分析): recurrence, hot spots, anomalies, patterns")

ROLES = ("supervisor", "leader", "admin")
MAX_DAYS = 366


def _formats(*formats: str) -> ma.fields.String:
    return ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(formats),
        metadata={"description": " | ".join(formats) + " (csv and geojson: a file to download)"},
    )


def _doc(schema: str, csv_columns: str, geojson: bool) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
        "text/csv": {"schema": {"type": "string", "description": csv_columns}},
    }
    if geojson:
        content[GEOJSON] = {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}
    return {"responses": {"200": {"description": "JSON, CSV" + (" or GeoJSON" if geojson else ""), "content": content}}}


class FilterQuery(ma.Schema):
    area = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[0-9]{6}([0-9]{3}){0,3}$"),
        metadata={
            "description": "A district (6 digits), street (9), community (12) or cell (15) code; all if left out"
        },
    )
    family = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(FAMILIES), metadata={"description": "component | event"}
    )
    category = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9]{1,10}$"),
        metadata={"description": "A category code or its prefix (E01: the event class 01)"},
    )
    fresh = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Count from the cases now instead of the roll-up kept hourly (slower)"},
    )


class PeriodQuery(FilterQuery):
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day (city's zone)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, included (at most 366 days)"})


def _scope(query: dict[str, Any]) -> Scope:
    period = parse_period(query["from_"], query["to"])
    if (period.last - period.first).days >= MAX_DAYS:
        raise ValidationError(f"a period of at most {MAX_DAYS} days", details={"to": f"more than {MAX_DAYS} days"})
    return Scope(period, area=query["area"], family=query["family"], category=query["category"])


def _name(query: dict[str, Any], what: str) -> str:
    return f"{what}-{query['from_'].isoformat()}_{query['to'].isoformat()}"


# -- recurrence --------------------------------------------------------------------------------------------------


class RecurrenceQuery(PeriodQuery):
    by = ma.fields.String(
        load_default="cell",
        validate=ma.validate.OneOf(recurrence_module.PLACES),
        metadata={"description": "cell | community | component (a registered asset, 部件)"},
    )
    min_cases = ma.fields.Integer(
        load_default=3, validate=ma.validate.Range(min=2, max=1000), metadata={"description": "N: at least N cases"}
    )
    days = ma.fields.Integer(
        load_default=30, validate=ma.validate.Range(min=1, max=366), metadata={"description": "D: within D days"}
    )
    within_days = ma.fields.Integer(
        load_default=30,
        validate=ma.validate.Range(min=1, max=366),
        metadata={"description": "K: a new case within K days of a closure is a repeat"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    format = _formats("json", "csv", "geojson")


class CaseRefSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    reported_at = ma.fields.String(allow_none=True)
    closed_at = ma.fields.String(allow_none=True)
    status = ma.fields.String()


class PlaceSchema(ma.Schema):
    place = ma.fields.String(metadata={"description": "The cell, community or component code"})
    place_name = ma.fields.String(allow_none=True)
    category_code = ma.fields.String()
    category_name = ma.fields.String(allow_none=True)
    category_name_en = ma.fields.String(allow_none=True)


class RecurringSchema(PlaceSchema):
    most_in_window = ma.fields.Integer(metadata={"description": "The most cases within D days"})
    cases = ma.fields.Integer(metadata={"description": "Cases of the category at the place in the period"})
    case_list = ma.fields.List(ma.fields.Nested(CaseRefSchema))


class RepeatPairSchema(ma.Schema):
    closed_case = ma.fields.Nested(CaseRefSchema)
    next_case = ma.fields.Nested(CaseRefSchema)
    days_after_closure = ma.fields.Float()


class RepeatSchema(PlaceSchema):
    repeats = ma.fields.Integer(metadata={"description": "Closures followed by a new case within K days"})
    pairs = ma.fields.List(ma.fields.Nested(RepeatPairSchema))


class ScopeSchema(ma.Schema):
    from_ = ma.fields.String(data_key="from")
    to = ma.fields.String()
    area = ma.fields.String(allow_none=True)
    family = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    source = ma.fields.String(metadata={"description": "rollups (the roll-up kept hourly) | direct (the cases now)"})
    as_of = ma.fields.String(allow_none=True, metadata={"description": "When the roll-up was last built (rollups)"})


class RecurrenceSchema(ScopeSchema):
    by = ma.fields.String()
    min_cases = ma.fields.Integer()
    days = ma.fields.Integer()
    within_days = ma.fields.Integer()
    recurring = ma.fields.List(ma.fields.Nested(RecurringSchema))
    repeats = ma.fields.List(ma.fields.Nested(RepeatSchema))


RECURRENCE_COLUMNS = (
    "kind",
    "rank",
    "place",
    "place_name",
    "category_code",
    "category_name",
    "count",
    "case_code",
    "reported_at",
    "closed_at",
    "status",
    "next_case_code",
    "next_reported_at",
    "days_after_closure",
)


def _recurrence_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rank, g in enumerate(result["recurring"], start=1):
        for c in g["case_list"]:
            rows.append({"kind": "recurring", "rank": rank, **g, "count": g["most_in_window"], "case_code": c["code"]})
            rows[-1].update({k: c[k] for k in ("reported_at", "closed_at", "status")})
    for rank, g in enumerate(result["repeats"], start=1):
        for pair in g["pairs"]:
            closed, following = pair["closed_case"], pair["next_case"]
            rows.append(
                {"kind": "repeat", "rank": rank, **g, "count": g["repeats"], "case_code": closed["code"]}
                | {"closed_at": closed["closed_at"], "status": "closed", "next_case_code": following["code"]}
                | {"next_reported_at": following["reported_at"], "days_after_closure": pair["days_after_closure"]}
            )
    return rows


@blp.get("/recurrence")
@blp.arguments(RecurrenceQuery, location="query", error_status_code=400)
@blp.response(200, RecurrenceSchema)
@blp.doc(**_doc("Recurrence", "one row a case: " + ", ".join(RECURRENCE_COLUMNS), geojson=True))
@blp.alt_response(422, description="A period longer than 366 days, to before from, a day not yet begun")
@allow(*ROLES)
def recurrence(query: dict[str, Any]) -> Any:
    """Places where one category recurs (at least min_cases within days) and repeats after closure (a new case of the
    category at the place within within_days of a closure), ranked, each with its cases."""
    settings = current_app.extensions["citymgmt.settings"]
    session = db.session()
    result = recurrence_module.recurrence(
        session,
        _scope(query),
        settings,
        by=query["by"],
        min_cases=query["min_cases"],
        days=query["days"],
        within_days=query["within_days"],
        limit=query["limit"],
        fresh=query["fresh"],
    )
    name = _name(query, f"recurrence-{query['by']}")
    if query["format"] == "csv":
        return download(csv_text(RECURRENCE_COLUMNS, _recurrence_rows(result)), "text/csv", f"{name}.csv")
    if query["format"] == "geojson":
        places = [{"kind": "recurring", **g} for g in result["recurring"]] + [
            {"kind": "repeat", **g} for g in result["repeats"]
        ]
        body = place_features(session, query["by"], places)
        return download(current_app.json.dumps(body), GEOJSON, f"{name}.geojson")
    result["from_"] = result.pop("from")
    return result


# -- hot spots ---------------------------------------------------------------------------------------------------


class HotspotsQuery(PeriodQuery):
    eps = ma.fields.Float(
        load_default=50.0,
        validate=ma.validate.Range(min=1, max=5000),
        metadata={"description": "DBSCAN: metres within which cases are neighbours"},
    )
    min_points = ma.fields.Integer(
        load_default=5,
        validate=ma.validate.Range(min=2, max=1000),
        metadata={"description": "DBSCAN: cases within eps that make a core of a cluster"},
    )
    alpha = ma.fields.Float(
        load_default=0.05,
        validate=ma.validate.Range(min=0.0001, max=0.5),
        metadata={"description": "False discovery rate of the hot and cold cells (Benjamini–Hochberg)"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    format = _formats("json", "csv", "geojson")


class ClusterSchema(ma.Schema):
    cluster = ma.fields.Integer()
    cases = ma.fields.Integer()
    top_category = ma.fields.String(metadata={"description": "The most common category"})
    top_category_name = ma.fields.String(allow_none=True)
    top_category_name_en = ma.fields.String(allow_none=True)
    lon = ma.fields.Float()
    lat = ma.fields.Float()
    hull = ma.fields.Dict(metadata={"description": "GeoJSON geometry of the cluster's convex hull (WGS-84)"})
    case_codes = ma.fields.List(ma.fields.String())


class HotCellSchema(ma.Schema):
    code = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "hot | cold"})
    z = ma.fields.Float(metadata={"description": "Getis-Ord Gi* z-score"})
    p = ma.fields.Float(metadata={"description": "Exact two-sided p-value under complete spatial randomness"})
    q = ma.fields.Float(metadata={"description": "Benjamini–Hochberg adjusted p-value"})
    cases = ma.fields.Integer()
    neighbourhood_cases = ma.fields.Integer()
    expected = ma.fields.Float(metadata={"description": "Cases expected in the neighbourhood by its share of area"})


class HotspotsSchema(ScopeSchema):
    eps = ma.fields.Float()
    min_points = ma.fields.Integer()
    alpha = ma.fields.Float()
    cells_tested = ma.fields.Integer()
    clusters = ma.fields.List(ma.fields.Nested(ClusterSchema))
    cells = ma.fields.List(ma.fields.Nested(HotCellSchema))


HOTSPOT_COLUMNS = (
    "layer",
    "code",
    "kind",
    "z",
    "p",
    "q",
    "cases",
    "neighbourhood_cases",
    "expected",
    "cluster",
    "top_category",
    "lon",
    "lat",
)


@blp.get("/hotspots")
@blp.arguments(HotspotsQuery, location="query", error_status_code=400)
@blp.response(200, HotspotsSchema)
@blp.doc(**_doc("Hotspots", "one row a hot or cold cell or a cluster: " + ", ".join(HOTSPOT_COLUMNS), geojson=True))
@blp.alt_response(422, description="A period longer than 366 days, to before from, a day not yet begun")
@allow(*ROLES)
def hotspots(query: dict[str, Any]) -> Any:
    """DBSCAN clusters of the cases (eps metres, min_points) and the significant hot and cold cells (Gi*)."""
    settings = current_app.extensions["citymgmt.settings"]
    session = db.session()
    result = hotspots_module.hotspots(
        session,
        _scope(query),
        settings,
        eps=query["eps"],
        min_points=query["min_points"],
        alpha=query["alpha"],
        limit=query["limit"],
        fresh=query["fresh"],
    )
    name = _name(query, "hotspots")
    if query["format"] == "csv":
        rows = [{"layer": "cell", **c} for c in result["cells"]] + [
            {"layer": "cluster", **c} for c in result["clusters"]
        ]
        return download(csv_text(HOTSPOT_COLUMNS, rows), "text/csv", f"{name}.csv")
    if query["format"] == "geojson":
        body = hotspots_module.hotspot_features(session, result)
        return download(current_app.json.dumps(body), GEOJSON, f"{name}.geojson")
    result["from_"] = result.pop("from")
    return result


# -- anomalies ---------------------------------------------------------------------------------------------------


class AnomaliesQuery(FilterQuery):
    day = ma.fields.Date(load_default=None, metadata={"description": "The day (city's zone); today if left out"})
    by = ma.fields.String(
        load_default="cell",
        validate=ma.validate.OneOf(anomalies_module.PLACES),
        metadata={"description": "cell | community | street | district"},
    )
    weeks = ma.fields.Integer(
        load_default=8,
        validate=ma.validate.Range(min=2, max=52),
        metadata={"description": "The baseline: the same weekday in this many weeks before"},
    )
    alpha = ma.fields.Float(
        load_default=0.05,
        validate=ma.validate.Range(min=0.0001, max=0.5),
        metadata={"description": "False discovery rate (Benjamini–Hochberg) over the places tested"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
    format = _formats("json", "csv", "geojson")


class AnomalySchema(PlaceSchema):
    count = ma.fields.Integer(metadata={"description": "Cases in the day (up to now, for today)"})
    baseline_mean = ma.fields.Float(metadata={"description": "Mean cases in the same hours of the baseline days"})
    p = ma.fields.Float()
    q = ma.fields.Float(metadata={"description": "Benjamini–Hochberg adjusted p-value"})


class AnomaliesSchema(ScopeSchema):
    day = ma.fields.String()
    until = ma.fields.String(metadata={"description": "The end of the day's window (now, for today)"})
    by = ma.fields.String()
    weeks = ma.fields.Integer()
    alpha = ma.fields.Float()
    places_tested = ma.fields.Integer()
    anomalies = ma.fields.List(ma.fields.Nested(AnomalySchema))


ANOMALY_COLUMNS = ("place", "place_name", "category_code", "category_name", "count", "baseline_mean", "p", "q")


@blp.get("/anomalies")
@blp.arguments(AnomaliesQuery, location="query", error_status_code=400)
@blp.response(200, AnomaliesSchema)
@blp.doc(**_doc("Anomalies", "one row a place and category: " + ", ".join(ANOMALY_COLUMNS), geojson=True))
@blp.alt_response(422, description="A period longer than 366 days, to before from, a day not yet begun")
@allow(*ROLES)
def anomalies(query: dict[str, Any]) -> Any:
    """What is unusual in the day: places and categories whose count is significantly above the same weekday of the
    weeks before (the same hours while the day runs), most significant first."""
    settings = current_app.extensions["citymgmt.settings"]
    session, now = db.session(), utcnow()
    filters = {k: query[k] for k in ("area", "family", "category")}
    scope = anomalies_module.day_scope(query["day"], now, settings, **filters)
    result = anomalies_module.anomalies(
        session,
        scope,
        settings,
        now,
        by=query["by"],
        weeks=query["weeks"],
        alpha=query["alpha"],
        limit=query["limit"],
        fresh=query["fresh"],
    )
    name = f"anomalies-{query['by']}-{result['day']}"
    if query["format"] == "csv":
        return download(csv_text(ANOMALY_COLUMNS, result["anomalies"]), "text/csv", f"{name}.csv")
    if query["format"] == "geojson":
        body = place_features(session, query["by"], result["anomalies"])
        return download(current_app.json.dumps(body), GEOJSON, f"{name}.geojson")
    result["from_"] = result.pop("from")
    return result


# -- time patterns -----------------------------------------------------------------------------------------------


class PatternsQuery(PeriodQuery):
    group_by = ma.fields.String(
        load_default="category",
        validate=ma.validate.OneOf(patterns_module.GROUPINGS),
        metadata={"description": "category (a profile each) | all (one profile)"},
    )
    format = _formats("json", "csv")


class PeakSchema(ma.Schema):
    weekday = ma.fields.Integer(metadata={"description": "1 = Monday … 7 = Sunday"})
    hour = ma.fields.Integer(metadata={"description": "0–23, city's zone"})
    cases = ma.fields.Integer()


class ProfileSchema(ma.Schema):
    category_code = ma.fields.String(allow_none=True, metadata={"description": "None for all categories"})
    category_name = ma.fields.String(allow_none=True)
    category_name_en = ma.fields.String(allow_none=True)
    cases = ma.fields.Integer()
    peak = ma.fields.Nested(PeakSchema)
    by_weekday = ma.fields.List(ma.fields.Integer(), metadata={"description": "Monday first"})
    by_hour = ma.fields.List(ma.fields.Integer())
    matrix = ma.fields.List(
        ma.fields.List(ma.fields.Integer()), metadata={"description": "7 rows (Monday first) of 24 hours"}
    )


class PatternsSchema(ScopeSchema):
    group_by = ma.fields.String()
    timezone = ma.fields.String()
    groups = ma.fields.List(ma.fields.Nested(ProfileSchema))


PATTERN_COLUMNS = ("category_code", "category_name", "weekday", "hour", "cases")


@blp.get("/patterns")
@blp.arguments(PatternsQuery, location="query", error_status_code=400)
@blp.response(200, PatternsSchema)
@blp.doc(**_doc("Patterns", "one row a category, weekday and hour: " + ", ".join(PATTERN_COLUMNS), geojson=False))
@blp.alt_response(422, description="A period longer than 366 days, to before from, a day not yet begun")
@allow(*ROLES)
def patterns(query: dict[str, Any]) -> Any:
    """The hour-of-week profile (weekday × hour, city's zone) of each category, or of all cases."""
    settings = current_app.extensions["citymgmt.settings"]
    result = patterns_module.patterns(
        db.session(), _scope(query), settings, group_by=query["group_by"], fresh=query["fresh"]
    )
    if query["format"] == "csv":
        rows = [
            {**g, "weekday": d + 1, "hour": h, "cases": g["matrix"][d][h]}
            for g in result["groups"]
            for d in range(7)
            for h in range(24)
        ]
        return download(csv_text(PATTERN_COLUMNS, rows), "text/csv", f"{_name(query, 'patterns')}.csv")
    result["from_"] = result.pop("from")
    return result
