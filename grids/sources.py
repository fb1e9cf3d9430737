"""Reading geographic files: GeoJSON, Shapefile, GeoPackage (anything GDAL reads), through pyogrio; and the point
files the registry and the gazetteer import read as text (CSV in UTF-8 or GB18030, GeoJSON FeatureCollections)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
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


def field_text(value: Any) -> str | None:
    """A file's value as text: None for nothing or blanks, a whole float as an integer (GIS files store codes as
    numbers), stripped."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    out = str(value).strip()
    return out or None


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


POINT_FILE_FORMATS = ("geojson", "csv")


def point_file_format(path: Path, given: str | None) -> str:
    """The format of a point file: as given, else from the name's suffix; ValidationError naming `format`."""
    if given:
        if given not in POINT_FILE_FORMATS:
            raise ValidationError(f"format must be geojson or csv, not {given!r}", details={"format": given})
        return given
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return "geojson"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise ValidationError(
        f"{path}: cannot tell the format from the name: give --format geojson or --format csv",
        details={"format": None},
    )


@dataclass(frozen=True)
class CsvRecord:
    """A data line of a CSV file: where it is ("line 5", as a spreadsheet counts, the header line 1) and its values
    by column name (stripped), or why it could not be read as a row."""

    where: str
    values: dict[str, str]
    error: str | None = None


def csv_records(
    path: Path, raw: bytes, required: Sequence[str], aliases: Mapping[str, str] | None = None
) -> list[CsvRecord]:
    """The non-blank data lines of a CSV file (UTF-8 or GB18030) whose header names every `required` column, each
    once; header names are stripped, lower-cased and renamed by `aliases`. ValidationError naming the file if it is
    not such a file."""
    reader = csv.reader(io.StringIO(decode_csv_text(path, raw), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError(f"{path}: empty file, expected a header line", details={"file": str(path)}) from None
    except csv.Error as exc:
        raise ValidationError(f"{path}: not a CSV file ({exc})", details={"file": str(path)}) from None
    names = [(aliases or {}).get(n, n) for n in (h.strip().lower() for h in header)]
    missing = [c for c in required if c not in names]
    if missing:
        raise ValidationError(
            f"{path}: no column {', '.join(missing)} (columns are: {', '.join(names) or 'none'})",
            details={"columns": missing},
        )
    repeated = sorted({n for n in names if names.count(n) > 1 and n})
    if repeated:
        raise ValidationError(f"{path}: column {', '.join(repeated)} given twice", details={"columns": repeated})
    records = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            where = f"line {reader.line_num}"
            if len(record) > len(names):
                records.append(CsvRecord(where, {}, f"{len(record)} values for {len(names)} columns"))
                continue
            records.append(CsvRecord(where, dict(zip(names, (c.strip() for c in record), strict=False))))
    except csv.Error as exc:
        raise ValidationError(
            f"{path}: line {reader.line_num} is not valid CSV ({exc})", details={"file": str(path)}
        ) from None
    return records


def geojson_point(geometry: Any) -> tuple[Any, Any] | str:
    """A GeoJSON feature's point as (lon, lat), as given (the importer checks the numbers), or what is wrong with
    its geometry."""
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else "none"
        return f"must be a Point, not {kind}"
    if not isinstance(coordinates, list) or len(coordinates) not in (2, 3):
        return "a Point needs [lon, lat] coordinates"
    return coordinates[0], coordinates[1]
