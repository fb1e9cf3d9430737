"""What an analysis looks at: the period (days in the city's zone, as the evaluation's `Period`), the area, the
category family and a category code prefix; and the names its answers carry."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.errors import ValidationError
from dispatch.analysis.queries import AREA_COLUMNS, AREA_NAMES_SQL, CATEGORY_NAMES_SQL, PLACE_GEOMETRY_SQL
from dispatch.metrics.operations import Period

FAMILIES = ("component", "event")
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)  # (a year's baseline before, a day after: still dates)
_AREA = re.compile(r"^[0-9]{6}([0-9]{3}){0,3}$")  # a district, street, community or cell code
_CATEGORY = re.compile(r"^[A-Za-z0-9]{1,10}$")


@dataclass(frozen=True)
class Scope:
    period: Period
    area: str | None = None  # a district, street, community or cell code
    family: str | None = None  # component | event
    category: str | None = None  # a category code or its prefix (E01: the event class 01)

    def __post_init__(self) -> None:
        for name, day in (("from", self.period.first), ("to", self.period.last)):
            if not EARLIEST <= day <= LATEST:
                raise ValidationError(f"{name} must be between {EARLIEST} and {LATEST}", details={name: "out of range"})
        if self.area is not None and not _AREA.match(self.area):
            raise ValidationError(
                "area must be a district (6 digits), street (9), community (12) or cell (15) code",
                details={"area": "not an area code"},
            )
        if self.family is not None and self.family not in FAMILIES:
            raise ValidationError("family must be component or event", details={"family": "unknown family"})
        if self.category is not None and not _CATEGORY.match(self.category):
            raise ValidationError("category must be a category code or its prefix", details={"category": "not a code"})

    @property
    def area_column(self) -> str | None:
        """The column of cases (and of the roll-up) that names the area's level; None for everywhere."""
        return None if self.area is None else AREA_COLUMNS[len(self.area)]

    def params(self, settings: Settings) -> dict[str, Any]:
        start, end = self.period.bounds(settings.zone)
        return {
            "start": start,
            "end": end,
            "first": self.period.first,
            "last": self.period.last,
            "area": self.area,
            "family": self.family,
            "category": self.category.upper() if self.category else None,
            "tz": settings.timezone,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "area": self.area,
            "family": self.family,
            "category": self.category,
        }


def category_names(session: Session, codes: set[str]) -> dict[str, tuple[str, str]]:
    """Category code → (name, English name)."""
    rows = session.execute(text(CATEGORY_NAMES_SQL), {"codes": sorted(codes)})
    return {r.code: (r.name, r.name_en) for r in rows}


def area_names(session: Session, codes: set[str]) -> dict[str, str]:
    rows = session.execute(text(AREA_NAMES_SQL), {"codes": sorted(codes)})
    return {r.code: r.name for r in rows}


def place_features(session: Session, by: str, rows: list[dict[str, Any]], key: str = "place") -> dict[str, Any]:
    """The rows as a GeoJSON FeatureCollection, each with its place's geometry (`by`: cell, community, street,
    district or component; the row's place under `key`) and its fields as properties (lists left out)."""
    table = by if by in ("cell", "component") else "area"
    codes = sorted({r[key] for r in rows})
    geometry = {
        r.code: json.loads(r.geometry) for r in session.execute(text(PLACE_GEOMETRY_SQL[table]), {"codes": codes})
    }
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": f"{r[key]}-{r['category_code']}" if "category_code" in r else r[key],
                "geometry": geometry.get(r[key]),
                "properties": {k: v for k, v in r.items() if not isinstance(v, list | dict)},
            }
            for r in rows
        ],
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
