"""Retiring districts: a city's places taken out of use, never deleted (cases and events keep their codes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from grids.maps import refresh_area_maps
from grids.queries import RETIRE_DISTRICTS_SQL


@dataclass(frozen=True)
class Retired:
    areas: int  # districts, streets and communities
    cells: int
    beats: int  # inspectors' cells taken off their beats


def retire_districts(session: Session, district_codes: list[str], now: datetime) -> Retired:
    """Retire these districts, their streets, communities and cells, and end the inspectors' beats on them: maps,
    matching and the big screen no longer see them; reports there are refused as outside the city."""
    areas, cells, beats = session.execute(text(RETIRE_DISTRICTS_SQL), {"districts": district_codes, "now": now}).one()
    refresh_area_maps(session)
    return Retired(int(areas), int(cells), int(beats))
