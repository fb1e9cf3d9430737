"""Request and response schemas of the grids API (instances made once, here)."""

from __future__ import annotations

import marshmallow as ma

from grids.crs import CRSError, parse_crs

MAP_CRS = ("wgs84", "gcj02", "bd09")


def _map_crs(value: str) -> None:
    try:
        if parse_crs(value) not in MAP_CRS:
            raise ma.ValidationError("must be wgs84, gcj02 or bd09")
    except CRSError as exc:
        raise ma.ValidationError(str(exc)) from None


class MatchQuery(ma.Schema):
    # Strings, so that impossible coordinates reach the service, which says precisely why (400).
    lon = ma.fields.String(
        required=True, metadata={"description": "Longitude (or x for EPSG:n)", "example": "116.3906"}
    )
    lat = ma.fields.String(required=True, metadata={"description": "Latitude (or y for EPSG:n)", "example": "39.9158"})
    crs = ma.fields.String(
        load_default="wgs84", metadata={"description": "wgs84 (phones; also CGCS2000), gcj02, bd09 or EPSG:n"}
    )
    output_crs = ma.fields.String(
        load_default="wgs84", validate=_map_crs, metadata={"description": "Coordinates of the returned polygon"}
    )


class CellsQuery(ma.Schema):
    bbox = ma.fields.String(required=True, metadata={"description": "west,south,east,north in WGS-84 degrees"})
    zoom = ma.fields.Integer(load_default=16, metadata={"description": "Map zoom level; polygons are simplified"})
    output_crs = ma.fields.String(load_default="wgs84", validate=_map_crs)


class CellQuery(ma.Schema):
    output_crs = ma.fields.String(
        load_default="wgs84", validate=_map_crs, metadata={"description": "Coordinates of the returned polygon"}
    )


class AreasQuery(CellsQuery):
    level = ma.fields.String(
        load_default="district",
        validate=ma.validate.OneOf(("district", "street", "community")),
        metadata={"description": "district, street or community"},
    )


class NamedAreaSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String(allow_none=True)


class PointSchema(ma.Schema):
    lon = ma.fields.Float()
    lat = ma.fields.Float()
    crs = ma.fields.String()


class CellSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "15-digit unit grid cell code"})
    area_m2 = ma.fields.Float()
    community = ma.fields.Nested(NamedAreaSchema)
    street = ma.fields.Nested(NamedAreaSchema)
    district = ma.fields.Nested(NamedAreaSchema)
    geometry = ma.fields.Dict(metadata={"description": "GeoJSON Polygon"})
    point = ma.fields.Nested(PointSchema, metadata={"description": "The matched point in WGS-84"})


class FeatureCollectionSchema(ma.Schema):
    type = ma.fields.String()
    features = ma.fields.List(ma.fields.Dict())
