"""The component registry (部件普查): the city's physical assets, each with its 16-digit id, class, owner and place.

An asset id is 6-digit district (GB/T 2260) + 2-digit major + 2-digit minor class + 6-digit serial, e.g.
`3205820102048188` is sewer cover (C0102) number 048188 of district 320582. The class is stored beside the id as a
taxonomy code (`C0102`) and must agree with it. Owners drive routing (先属主、后属地): the case of a component goes
to its owner first. Nothing is deleted: an asset taken out of service is retired (停用) with a timestamp.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from geoalchemy2.shape import to_shape
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.db import db
from citymgmt.core.errors import NotFound, ValidationError
from dispatch.components.queries import NAMED_DISTANCE_SQL, NEARBY_SQL, RETIRE_IN_DISTRICTS_SQL
from dispatch.taxonomy.operations import Category, current_version
from grids.crs import to_wgs84
from grids.matching import check_coordinates

# Status of an asset, as the registry survey (部件普查) records it.
STATUSES = {
    "in_use": "在用",
    "damaged": "损坏",
    "missing": "丢失",
    "retired": "停用",  # out of service: never suggested for a report, kept for history
}
ASSET_ID = re.compile(r"^[0-9]{16}$")


def class_of(asset_id: str) -> str:
    """The taxonomy code an asset id implies: digits 7-10 of the id, with the component family's C."""
    return "C" + asset_id[6:10]


class Component(db.Model):  # type: ignore[name-defined]
    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    class_code: Mapped[str] = mapped_column(String(5), index=True)
    district_code: Mapped[str] = mapped_column(String(6))
    owner_department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)
    point = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    # The live cell covering the point when it was imported; none if outside every cell.
    cell_code: Mapped[str | None] = mapped_column(ForeignKey("grid_cells.code"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="in_use", server_default="in_use")
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(200))
    # Whatever else the survey recorded (material, size, survey date...): kept, shown, not interpreted.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "id ~ '^[0-9]{16}$' AND class_code = 'C' || substr(id, 7, 4) AND district_code = left(id, 6)",
            name="id_parts",
        ),
        CheckConstraint("status IN ('in_use', 'damaged', 'missing', 'retired')", name="status"),
        CheckConstraint("(status = 'retired') = (retired_at IS NOT NULL)", name="retired"),
        # Nearest-asset searches look at live assets only.
        Index(
            "ix_components_live_point", "point", postgresql_using="gist", postgresql_where=text("retired_at IS NULL")
        ),
    )

    @property
    def live(self) -> bool:
        return self.retired_at is None


def component_classes(session: Session) -> dict[str, str]:
    """The component minor classes of the current taxonomy: code → zh-CN name."""
    rows = session.execute(
        select(Category.code, Category.name).where(
            Category.version_code == current_version(session),
            Category.family == "component",
            Category.level == "minor",
        )
    ).all()
    return {code: name for code, name in rows}


def get_component(session: Session, asset_id: str) -> Component:
    component = session.get(Component, asset_id.strip()) if ASSET_ID.match(asset_id.strip()) else None
    if component is None:
        raise NotFound(f"no component {asset_id} in the registry", details={"component_id": asset_id})
    return component


@dataclass(frozen=True)
class Nearby:
    component: Component
    distance_m: float


# The KNN scan takes this many candidates per result wanted before distances in metres reorder them: its order is
# in degrees, and a metre east is 1/cos(lat) times more degrees than a metre north, so the nearest in metres can
# rank a little later than first. Within a search radius of tens of metres the candidates of one class are few.
KNN_CANDIDATES_PER_RESULT = 4
KNN_MIN_CANDIDATES = 50


def nearby_components(
    session: Session,
    lon: float,
    lat: float,
    within_m: float,
    class_code: str | None = None,
    limit: int = 20,
) -> list[Nearby]:
    """Live assets (of the class, if given) within `within_m` metres of a WGS-84 point, nearest first.

    The partial GiST index does the work: a box around the point bounds the scan, `<->` orders it (KNN), and the
    distance on the spheroid decides what is within the radius and the final order."""
    if within_m <= 0 or limit <= 0:
        return []
    degrees = within_m / 111_320 / max(math.cos(math.radians(lat)), 0.01)
    rows = session.execute(
        text(NEARBY_SQL),
        {
            "lon": lon,
            "lat": lat,
            "class": class_code,
            "deg": degrees,
            "within": within_m,
            "candidates": max(KNN_MIN_CANDIDATES, KNN_CANDIDATES_PER_RESULT * limit),
            "limit": limit,
        },
    ).all()
    if not rows:
        return []
    found = {
        c.id: c for c in session.execute(select(Component).where(Component.id.in_([r[0] for r in rows]))).scalars()
    }
    return [Nearby(found[asset_id], round(float(d), 1)) for asset_id, d in rows]


def nearest_component(session: Session, class_code: str, lon: float, lat: float, within_m: float) -> Nearby | None:
    """The nearest live asset of the class within `within_m` metres of a WGS-84 point, with its distance; or None."""
    found = nearby_components(session, lon, lat, within_m, class_code, limit=1)
    return found[0] if found else None


