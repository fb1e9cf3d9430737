"""Reading geographic files: GeoJSON, Shapefile, GeoPackage (anything GDAL reads), through pyogrio; and the point
files the registry and the gazetteer import read as text (CSV in UTF-8 or GB18030, GeoJSON FeatureCollections)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from citymgmt.core.errors import ValidationError


@dataclass(frozen=True)
class Feature:
    index: int  # 0-based position in the layer, as users count rows in their GIS
    geometry: BaseGeometry | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class Layer:
    path: Path
    name: str | None
    crs: str | None  # the file's own CRS as GDAL reports it ("EPSG:4326"), if any
    features: list[Feature]


def read_layer(path: Path, layer: str | None = None) -> Layer:
    """Read one layer; ValidationError naming the file if it cannot be read."""
    from pyogrio.errors import DataLayerError, DataSourceError
    from pyogrio.raw import read

    if not path.exists():
        raise ValidationError(f"{path}: no such file")
    try:
        meta, _index, geometry, field_data = read(path, layer=layer)
    except (DataSourceError, DataLayerError, ValueError) as exc:
        raise ValidationError(f"{path}: cannot read it as a geographic file ({_first_line(exc)})") from None
    names = [str(n) for n in meta["fields"]]
    geoms = shapely.from_wkb(geometry, on_invalid="ignore") if geometry is not None else [None] * len(field_data[0])
    features = []
    for i, geom in enumerate(geoms):
        props = {name: _plain(field_data[k][i]) for k, name in enumerate(names)}
        features.append(Feature(i, geom if geom is not None and not geom.is_empty else None, props))
    if len(features) == 1 and not features[0].properties:
        features[0] = Feature(0, features[0].geometry, _bare_geometry_properties(path))
    return Layer(path, layer, meta.get("crs"), features)


def _bare_geometry_properties(path: Path) -> dict[str, Any]:
    """A bare GeoJSON geometry with a (non-standard) "properties" member, as Chinese boundary datasets ship them
    (e.g. {"type": "MultiPolygon", "coordinates": ..., "properties": {"adcode": "110101"}}); GDAL drops it."""
    if path.suffix.lower() not in (".geojson", ".json") or path.stat().st_size > 50_000_000:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    props = (
        data.get("properties")
        if isinstance(data, dict) and data.get("type") not in ("Feature", "FeatureCollection")
        else None
    )
    return dict(props) if isinstance(props, dict) else {}


def _plain(value: Any) -> Any:
    """numpy scalars to Python, NaN/None to None, so values compare and print as users expect."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# -- point files read as text (the component registry's and the address gazetteer's imports) ----------------------


def read_bytes(path: Path) -> bytes:
    """A file's bytes; ValidationError naming the file and why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror or type(exc).__name__
        raise ValidationError(f"{path}: {reason}", details={"file": str(path)}) from None


def decode_csv_text(path: Path, raw: bytes) -> str:
    """A CSV file's text: UTF-8 (with or without BOM), or GB18030 as spreadsheets save it on Chinese Windows."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            raise ValidationError(f"{path}: not text in UTF-8 or GB18030", details={"file": str(path)}) from None


def feature_collection(path: Path, raw: bytes) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (its `features` a list), or ValidationError naming the file."""
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"{path}: not a readable GeoJSON file ({exc})", details={"file": str(path)}) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ValidationError(f"{path}: not a GeoJSON FeatureCollection", details={"file": str(path)})
    return doc
