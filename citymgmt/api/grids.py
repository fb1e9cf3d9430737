"""/api/v1/grids: point → cell matching and cells for maps."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from citymgmt.core.access import allow_signed_in
from citymgmt.core.db import db
from grids.crs import parse_crs
from grids.maps import areas_in_view, cell_detail, cells_in_view, match_detail, parse_bbox
from grids.matching import match_cell
from grids.schemas import AreasQuery, CellQuery, CellSchema, CellsQuery, FeatureCollectionSchema, MatchQuery

blp = Blueprint("grids", __name__, description="Unit grid cells (单元网格)")


@blp.get("/match")
@blp.arguments(MatchQuery, location="query", error_status_code=400)
@blp.response(200, CellSchema)
@blp.alt_response(400, description="Impossible coordinates (NaN, out of range, swapped) or unknown crs")
@blp.alt_response(422, description="Outside every cell: names the nearest cell and the distance")
@allow_signed_in
def match(query: dict[str, Any]) -> dict[str, Any]:
    """The cell covering a point, with its community, street and district."""
    session = db.session()
    found = match_cell(session, query["lon"], query["lat"], query["crs"])
    return match_detail(session, found, parse_crs(query["output_crs"]))


@blp.get("/cells")
@blp.arguments(CellsQuery, location="query", error_status_code=400)
@blp.response(200, FeatureCollectionSchema)
@allow_signed_in
def cells(query: dict[str, Any]) -> dict[str, Any]:
    """The cells in a map view as GeoJSON, simplified for the zoom (at most 5,000: zoom in for more)."""
    return cells_in_view(db.session(), parse_bbox(query["bbox"]), query["zoom"], parse_crs(query["output_crs"]))


@blp.get("/cells/<code>")
@blp.arguments(CellQuery, location="query", error_status_code=400)
@blp.response(200, CellSchema)
@blp.alt_response(404, description="No grid cell of that code")
@allow_signed_in
def cell(query: dict[str, Any], code: str) -> dict[str, Any]:
    """One cell by its code, with its community, street and district and its polygon (where a map finds a cell
    it has not drawn, e.g. the big screen's feed)."""
    return cell_detail(db.session(), code, parse_crs(query["output_crs"]))


@blp.get("/areas")
@blp.arguments(AreasQuery, location="query", error_status_code=400)
@blp.response(200, FeatureCollectionSchema)
@allow_signed_in
def areas(query: dict[str, Any]) -> dict[str, Any]:
    """The districts (or streets, communities) in a map view as GeoJSON outlines, simplified for the zoom."""
    return areas_in_view(
        db.session(), parse_bbox(query["bbox"]), query["zoom"], query["level"], parse_crs(query["output_crs"])
    )