# -- a case's asset (intake) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseComponent:
    component: Component
    distance_m: float  # from the case's point
    source: str  # named | suggested

    def payload(self) -> dict[str, Any]:
        """As recorded in the report event (and shown in the case view)."""
        return {
            "id": self.component.id,
            "class_code": self.component.class_code,
            "owner_department_code": self.component.owner_department_code,
            "distance_m": self.distance_m,
            "source": self.source,
        }


def named_component(session: Session, asset_id: Any, category: Category) -> Component:
    """The asset a reporter names: it must be registered, live and of the reported category's class (422 naming
    `component_id` otherwise)."""
    given = str(asset_id).strip()
    if not ASSET_ID.match(given):
        raise ValidationError(
            f"component_id {given!r} is not an asset id: 16 digits (district, class, serial)",
            details={"component_id": "not 16 digits"},
        )
    if category.family != "component":
        raise ValidationError(
            f"{category.code} is an event category: only a component category (C...) names an asset",
            details={"component_id": "category is an event"},
        )
    component = session.get(Component, given)
    if component is None:
        raise ValidationError(f"no component {given} in the registry", details={"component_id": "unknown"})
    if component.retired_at is not None:
        raise ValidationError(
            f"component {given} is retired (停用) since {component.retired_at:%Y-%m-%d}",
            details={"component_id": "retired"},
        )
    if component.class_code != category.code:
        raise ValidationError(
            f"component {given} is a {component.class_code}, not a {category.code}",
            details={"component_id": f"class {component.class_code}"},
        )
    return component


def component_point(session: Session, component: Component) -> tuple[float, float]:
    lon, lat = session.execute(
        select(func.ST_X(Component.point), func.ST_Y(Component.point)).where(Component.id == component.id)
    ).one()
    return float(lon), float(lat)


def case_component(
    session: Session, named: Component | None, category: Category, lon: float, lat: float, radius_m: float
) -> CaseComponent | None:
    """The asset of a new case: the one named, or else for a component category the nearest live one of its
    class within the radius (a suggestion the centre may correct), or none."""
    if named is not None:
        distance = session.execute(
            text(NAMED_DISTANCE_SQL),
            {"lon": lon, "lat": lat, "id": named.id},
        ).scalar_one()
        return CaseComponent(named, round(float(distance), 1), "named")
    if category.family != "component":
        return None
    nearest = nearest_component(session, category.code, lon, lat, radius_m)
    return CaseComponent(nearest.component, nearest.distance_m, "suggested") if nearest else None


def report_point(session: Session, lon: Any, lat: Any, crs: str, named: Component | None) -> tuple[Any, Any, str]:
    """Where a report is: its own point, or, when it gives none but names an asset (read off the asset's id
    plate), the asset's registered point (WGS-84)."""
    if lon is not None and lat is not None:
        return lon, lat, crs
    if named is not None and lon is None and lat is None:
        return (*component_point(session, named), "wgs84")
    missing = {name: "required" for name, value in (("lon", lon), ("lat", lat)) if value is None}
    raise ValidationError("lon and lat are required unless component_id names a registered asset", details=missing)


def case_component_view(session: Session, case: Any, report_payload: dict[str, Any]) -> dict[str, Any] | None:
    """A case's asset as the case view shows it: the owner as registered now, the distance as found at intake."""
    if case.component_id is None:
        return None
    component = session.get(Component, case.component_id)
    assert component is not None
    recorded = report_payload.get("component") or {}
    return {
        "id": component.id,
        "class_code": component.class_code,
        "owner_department_code": component.owner_department_code,
        "name": component.name,
        "status": component.status,
        "distance_m": recorded.get("distance_m"),
        "source": case.component_source,
    }


def component_view(
    component: Component, class_names: dict[str, str], distance_m: float | None = None
) -> dict[str, Any]:
    """An asset as the API shows it (WGS-84 point)."""
    point = to_shape(component.point)  # type: ignore[arg-type]  # a WKBElement once loaded
    view = {
        "id": component.id,
        "class_code": component.class_code,
        "class_name": class_names.get(component.class_code),
        "district_code": component.district_code,
        "owner_department_code": component.owner_department_code,
        "lon": point.x,
        "lat": point.y,
        "cell_code": component.cell_code,
        "status": component.status,
        "status_name": STATUSES[component.status],
        "name": component.name,
        "address": component.address,
        "attributes": component.attributes,
        "imported_at": component.imported_at,
        "updated_at": component.updated_at,
        "retired_at": component.retired_at,
    }
    if distance_m is not None:
        view["distance_m"] = distance_m
    return view


def component_detail(session: Session, asset_id: str) -> dict[str, Any]:
    component = get_component(session, asset_id)
    return component_view(component, component_classes(session))


def search_components(
    session: Session, lon: Any, lat: Any, crs: str, within_m: float, class_code: str | None, limit: int
) -> list[dict[str, Any]]:
    """Live assets near a point (WGS-84, GCJ-02 or BD-09), nearest first; BadCoordinates for impossible ones."""
    x, y = to_wgs84(*check_coordinates(lon, lat), crs)
    classes = component_classes(session)
    return [
        component_view(n.component, classes, n.distance_m)
        for n in nearby_components(session, x, y, within_m, class_code, limit)
    ]


def retire_components_in(session: Session, district_codes: list[str], now: datetime) -> int:
    """Retire (停用) every live asset of these districts; how many."""
    result = session.execute(text(RETIRE_IN_DISTRICTS_SQL), {"districts": district_codes, "now": now})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
