"""Generate square unit cells over a boundary: `citymgmt grids generate --boundary FILE --size METRES`.

All set-based in PostGIS, in the caller's transaction: the boundary is projected to its UTM zone, covered with
`ST_SquareGrid`, squares wholly inside are kept as they are and only squares on the boundary are clipped (against
the boundary cut into small pieces, so no operation sees the whole outline). Slivers (clipped cells under a
fraction of a full cell) are merged into the neighbour with which they share the longest edge. When the boundary
brings no streets or communities, cells are grouped into square blocks: communities of `community_block`² cells
and streets of `street_block`² communities, named and flagged as generated. Codes are DB11's 15 digits, numbered
north to south and west to east at every level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from grids.codes import is_db11
from grids.maps import refresh_area_maps
from grids.queries import (
    CENTROID_SQL,
    CLIPPED_CELLS_SQL,
    DROP_GENERATION_TABLES_SQL,
    GENERATE_BLOCKS_SQL,
    GENERATE_BOUNDARY_SQL,
    GENERATE_CLIP_SQL,
    GENERATE_CODES_SQL,
    GENERATE_STORE_SQL,
    GENERATED_COUNTS_SQL,
    JIT_OFF_SQL,
    JIT_RESTORE_SQL,
    JIT_SETTING_SQL,
    MERGE_SLIVERS_SQL,
    RETIRE_UNGENERATED_SQL,
    SERIALS_SQL,
)

Progress = Callable[[str], None]

DEFAULT_LEVEL_NAMES = {"zh_CN": ("区", "街道", "社区"), "en": ("District", "Street", "Community")}


def level_names(locale: str, configured: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """What the city calls its district, street and community levels: CITYMGMT_LEVEL_NAMES, else the locale's words."""
    if len(configured) == 3:
        return (configured[0], configured[1], configured[2])
    return DEFAULT_LEVEL_NAMES.get(locale, DEFAULT_LEVEL_NAMES["zh_CN"])


def generated_name_formats(locale: str, configured: tuple[str, ...] = ()) -> tuple[str, str]:
    """The names of generated streets and communities in the city's language, `{serial}` their 3-digit serial:
    "街道001（生成）" in Chinese, "Street 001 (generated)" in English, with the city's own words for the levels."""
    _district, street, community = level_names(locale, configured)
    if locale == "en":
        return f"{street} {{serial}} (generated)", f"{community} {{serial}} (generated)"
    return f"{street}{{serial}}（生成）", f"{community}{{serial}}（生成）"


@dataclass(frozen=True)
class GenerateOptions:
    district_code: str
    district_name: str
    size_m: float = 100.0
    community_block: int = 10  # cells per side of a generated community (10 x 10 cells of 100 m = 1 km2)
    street_block: int = 4  # communities per side of a generated street
    sliver_fraction: float = 0.25  # clipped cells smaller than this share of a full cell are merged away
    source_code: str | None = None  # the city's own code of the district (grids/codes.py), if it has no DB11 code
    street_name: str = "街道{serial}（生成）"  # generated_name_formats
    community_name: str = "社区{serial}（生成）"

    def validate(self) -> None:
        if not is_db11(self.district_code, "district"):
            raise ValidationError(
                "district code must be 6 digits (GB/T 2260); a city's own codes are kept beside an assigned one",
                details={"district_code": self.district_code},
            )
        if not 10 <= self.size_m <= 2000:
            raise ValidationError("cell size must be between 10 and 2000 metres", details={"size": self.size_m})
        if not 1 <= self.community_block <= 31:
            raise ValidationError("community block must be 1 to 31 cells per side (at most 999 cells)")
        if not 1 <= self.street_block <= 31:
            raise ValidationError("street block must be 1 to 31 communities per side (at most 999 communities)")
        if not 0 <= self.sliver_fraction < 1:
            raise ValidationError("sliver fraction must be at least 0 and below 1")


