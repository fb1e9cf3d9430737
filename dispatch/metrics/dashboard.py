"""The supervisor dashboard's figures (监督指挥大屏): cells coloured by an indicator, daily trends, the live feed.

All set-based SQL. The cell indicators come from the evaluation's counts (dispatch/metrics/operations.py, from the
roll-ups or, with `fresh`, directly) joined to the live cells in the database:

- on_time_closing_rate (按期结案率) = closed_on_time / (closed + overdue_open), None when nothing was due;
- overdue_open (超期未结案数), as the evaluation counts it (open cases whose handling deadline fell in the period);
- density (案件密度) = cases reported in the cell in the period (any state but merged into another case as its
  duplicate, counted live from cases) per km².

The map's GeoJSON is built by PostgreSQL itself (json_agg), so a city of ten thousand cells is one statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.errors import ValidationError
from dispatch.metrics.operations import Period, counts_sql, from_rollups, indicators
from dispatch.metrics.queries import DAILY_SQL, FEED_SQL, cell_features_sql, cells_sql, community_features_sql
from grids.maps import cell_codes_in_box, outline_zoom

CELL_INDICATORS = ("on_time_closing_rate", "overdue_open", "density")
MAP_LEVELS = ("cell", "community")  # a community's figures are its cells' counts added up
CELL_COLUMNS = (
    "code",
    "community_code",
    "value",
    "reported",
    "due",
    "closed",
    "closed_on_time",
    "overdue_open",
    "area_km2",
)


def _params(
    indicator: str,
    period: Period,
    now: datetime,
    settings: Settings,
    bbox: tuple[float, float, float, float] | None,
    fresh: bool,
    group_by: str = "cell",
    keys: list[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    if indicator not in CELL_INDICATORS:
        raise ValidationError(
            f"indicator must be one of {', '.join(CELL_INDICATORS)}", details={"indicator": "unknown indicator"}
        )
    counts, params = counts_sql(group_by, period, now, settings, fresh, keys)
    start, end = period.bounds(settings.zone)
    west, south, east, north = bbox or (None, None, None, None)
    params = {**params, "start": start, "end": end, "w": west, "s": south, "e": east, "n": north}
    return counts, params


def _cells_in(session: Session, bbox: tuple[float, float, float, float] | None) -> list[str] | None:
    """The cells of a box (grids finds them by its index), or None for the whole city: what is counted is read for
    them alone, by key."""
    return None if bbox is None else cell_codes_in_box(session, bbox)


def cell_values(
    session: Session,
    indicator: str,
    period: Period,
    now: datetime,
    settings: Settings,
    bbox: tuple[float, float, float, float] | None = None,
    fresh: bool = False,
) -> list[dict[str, Any]]:
    """Every live cell (in the box) with its indicator value and the counts behind it, by code."""
    keys = _cells_in(session, bbox)
    counts, params = _params(indicator, period, now, settings, bbox, fresh, keys=keys)
    rows = session.execute(text(cells_sql(indicator, counts, False, keys is not None) + " ORDER BY g.code"), params)
    return [dict(r._mapping) for r in rows]


def cell_features(
    session: Session,
    indicator: str,
    period: Period,
    now: datetime,
    settings: Settings,
    bbox: tuple[float, float, float, float] | None = None,
    zoom: int = 14,
    fresh: bool = False,
    level: str = "cell",
) -> str:
    """The same as a GeoJSON FeatureCollection (text), polygons simplified to about half a pixel at `zoom`; with
    level="community", the communities instead, their cells' counts added up (a 100 m cell is a speck at district
    zoom), from the roll-ups' rows of the communities and their outlines kept simplified by zoom (grids)."""
    if not 0 <= zoom <= 22:
        raise ValidationError("zoom must be between 0 and 22", details={"zoom": "between 0 and 22"})
    if level not in MAP_LEVELS:
        raise ValidationError(f"level must be one of {', '.join(MAP_LEVELS)}", details={"level": "unknown level"})
    keys = _cells_in(session, bbox) if level == "cell" else None
    counts, params = _params(indicator, period, now, settings, bbox, fresh, group_by=level, keys=keys)
    params["tol"] = 360.0 / (256 * 2**zoom) / 2
    params["outline_zoom"] = outline_zoom(zoom)
    if level == "community":
        sql = community_features_sql(indicator, counts, CELL_COLUMNS)
    else:
        sql = cell_features_sql(indicator, counts, CELL_COLUMNS, keys is not None)
    result: str = session.execute(text(sql), {**params, "indicator": indicator}).scalar_one()
    return result


def daily(session: Session, period: Period, settings: Settings) -> list[dict[str, Any]]:
    """Per day of the period (city's zone): cases reported, cases closed, and cases that went overdue (red light)."""
    start, end = period.bounds(settings.zone)
    params = {"first": period.first, "last": period.last, "start": start, "end": end, "tz": settings.timezone}
    return [dict(r._mapping) for r in session.execute(text(DAILY_SQL), params)]


def feed(session: Session, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """The latest new and overdue cases (newest first): what the case is and where, never who reported it."""
    return [dict(r._mapping) for r in session.execute(text(FEED_SQL), {"now": now, "limit": limit})]


def headline(session: Session, period: Period, now: datetime, settings: Settings) -> dict[str, Any]:
    """The big screen's four figures: today's reported, closed and gone-overdue cases (the city's day, live), and
    the period's on-time closing rate (按期结案率) of the whole city, from the evaluation's counts of its districts
    added up (as of the roll-ups' last build, as the league table); None when nothing was due."""
    today = now.astimezone(settings.zone).date()
    day = daily(session, Period(today, today), settings)[0]
    districts = from_rollups(session, "district", period).values()
    city = {name: sum(c[name] for c in districts) for name in next(iter(districts), {})}
    figures = indicators(city, "region") if city else None
    return {
        "day": today,
        "reported": day["reported"],
        "closed": day["closed"],
        "overdue": day["overdue"],
        "due": figures["counts"]["due"] if figures else 0,
        "on_time_closing_rate": figures["rates"]["on_time_closing_rate"] if figures else None,
    }
