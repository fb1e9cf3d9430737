"""Request and response schemas of the components API."""

from __future__ import annotations

import marshmallow as ma

from grids.crs import CRSError, parse_crs

MAX_SEARCH_RADIUS_M = 2000


def _point_crs(value: str) -> None:
    try:
        if parse_crs(value) not in ("wgs84", "gcj02", "bd09"):
            raise ma.ValidationError("must be wgs84, gcj02 or bd09")
    except CRSError as exc:
        raise ma.ValidationError(str(exc)) from None


class ComponentQuery(ma.Schema):
    # Strings, so that impossible coordinates reach the service, which says precisely why (400).
    lon = ma.fields.String(required=True, metadata={"description": "Longitude", "example": "116.3906"})
    lat = ma.fields.String(required=True, metadata={"description": "Latitude", "example": "39.9158"})
    crs = ma.fields.String(load_default="wgs84", validate=_point_crs, metadata={"description": "wgs84, gcj02 or bd09"})
    class_code = ma.fields.String(
        data_key="class",
        validate=ma.validate.Regexp(r"^C[0-9]{4}$", error="a component class code, e.g. C0102"),
        metadata={"description": "Only assets of this component class, e.g. C0102"},
    )
    within = ma.fields.Float(
        validate=ma.validate.Range(min=0, max=MAX_SEARCH_RADIUS_M, min_inclusive=False),
        metadata={"description": f"Metres (default: the configured search radius; at most {MAX_SEARCH_RADIUS_M})"},
    )
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class ComponentSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "16 digits: district, major and minor class, serial"})
    class_code = ma.fields.String(metadata={"description": "Component class, e.g. C0102"})
    class_name = ma.fields.String(allow_none=True, metadata={"description": "Its zh-CN name in the current taxonomy"})
    district_code = ma.fields.String()
    owner_department_code = ma.fields.String(allow_none=True, metadata={"description": "None: no registered owner"})
    lon = ma.fields.Float()
    lat = ma.fields.Float()
    cell_code = ma.fields.String(allow_none=True, metadata={"description": "None: outside every cell"})
    status = ma.fields.String(metadata={"description": "in_use, damaged, missing or retired"})
    status_name = ma.fields.String(metadata={"description": "在用, 损坏, 丢失 or 停用"})
    name = ma.fields.String(allow_none=True)
    address = ma.fields.String(allow_none=True)
    attributes = ma.fields.Dict(metadata={"description": "Whatever else the survey recorded"})
    imported_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    retired_at = ma.fields.DateTime(allow_none=True)
    distance_m = ma.fields.Float(metadata={"description": "From the point asked about (searches only)"})
