"""/api/v1/components: the component registry (部件普查), by id and near a point. Every signed-in role reads it."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from citymgmt.core.access import allow_signed_in
from citymgmt.core.db import db
from dispatch.components.operations import component_detail, search_components
from dispatch.components.schemas import ComponentQuery, ComponentSchema

blp = Blueprint("components", __name__, description="Components (部件): the registry of physical assets")


@blp.get("")
@blp.arguments(ComponentQuery, location="query", error_status_code=400)
@blp.response(200, ComponentSchema(many=True))
@blp.alt_response(400, description="Impossible coordinates (NaN, out of range, swapped), or a bad parameter")
@allow_signed_in
def nearby(query: dict[str, Any]) -> Any:
    """Assets in service (not retired) within `within` metres of a point, nearest first, each with its
    `distance_m`; `class` keeps one component class. The default radius is the one intake uses to suggest an
    asset (CITYMGMT_COMPONENT_SEARCH_RADIUS_M)."""
    settings = current_app.extensions["citymgmt.settings"]
    return search_components(
        db.session(),
        query["lon"],
        query["lat"],
        query["crs"],
        query.get("within", settings.component_search_radius_m),
        query.get("class_code"),
        query["limit"],
    )


@blp.get("/<string:component_id>")
@blp.response(200, ComponentSchema)
@allow_signed_in
def get_component(component_id: str) -> Any:
    """One asset by its 16-digit id, retired ones included (with `retired_at`)."""
    return component_detail(db.session(), component_id)
