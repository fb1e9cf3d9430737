"""/api/v1/categories: the taxonomy of components and events, searchable by code and name."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from citymgmt.core.access import allow_signed_in
from citymgmt.core.db import db
from dispatch.taxonomy.operations import search_categories
from dispatch.taxonomy.schemas import CategoryQuery, CategorySchema

blp = Blueprint("categories", __name__, description="Categories of components (部件) and events (事件)")


@blp.get("")
@blp.arguments(CategoryQuery, location="query", error_status_code=400)
@blp.response(200, CategorySchema(many=True))
@allow_signed_in
def list_categories(query: dict[str, Any]) -> Any:
    """Major and minor classes of the current taxonomy version (or the one asked for), with their criteria and
    time limits; `q` matches a code prefix, or part of a name or keyword."""
    return search_categories(db.session(), query.get("q"), query.get("family"), query.get("version"))