@dataclass
class GenerateReport:
    cells: int = 0
    communities: int = 0
    streets: int = 0
    slivers_merged: int = 0
    retired: int = 0
    utm_srid: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def utm_srid(lon: float, lat: float) -> int:
    """The WGS-84 UTM zone of a point: a metric CRS with negligible distortion over a city."""
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def generate_cells(
    session: Session, boundary_wkb: bytes, options: GenerateOptions, now: datetime, progress: Progress = print
) -> GenerateReport:
    """Generate (or regenerate) the cells, communities and streets of one district from its WGS-84 boundary."""
    options.validate()
    report = GenerateReport()
    started = time.perf_counter()

    def step(name: str, sql: str, **params: object) -> None:
        """Run a script statement by statement (parameters are bound server-side, one statement at a time)."""
        t0 = time.perf_counter()
        for statement in sql.split(";\n"):
            if statement.strip():
                session.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
        report.timings[name] = time.perf_counter() - t0

    # Working tables live in this transaction only; several generations may share one transaction.
    session.execute(text(DROP_GENERATION_TABLES_SQL))
    # PostGIS functions' cost estimates make PostgreSQL compile these statements (JIT), which costs about a second a
    # district and saves nothing: off while generating, the transaction's setting restored at the end.
    jit = session.execute(text(JIT_SETTING_SQL)).scalar_one()
    session.execute(text(JIT_OFF_SQL))
    centroid = session.execute(text(CENTROID_SQL), {"wkb": boundary_wkb}).one()
    report.utm_srid = srid = utm_srid(centroid.lon, centroid.lat)
    full = options.size_m**2

    step(
        "boundary",
        GENERATE_BOUNDARY_SQL,
        wkb=boundary_wkb,
        srid=srid,
        size=options.size_m,
        min_hole=options.sliver_fraction * full,
    )
    progress(f"boundary projected to EPSG:{srid}, covered with {options.size_m:g} m squares")

    step(
        "clip",
        GENERATE_CLIP_SQL,
    )
    progress("squares clipped to the boundary")

    t0 = time.perf_counter()
    merged = session.execute(text(MERGE_SLIVERS_SQL), {"min_area": options.sliver_fraction * full}).all()
    report.slivers_merged = len(merged)
    report.timings["slivers"] = time.perf_counter() - t0
    progress(f"{report.slivers_merged} slivers merged into their neighbours")

    if session.execute(text(CLIPPED_CELLS_SQL)).scalar_one() == 0:
        raise ValidationError("the boundary produced no cells: is it empty, or smaller than a sliver?")
    step(
        "blocks",
        GENERATE_BLOCKS_SQL,
        cb=options.community_block,
        sb=options.street_block,
    )
    _check_serials(session)
    step(
        "codes",
        GENERATE_CODES_SQL,
        district=options.district_code,
    )

    step(
        "store",
        GENERATE_STORE_SQL,
        district=options.district_code,
        district_name=options.district_name,
        source_code=options.source_code,
        street_name=options.street_name,
        community_name=options.community_name,
        now=now,
    )
    # Cells and generated areas of this district that this run did not produce are retired, never deleted.
    t0 = time.perf_counter()
    report.retired = session.execute(
        text(RETIRE_UNGENERATED_SQL), {"district": options.district_code, "now": now}
    ).scalar_one()
    report.timings["retire"] = time.perf_counter() - t0
    counts = session.execute(text(GENERATED_COUNTS_SQL)).one()
    report.cells, report.communities, report.streets = counts.cells, counts.communities, counts.streets
    session.execute(text(DROP_GENERATION_TABLES_SQL))
    refresh_area_maps(session)
    session.execute(text(JIT_RESTORE_SQL), {"jit": jit})
    report.timings["total"] = time.perf_counter() - started
    progress(
        f"{report.cells} cells in {report.communities} communities and {report.streets} streets stored"
        f" ({report.retired} retired) in {report.timings['total']:.1f} s"
    )
    return report


def _check_serials(session: Session) -> None:
    """Each level's serial has 3 digits: at most 999 streets, communities per street, cells per community."""
    found = session.execute(text(SERIALS_SQL)).one()
    for what, count in (
        ("streets", found.streets),
        ("communities in a street", found.communities),
        ("cells in a community", found.cells),
    ):
        if count > 999:
            raise ValidationError(
                f"{count} {what}, but codes have 3 digits (at most 999): use larger blocks or a larger cell size",
                details={"level": what, "count": count},
            )
