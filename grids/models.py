"""Areas (district / street / community), unit grid cells and responsibility zones, all stored in WGS-84."""

from __future__ import annotations

import enum
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, DateTime, Enum, Float, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from citymgmt.core.db import Timestamped, db


class AreaLevel(enum.StrEnum):
    district = "district"  # 区, GB/T 2260 code, 6 digits
    street = "street"  # 街道, 9 digits (district + 3)
    community = "community"  # 社区, 12 digits (street + 3)


CODE_LENGTH = {AreaLevel.district: 6, AreaLevel.street: 9, AreaLevel.community: 12}
CELL_CODE_LENGTH = 15  # community + 3-digit serial (DB11)


class Area(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[AreaLevel] = mapped_column(Enum(AreaLevel, name="area_level"))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    generated: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The city's own code (or the name it was keyed by) when its file had no DB11 code: grids/codes.py.
    source_code: Mapped[str | None] = mapped_column(String(80))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True)
    # The area of its live cells (m²), what a map divides a count by: kept by grids.maps.refresh_area_maps whenever
    # cells are generated, imported or retired, so that a map of a city's areas never adds up a million cells.
    cells_area_m2: Mapped[float | None] = mapped_column(Float)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_areas_level_source_code", "level", "source_code"),
        CheckConstraint(
            "(level = 'district' AND code ~ '^[0-9]{6}$' AND parent_code IS NULL)"
            " OR (level = 'street' AND code ~ '^[0-9]{9}$' AND parent_code = left(code, 6))"
            " OR (level = 'community' AND code ~ '^[0-9]{12}$' AND parent_code = left(code, 9))",
            name="code_matches_level",
        ),
    )


class AreaOutline(db.Model):  # type: ignore[name-defined]
    """An area's outline simplified once for a map's zoom (to half a pixel there), instead of on every request: a
    city's communities on the big screen are a thousand outlines. Kept by grids.maps.refresh_area_maps with the area's
    cells' area."""

    __tablename__ = "area_outlines"

    code: Mapped[str] = mapped_column(ForeignKey("areas.code"), primary_key=True)
    zoom: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)


class GridCell(Timestamped, db.Model):  # type: ignore[name-defined]
    """单元网格: the unit every report is matched to. Never crosses a community boundary."""

    __tablename__ = "grid_cells"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)
    area_m2: Mapped[float] = mapped_column(Float)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{15}$' AND left(code, 12) = community_code", name="code_format"),
        # Matching looks at live cells only: a partial GiST index keeps retired ones out of its way.
        Index(
            "ix_grid_cells_live_geom",
            "geom",
            postgresql_using="gist",
            postgresql_where=text("retired_at IS NULL"),
        ),
    )


class ResponsibilityZone(Timestamped, db.Model):  # type: ignore[name-defined]
    """A polygon a department answers for: a road, a park, a utility's network area. Routing rules use them."""

    __tablename__ = "responsibility_zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # the city's own id, so re-imports update
    department_code: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40), default="other")
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InspectorCell(db.Model):  # type: ignore[name-defined]
    """An inspector's beat: the cells they patrol. A history: unassigning closes the row, never deletes it."""

    __tablename__ = "inspector_cells"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cell_code: Mapped[str] = mapped_column(ForeignKey("grid_cells.code"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unassigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "uq_inspector_cells_current",
            "user_id",
            "cell_code",
            unique=True,
            postgresql_where=text("unassigned_at IS NULL"),
        ),
        Index("ix_inspector_cells_cell_current", "cell_code", postgresql_where=text("unassigned_at IS NULL")),
    )


class Address(Timestamped, db.Model):  # type: ignore[name-defined]
    """标准地址 / 门牌: a place as people name it, with its point, for the desk's place search and Open311's
    `address_string` (grids.addresses). Imported by `citymgmt addresses import`, upserted by its text; never deleted."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(String(200), unique=True)
    point = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    cell_code: Mapped[str | None] = mapped_column(ForeignKey("grid_cells.code"), index=True)  # None: outside every cell

    __table_args__ = (
        # Fuzzy search (pg_trgm's similarity and LIKE '%...%') on the text.
        Index(
            "ix_addresses_address_trgm",
            "address",
            postgresql_using="gin",
            postgresql_ops={"address": "gin_trgm_ops"},
        ),
    )
