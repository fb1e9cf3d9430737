"""Candidate duplicates (重复案件): open cases of the same category reported near the same place shortly before.
*Local* rule, configurable: 50 m and 24 h by default. Candidates are linked, never merged automatically."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from dispatch.cases import OPEN_STATES


@dataclass(frozen=True)
class Candidate:
    id: int
    code: str
    distance_m: float
    reported_at: datetime


def find_candidates(
    session: Session,
    category_code: str,
    lon: float,
    lat: float,
    now: datetime,
    radius_m: float,
    window: timedelta,
    limit: int = 5,
) -> list[Candidate]:
    if radius_m <= 0 or window <= timedelta(0):
        return []
    # A box in degrees around the point, for the index; the exact distance on the spheroid decides.
    degrees = radius_m / 111_320 / max(math.cos(math.radians(lat)), 0.01)
    rows = session.execute(
        text(
            """
            SELECT id, code, ST_Distance(point::geography, p::geography) AS d, reported_at
            FROM cases, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS p) q
            WHERE category_code = :category AND reported_at >= :since AND reported_at <= :now
              AND status = ANY(:open) AND duplicate_of IS NULL
              AND point && ST_Expand(p, :deg)
              AND ST_DWithin(point::geography, p::geography, :radius)
            ORDER BY d, reported_at
            LIMIT :limit
            """
        ),
        {
            "lon": lon,
            "lat": lat,
            "category": category_code,
            "since": now - window,
            "now": now,
            "open": list(OPEN_STATES),
            "deg": degrees,
            "radius": radius_m,
            "limit": limit,
        },
    ).all()
    return [Candidate(r[0], r[1], round(float(r[2]), 1), r[3]) for r in rows]
