"""The supervisor dashboard's figures (监督指挥大屏): cells coloured by an indicator, daily trends, the live feed.

All set-based SQL. The cell indicators come from the evaluation's counts (dispatch/metrics/operations.py, from the
roll-ups or, with `fresh`, directly) joined to the live cells in the database:

- on_time_closing_rate (按期结案率) = closed_on_time / (closed + overdue_open), None when nothing was due;
- overdue_open (超期未结案数), as the evaluation counts it (open cases whose handling deadline fell in the period);
- density (案件密度) = cases reported in the cell in the period (any state, counted live from cases) per km².

The map's GeoJSON is built by PostgreSQL itself (json_agg), so a city of ten thousand cells is one statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.errors import ValidationError
from dispatch.metrics.operations import Period, counts_sql

CELL_INDICATORS = ("on_time_closing_rate", "overdue_open", "density")
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
_VALUE = {
    "on_time_closing_rate": "round(m.closed_on_time::numeric / NULLIF(m.closed + m.overdue_open, 0), 4)::float8",
    "overdue_open": "COALESCE(m.overdue_open, 0)::float8",
    "density": "round(COALESCE(r.reported, 0) / (g.area_m2 / 1e6)::numeric, 2)::float8",
}


def _cells_sql(indicator: str, counts: str, with_geometry: bool) -> str:
    geometry = ", ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tol), 6)::json AS geometry" if with_geometry else ""
    return f"""
    SELECT g.code, g.community_code, {_VALUE[indicator]} AS value,
           COALESCE(r.reported, 0) AS reported,
           COALESCE(m.closed + m.overdue_open, 0) AS due, COALESCE(m.closed, 0) AS closed,
           COALESCE(m.closed_on_time, 0) AS closed_on_time, COALESCE(m.overdue_open, 0) AS overdue_open,
           round((g.area_m2 / 1e6)::numeric, 4)::float8 AS area_km2{geometry}
    FROM grid_cells g
    LEFT JOIN ({counts}) m ON m.key = g.code
    LEFT JOIN (SELECT cell_code, count(*)::int AS reported FROM cases
               WHERE reported_at >= :start AND reported_at < :end GROUP BY cell_code) r ON r.cell_code = g.code
    WHERE g.retired_at IS NULL
      AND (CAST(:w AS float8) IS NULL OR g.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326))
    """  # noqa: S608 (constants and the evaluation's own SQL only)


def _params(
    indicator: str,
    period: Period,
    now: datetime,
    settings: Settings,
    bbox: tuple[float, float, float, float] | None,
    fresh: bool,
) -> tuple[str, dict[str, Any]]:
    if indicator not in CELL_INDICATORS:
        raise ValidationError(
            f"indicator must be one of {', '.join(CELL_INDICATORS)}", details={"indicator": "unknown indicator"}
        )
    counts, params = counts_sql("cell", period, now, settings, fresh)
    start, end = period.bounds(settings.zone)
    west, south, east, north = bbox or (None, None, None, None)
    params = {**params, "start": start, "end": end, "w": west, "s": south, "e": east, "n": north}
    return counts, params


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
    counts, params = _params(indicator, period, now, settings, bbox, fresh)
    rows = session.execute(text(_cells_sql(indicator, counts, False) + " ORDER BY g.code"), params)
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
) -> str:
    """The same as a GeoJSON FeatureCollection (text), polygons simplified to about half a pixel at `zoom`."""
    if not 0 <= zoom <= 22:
        raise ValidationError("zoom must be between 0 and 22", details={"zoom": "between 0 and 22"})
    counts, params = _params(indicator, period, now, settings, bbox, fresh)
    params["tol"] = 360.0 / (256 * 2**zoom) / 2
    properties = ", ".join(f"'{c}', c.{c}" for c in CELL_COLUMNS)
    sql = f"""
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'indicator', CAST(:indicator AS text),
        'features', COALESCE(json_agg(json_build_object(
            'type', 'Feature', 'id', c.code, 'geometry', c.geometry,
            'properties', json_build_object({properties})) ORDER BY c.code), '[]'::json)
    )::text
    FROM ({_cells_sql(indicator, counts, True)}) c
    """  # noqa: S608 (constants only)
    result: str = session.execute(text(sql), {**params, "indicator": indicator}).scalar_one()
    return result


DAILY_SQL = """
SELECT d::date AS day,
       COALESCE(r.n, 0) AS reported, COALESCE(c.n, 0) AS closed, COALESCE(o.n, 0) AS overdue
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
LEFT JOIN (SELECT (reported_at AT TIME ZONE :tz)::date AS day, count(*)::int AS n FROM cases
           WHERE reported_at >= :start AND reported_at < :end GROUP BY 1) r ON r.day = d::date
LEFT JOIN (SELECT (closed_at AT TIME ZONE :tz)::date AS day, count(*)::int AS n FROM cases
           WHERE status = 'closed' AND closed_at >= :start AND closed_at < :end GROUP BY 1) c ON c.day = d::date
LEFT JOIN (SELECT (at AT TIME ZONE :tz)::date AS day, count(DISTINCT case_id)::int AS n FROM case_events
           WHERE action = 'overdue' AND at >= :start AND at < :end GROUP BY 1) o ON o.day = d::date
ORDER BY d
"""


def daily(session: Session, period: Period, settings: Settings) -> list[dict[str, Any]]:
    """Per day of the period (city's zone): cases reported, cases closed, and cases that went overdue (red light)."""
    start, end = period.bounds(settings.zone)
    params = {"first": period.first, "last": period.last, "start": start, "end": end, "tz": settings.timezone}
    return [dict(r._mapping) for r in session.execute(text(DAILY_SQL), params)]


FEED_SQL = """
SELECT e.id, e.at, e.action AS kind, c.id AS case_id, c.code, c.category_code,
       k.name AS category_name, k.name_en AS category_name_en, c.cell_code, c.status, c.light, c.urgency
FROM case_events e
JOIN cases c ON c.id = e.case_id
LEFT JOIN LATERAL (
    SELECT k.name, k.name_en FROM categories k JOIN taxonomy_versions v ON v.code = k.version_code
    WHERE k.code = c.category_code ORDER BY v.current DESC, v.effective_from DESC LIMIT 1
) k ON true
WHERE e.action IN ('report', 'overdue') AND e.at <= :now
ORDER BY e.at DESC, e.id DESC
LIMIT :limit
"""


def feed(session: Session, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """The latest new and overdue cases (newest first): what the case is and where, never who reported it."""
    return [dict(r._mapping) for r in session.execute(text(FEED_SQL), {"now": now, "limit": limit})]
