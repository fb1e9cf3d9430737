"""/api/v1/addresses: the address gazetteer (标准地址), searched by fuzzy text; the centre's staff read it."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from citymgmt.core.access import allow
from citymgmt.core.db import db
from citymgmt.core.identity import INTAKE_STAFF
from grids.addresses import search_addresses

blp = Blueprint("addresses", __name__, description="Addresses (标准地址 / 门牌): the gazetteer, for placing a report")


class AddressQuery(ma.Schema):
    q = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "Part of an address, typos allowed", "example": "景山街道"},
    )
    limit = ma.fields.Integer(load_default=10, validate=ma.validate.Range(min=1, max=50))


class AddressSchema(ma.Schema):
    id = ma.fields.Integer()
    address = ma.fields.String()
    lon = ma.fields.Float(metadata={"description": "WGS-84"})
    lat = ma.fields.Float(metadata={"description": "WGS-84"})
    cell_code = ma.fields.String(allow_none=True, metadata={"description": "The cell it is in; null outside all"})
    score = ma.fields.Float(metadata={"description": "1 for the same text, else pg_trgm's word similarity (0-1)"})


@blp.get("")
@blp.arguments(AddressQuery, location="query", error_status_code=400)
@blp.response(200, AddressSchema(many=True))
@allow(*INTAKE_STAFF)
def search(query: dict[str, Any]) -> Any:
    """Addresses like `q`, best first: the same text, those containing it, then the most alike (pg_trgm)."""
    return search_addresses(db.session(), query["q"], query["limit"])
