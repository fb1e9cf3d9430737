"""Cells for people to look at: one cell with its names, and the cells in a map view, simplified by zoom.

Map output may be shifted to GCJ-02 or BD-09 for Chinese basemaps (AMap, Tencent, Baidu), which draw in those
systems: the overlay has to be drawn in the basemap's coordinates to line up.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import NotFound, ValidationError
from grids.crs import transform_geometry
from grids.matching import CellMatch
from grids.queries import (
    AREA_OUTLINES_SQL,
    CELL_CODES_IN_BOX_SQL,
    CELL_DETAIL_SQL,
    CELLS_IN_VIEW_SQL,
    CITY_EXTENT_SQL,
    MEASURE_AREAS_SQL,
    areas_sql,
)

CELL_CODE = re.compile(r"[0-9]{15}")  # DB11: community + 3-digit serial
MAX_MAP_CELLS = 5000
MAX_AREAS = 1000
OUTLINE_ZOOM = 13  # simplified to about 10 m: the outlines of a city on one screen
# The zooms the areas' outlines are kept simplified for (AreaOutline): a city (8), a district (10, 12), a street (14).
OUTLINE_ZOOMS = (8, 10, 12, 14)


def cell_detail(session: Session, code: str, output_crs: str = "wgs84") -> dict[str, Any]:
    """A cell with its community, street and district (codes and names) and its polygon as GeoJSON."""
    row = session.execute(text(CELL_DETAIL_SQL), {"code": code}).first() if CELL_CODE.fullmatch(code) else None
    if row is None:
        raise NotFound(f"no grid cell {code}")
    geom = _output(shapely.from_wkb(bytes(row[2])), output_crs)
    return {
        "code": row[0],
        "area_m2": round(row[1], 1),
        "community": {"code": row[3], "name": row[4]},
        "street": {"code": row[5], "name": row[6]},
        "district": {"code": row[7], "name": row[8]},
        "geometry": mapping(geom),
    }


def match_detail(session: Session, match: CellMatch, output_crs: str = "wgs84") -> dict[str, Any]:
    detail = cell_detail(session, match.cell_code, output_crs)
    detail["point"] = {"lon": match.lon, "lat": match.lat, "crs": "wgs84"}
    return detail


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValidationError("bbox must be four numbers: west,south,east,north", details={"bbox": raw})
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValidationError(
            "bbox must be west,south,east,north in degrees, west < east and south < north", details={"bbox": raw}
        )
    return west, south, east, north


def cells_in_view(
    session: Session, bbox: tuple[float, float, float, float], zoom: int, output_crs: str = "wgs84"
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the live cells in the box, simplified to about half a pixel at `zoom`."""
    if not 0 <= zoom <= 22:
        raise ValidationError("zoom must be between 0 and 22", details={"zoom": zoom})
    tolerance = 360.0 / (256 * 2**zoom) / 2
    params = {"w": bbox[0], "s": bbox[1], "e": bbox[2], "n": bbox[3], "tol": tolerance, "limit": MAX_MAP_CELLS + 1}
    rows = session.execute(text(CELLS_IN_VIEW_SQL), params).all()
    if len(rows) > MAX_MAP_CELLS:
        raise ValidationError(
            f"more than {MAX_MAP_CELLS} cells in this view: zoom in", details={"bbox": list(bbox), "zoom": zoom}
        )
    geoms = _output_many(shapely.from_wkb([bytes(r[2]) for r in rows]), output_crs) if rows else []
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": code,
                "properties": {"code": code, "community_code": community},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for (code, community, _), g in zip(rows, geoms, strict=True)
        ],
    }


def cell_codes_in_box(session: Session, bbox: tuple[float, float, float, float]) -> list[str]:
    """The codes of the live cells touching the box (by the GiST index): what another feature's figures of a map view
    are read for, by key."""
    params = {"w": bbox[0], "s": bbox[1], "e": bbox[2], "n": bbox[3]}
    return list(session.execute(text(CELL_CODES_IN_BOX_SQL), params).scalars())


def areas_in_view(
    session: Session, bbox: tuple[float, float, float, float], zoom: int, level: str, output_crs: str = "wgs84"
) -> dict[str, Any]:
    """The live districts, streets or communities touching the box, as GeoJSON, simplified for `zoom` (the outlines
    a map without a basemap shows under the cells)."""
    return _areas(session, level, zoom, bbox, output_crs)


def area_outlines(session: Session, level: str, zoom: int = OUTLINE_ZOOM) -> dict[str, Any]:
    """All the live districts (streets, communities) as GeoJSON in WGS-84, simplified for `zoom` (by default to
    about 10 m) and to 6 decimals: a page's whole map in one document (the big screen's outlines)."""
    return _areas(session, level, zoom, None, "wgs84", digits=6)


def _areas(
    session: Session,
    level: str,
    zoom: int,
    bbox: tuple[float, float, float, float] | None,
    output_crs: str,
    digits: int | None = None,
) -> dict[str, Any]:
    if not 0 <= zoom <= 22:
        raise ValidationError("zoom must be between 0 and 22", details={"zoom": zoom})
    tolerance = 360.0 / (256 * 2**zoom) / 2
    w, s, e, n = bbox if bbox is not None else (None, None, None, None)
    rows = session.execute(
        text(areas_sql(bbox is not None)),
        {"w": w, "s": s, "e": e, "n": n, "tol": tolerance, "level": level, "limit": MAX_AREAS},
    ).all()
    geoms = _output_many(shapely.from_wkb([bytes(r[2]) for r in rows]), output_crs) if rows else []
    if digits is not None and rows:
        geoms = shapely.transform(geoms, lambda xy: np.round(xy, digits))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": code,
                # source_code: the city's own code where its file had no DB11 code (grids/codes.py), else null
                "properties": {"code": code, "name": name, "level": level, "source_code": source_code},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for (code, name, _, source_code), g in zip(rows, geoms, strict=True)
        ],
    }


def _output(geom: Any, output_crs: str) -> Any:
    return geom if output_crs == "wgs84" else transform_geometry(geom, "wgs84", output_crs)


def _output_many(geoms: Any, output_crs: str) -> Any:
    return geoms if output_crs == "wgs84" else transform_geometry(geoms, "wgs84", output_crs)


def refresh_area_maps(session: Session) -> None:
    """Write what maps read of every area: its live cells' area (`Area.cells_area_m2`) and its outline simplified
    for each of OUTLINE_ZOOMS (`AreaOutline`). Called by whatever adds, changes or retires cells or areas
    (generation, import, retirement), in its transaction."""
    session.execute(text(MEASURE_AREAS_SQL))
    session.execute(text(AREA_OUTLINES_SQL), {"zooms": list(OUTLINE_ZOOMS)})


def outline_zoom(zoom: int) -> int | None:
    """The kept outlines to draw at `zoom` (the first simplified at least as finely as it needs), or None above them
    all: simplify the area's own outline then."""
    return next((z for z in OUTLINE_ZOOMS if z >= zoom), None)


def city_extent(session: Session) -> tuple[float, float, float, float] | None:
    """The loaded city's extent (west, south, east, north in WGS-84: its live districts), or None with no city: where
    a map with nothing else to show opens."""
    row = session.execute(text(CITY_EXTENT_SQL)).first()
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3])) if row is not None else None
