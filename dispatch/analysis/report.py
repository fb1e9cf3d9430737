"""The weekly analysis report (`citymgmt analysis report --week`): one self-contained HTML page for supervisors
with the week's hot spots on a map, the recurring places and repeats after closure, each day's anomalies and the
hour-of-week profile as charts. Maps and charts are inline SVG drawn here, so the file opens anywhere (mail, an
intranet share) with no script and no network."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from dispatch.analysis.anomalies import anomalies
from dispatch.analysis.hotspots import hotspot_features, hotspots
from dispatch.analysis.patterns import patterns
from dispatch.analysis.recurrence import recurrence
from dispatch.analysis.scope import Scope
from dispatch.metrics.operations import Period
from grids.maps import area_outlines

MAP_WIDTH, MAP_HEIGHT = 900, 640
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]), keep_trailing_newline=True
)


def _rings(geometry: dict[str, Any] | None) -> list[list[list[float]]]:
    if not geometry:
        return []
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    if geometry["type"] == "LineString":
        return [geometry["coordinates"]]
    if geometry["type"] == "Point":
        return [[geometry["coordinates"]]]
    return []


def svg_map(outlines: dict[str, Any], features: dict[str, Any]) -> dict[str, Any]:
    """The districts' outlines and the hot-spot features as SVG paths (an equirectangular projection scaled by the
    cosine of the middle latitude, north up), fitted to MAP_WIDTH × MAP_HEIGHT."""
    everything = [r for f in outlines["features"] + features["features"] for r in _rings(f["geometry"])]
    points = [p for ring in everything for p in ring]
    if not points:
        return {"width": MAP_WIDTH, "height": MAP_HEIGHT, "outlines": [], "cells": [], "clusters": []}
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    kx = math.cos(math.radians((south + north) / 2))
    scale = min(MAP_WIDTH / max((east - west) * kx, 1e-9), MAP_HEIGHT / max(north - south, 1e-9)) * 0.96

    def path(geometry: dict[str, Any] | None) -> str:
        parts = []
        for ring in _rings(geometry):
            xy = [(10 + (p[0] - west) * kx * scale, 10 + (north - p[1]) * scale) for p in ring]
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + " Z")
        return " ".join(parts)

    cells = [
        {"d": path(f["geometry"]), "kind": f["properties"]["kind"], "code": f["properties"]["code"]}
        for f in features["features"]
        if f["properties"]["layer"] == "cell"
    ]
    clusters = [
        {"d": path(f["geometry"]), "cases": f["properties"]["cases"]}
        for f in features["features"]
        if f["properties"]["layer"] == "cluster"
    ]
    return {
        "width": MAP_WIDTH + 20,
        "height": int((north - south) * scale) + 20,
        "outlines": [path(f["geometry"]) for f in outlines["features"]],
        "cells": cells,
        "clusters": clusters,
    }


def bars(values: list[int], labels: list[str], width: int = 900, height: int = 160) -> dict[str, Any]:
    """A bar chart's bars as SVG rectangles, the tallest at full height."""
    top = max(values) if values and max(values) > 0 else 1
    step = width / max(len(values), 1)
    return {
        "width": width,
        "height": height + 30,
        "bars": [
            {
                "x": round(i * step + 2, 1),
                "w": round(step - 4, 1),
                "h": round(height * v / top, 1),
                "y": round(height - height * v / top, 1),
                "value": v,
                "label": labels[i],
                "lx": round(i * step + step / 2, 1),
            }
            for i, v in enumerate(values)
        ],
        "base": height,
    }


WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


def weekly_report(
    session: Session, settings: Settings, last_day: date, now: datetime, area: str | None = None, fresh: bool = False
) -> str:
    """The HTML report of the seven days ending with `last_day` (in the city's zone) over the area (all if None),
    from the roll-up (`fresh`: from the cases)."""
    period = Period(last_day - timedelta(days=6), last_day)
    scope = Scope(period, area=area)
    spots = hotspots(session, scope, settings, limit=20, fresh=fresh)
    features = hotspot_features(session, spots)
    repeated = recurrence(session, scope, settings, min_cases=3, days=7, within_days=30, limit=20, fresh=fresh)
    days = []
    for offset in range(7):
        day = period.first + timedelta(days=offset)
        if datetime.combine(day, datetime.min.time(), settings.zone) > now:
            break
        found = anomalies(session, Scope(Period(day, day), area=area), settings, now, limit=10, fresh=fresh)
        days.append({"day": day.isoformat(), "weekday": WEEKDAYS[day.weekday()], "anomalies": found["anomalies"]})
    profile = patterns(session, scope, settings, group_by="all", fresh=fresh)
    by_category = patterns(session, scope, settings, fresh=fresh)["groups"][:10]
    everything = profile["groups"][0] if profile["groups"] else None
    charts = {}
    if everything:
        charts["weekday"] = bars(everything["by_weekday"], [f"周{w}" for w in WEEKDAYS])
        charts["hour"] = bars(everything["by_hour"], [str(h) for h in range(24)])
    return _TEMPLATES.get_template("report.html").render(
        period=period,
        area=area,
        generated=now.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M"),
        timezone=settings.timezone,
        total=everything["cases"] if everything else 0,
        spots=spots,
        map=svg_map(area_outlines(session, "district"), features),
        recurrence=repeated,
        days=days,
        categories=by_category,
        charts=charts,
        weekdays=WEEKDAYS,
    )
