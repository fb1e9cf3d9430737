"""`citymgmt components import FILE`: the component registry (部件普查) from a GeoJSON or CSV survey file.

GeoJSON: Point features whose properties carry `id` (or the feature's own `id`), and optionally `class`, `owner`,
`status`, `name`, `address`. CSV: columns `id`, `lon`, `lat` and optionally the same others. Any other property or
column is kept in the asset's `attributes`. The class may be left out: the id implies it (digits 7-10).

Every row is checked before anything is written, and all problems are reported at once (row, field, reason): a
refused file changes nothing. A good file is upserted by id in bulk (COPY into a staging table, one INSERT ... ON
CONFLICT), its points matched to cells in bulk, so importing it again changes nothing more. Assets missing from a
file are left as they are: a file may be a district's or a class's survey, not the whole registry; retire an asset
by importing it with status `retired` (停用).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from citymgmt.core.departments import liveness
from citymgmt.core.errors import ValidationError
from dispatch.components.operations import ASSET_ID, STATUSES, class_of, component_classes
from dispatch.components.queries import (
    COPY_STAGING_SQL,
    CREATE_STAGING_SQL,
    DROP_STAGED_SQL,
    DROP_STAGING_SQL,
    TO_WGS84_SQL,
    UPSERT_SQL,
)
from dispatch.taxonomy.operations import current_version
from grids.crs import srid_of, to_wgs84_arrays
from grids.matching import BadCoordinates, check_coordinates, known_crs, match_cells
from grids.sources import (
    POINT_FILE_FORMATS,
    csv_records,
    feature_collection,
    field_text,
    geojson_point,
    point_file_format,
    read_bytes,
)

Progress = Callable[[str], None]

FORMATS = POINT_FILE_FORMATS
FIELDS = (
    "id",
    "class",
    "owner",
    "lon",
    "lat",
    "status",
    "name",
    "address",
)  # CSV columns; lon/lat from GeoJSON's point
TEXT_MAX = 200  # name, address
MAX_PROBLEMS = 1000  # kept in the error's details; the message shows the first SHOWN_PROBLEMS
SHOWN_PROBLEMS = 50
MAX_WARNINGS = 100
BULK_WORKERS_FROM = 20_000  # rows from which cells are matched over two connections
STATUS_BY_NAME = {**{k: k for k in STATUSES}, **{zh: k for k, zh in STATUSES.items()}}


@dataclass(frozen=True)
class Problem:
    where: str  # "feature 3" (0-based, as GIS counts) or "line 5" (as a spreadsheet counts, header = line 1)
    asset_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        ident = f" (id {self.asset_id})" if self.asset_id else ""
        return f"{self.where}{ident}: {self.field + ': ' if self.field else ''}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.where, "id": self.asset_id, "field": self.field, "message": self.message}


class ImportRefused(ValidationError):
    code = "import_refused"

    def __init__(
        self,
        problems: list[Problem],
        total: int | None = None,
        heading: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """`total`: the problems found in all, of which `problems` are the first; `heading` (without the counts)
        and `details` for an importer saying more of the file than its problems."""
        total = total if total is not None else len(problems)
        shown = "\n".join(f"  {p}" for p in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {total - SHOWN_PROBLEMS:,} more" if total > SHOWN_PROBLEMS else ""
        counted = f"{min(total, SHOWN_PROBLEMS)} of {total:,} problems shown" if more else f"{total} problem(s)"
        super().__init__(
            f"{heading or 'import refused, nothing was changed'} ({counted}):\n{shown}{more}",
            details={"problems": [p.as_dict() for p in problems], "total": total, **(details or {})},
        )
        self.problems = problems
        self.total = total


class _Problems:
    """Collects problems up to a cap, counting all of them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0

    def add(self, where: str, asset_id: str | None, field_name: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(where, asset_id, field_name, message))

    def refuse_if_any(self) -> None:
        if self.total:
            raise ImportRefused(self.items, self.total)


@dataclass(frozen=True)
class SourceRow:
    """One asset as a file gives it, before any check: `values` keyed by FIELDS, everything else in `attributes`."""

    where: str
    values: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    outside_cells: int = 0  # stored without a cell
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0

    def summary(self) -> str:
        return (
            f"imported {self.rows} components: {self.inserted} inserted, {self.updated} updated,"
            f" {self.unchanged} unchanged; {self.outside_cells} outside every cell; {self.warning_count} warnings"
        )


# -- reading ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    rows: list[SourceRow]
    crs: str | None = None  # as the file declares it (a GeoJSON `crs` member, as GDAL writes for projected data)


def read_component_file(path: Path, fmt: str | None = None) -> SourceFile:
    """The rows of a GeoJSON or CSV file; ValidationError naming the file if it cannot be read as one."""
    fmt = point_file_format(path, fmt)
    raw = read_bytes(path)
    return _read_geojson(path, raw) if fmt == "geojson" else SourceFile(_read_csv(path, raw))


def _declared_crs(doc: dict[str, Any]) -> str | None:
    """ "urn:ogc:def:crs:EPSG::4547" → "EPSG:4547"; CRS84 (lon/lat on WGS-84) → "wgs84"."""
    crs = doc.get("crs")
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if not isinstance(name, str):
        return None
    if name.upper().endswith("CRS84"):
        return "wgs84"
    found = re.search(r"EPSG:+(?:[0-9.]*:)?([0-9]+)$", name, re.IGNORECASE)
    return f"EPSG:{found.group(1)}" if found else None


def _read_geojson(path: Path, raw: bytes) -> SourceFile:
    doc = feature_collection(path, raw)
    rows = []
    for index, feature in enumerate(doc["features"]):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rows.append(SourceRow(where, {"_error": ("feature", "not a GeoJSON Feature")}))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            rows.append(SourceRow(where, {"_error": ("properties", "must be an object")}))
            continue
        values = {k: props.get(k) for k in FIELDS if k not in ("lon", "lat")}
        if values["id"] is None:
            values["id"] = feature.get("id")
        point = geojson_point(feature.get("geometry"))
        if isinstance(point, str):
            values["_error"] = ("geometry", point)
        else:
            values["lon"], values["lat"] = point
        attributes = {k: v for k, v in props.items() if k not in FIELDS}
        rows.append(SourceRow(where, values, attributes))
    return SourceFile(rows, _declared_crs(doc))


def _read_csv(path: Path, raw: bytes) -> list[SourceRow]:
    rows = []
    for record in csv_records(path, raw, ("id", "lon", "lat")):
        if record.error is not None:
            rows.append(SourceRow(record.where, {"_error": (None, record.error)}))
            continue
        values = {k: (record.values.get(k) or None) for k in FIELDS}
        attributes = {k: v for k, v in record.values.items() if k not in FIELDS and k and v}
        rows.append(SourceRow(record.where, values, attributes))
    return rows


# -- checking and writing -----------------------------------------------------------------------------------------


def import_components(
    session: Session,
    path: Path,
    now: datetime,
    crs: str | None = None,
    fmt: str | None = None,
    progress: Progress = print,
) -> ImportReport:
    """Import a GeoJSON or CSV file into the registry, in the caller's transaction: all of it, or nothing.
    Coordinates are in `crs`, or else in the CRS the file declares, or else WGS-84."""
    source = read_component_file(path, fmt)
    declared = f" in {source.crs}, as the file declares" if crs is None and source.crs else ""
    progress(f"{path}: {len(source.rows)} rows{declared}")
    return import_component_rows(session, source.rows, now, crs or source.crs or "wgs84", progress)


@dataclass
class _Checked:
    where: str
    id: str
    class_code: str
    owner: str | None
    lon: float
    lat: float
    status: str
    name: str | None
    address: str | None
    attributes: dict[str, Any]


def import_component_rows(
    session: Session,
    rows: list[SourceRow],
    now: datetime,
    crs: str = "wgs84",
    progress: Progress = print,
    match_workers: int | None = None,
) -> ImportReport:
    """Check, match and upsert rows, in the caller's transaction. Big files are matched over two more connections
    (`match_workers`, default: 2 from BULK_WORKERS_FROM rows), which see committed cells only: pass 1 when the
    cells were made in this same transaction."""
    crs_name = known_crs(session, crs)
    problems = _Problems()
    if not rows:
        raise ValidationError("the file has no rows", details={"rows": 0})
    classes = component_classes(session)
    version = current_version(session)
    departments = liveness(session)  # code → live
    checked: list[_Checked] = []
    seen: dict[str, str] = {}
    step = max(len(rows) // 10, 10_000)
    for n, row in enumerate(rows):
        if n and n % step == 0:
            progress(f"checked {n}/{len(rows)} rows")
        good = _check_row(row, crs_name, classes, version, departments, seen, problems)
        if good is not None:
            checked.append(good)
    problems.refuse_if_any()

    xs, ys = _to_wgs84(session, checked, crs_name, problems)
    problems.refuse_if_any()
    progress(f"{len(checked)} rows checked; matching cells")
    if match_workers is None:
        match_workers = 2 if len(checked) >= BULK_WORKERS_FROM else 1
    cells = match_cells(session, xs.tolist(), ys.tolist(), "wgs84", workers=match_workers)

    report = ImportReport(rows=len(checked), outside_cells=sum(1 for c in cells if c is None))
    for asset, cell in zip(checked, cells, strict=True):
        if cell is not None and cell[:6] != asset.id[:6]:
            report.warning_count += 1
            if len(report.warnings) < MAX_WARNINGS:
                report.warnings.append(
                    f"{asset.where} (id {asset.id}): the id says district {asset.id[:6]}, the point is in cell {cell}"
                )
    progress("writing")
    _stage(session, checked, xs, ys, cells)
    report.inserted, report.updated = _upsert(session, now)
    report.unchanged = report.rows - report.inserted - report.updated
    session.execute(text(DROP_STAGED_SQL))
    progress(f"{report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged")
    return report


def _asset_id(value: Any) -> tuple[str | None, str | None]:
    """The id as a string, or why it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing"
    if isinstance(value, bool | float):
        return None, "must be written as a string of 16 digits (a number this long loses digits)"
    given = str(value).strip()
    if not ASSET_ID.match(given):
        hint = ""
        if re.search(r"[0-9][eE][+]?[0-9]", given):
            hint = " (a spreadsheet wrote it in scientific notation: format the column as text)"
        return None, f"{given!r} is not 16 digits (6 district, 4 class, 6 serial){hint}"
    return given, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def _check_row(
    row: SourceRow,
    crs: str,
    classes: dict[str, str],
    version: str,
    departments: dict[str, bool],
    seen: dict[str, str],
    problems: _Problems,
) -> _Checked | None:
    values = row.values
    before = problems.total
    error = values.get("_error")
    asset_id, why = _asset_id(values.get("id"))
    if error is not None:
        problems.add(row.where, asset_id, error[0], error[1])
        if error[0] != "geometry":
            return None  # nothing else to check in it
    if asset_id is None:
        problems.add(row.where, None, "id", why or "missing")
        return None
    if asset_id in seen:
        problems.add(row.where, asset_id, "id", f"repeated (first at {seen[asset_id]})")
        return None
    seen[asset_id] = row.where
    implied = class_of(asset_id)
    given_class = field_text(values.get("class"))
    if given_class is not None:
        given_class = given_class.upper()
        if re.fullmatch(r"[0-9]{4}", given_class):
            given_class = "C" + given_class
        if given_class != implied:
            problems.add(
                row.where,
                asset_id,
                "class",
                f"{given_class} does not match the id, whose digits 7-10 say {implied}",
            )
    if implied not in classes:
        problems.add(
            row.where,
            asset_id,
            "class" if given_class == implied else "id",
            f"unknown class {implied}: not a component class of taxonomy {version}",
        )
    owner = field_text(values.get("owner"))
    if owner is not None:
        if owner not in departments:
            problems.add(row.where, asset_id, "owner", f"unknown owner department {owner}")
        elif not departments[owner]:
            problems.add(row.where, asset_id, "owner", f"department {owner} is retired")
    status_given = field_text(values.get("status"))
    status = STATUS_BY_NAME.get(status_given.lower() if status_given else "in_use")
    if status is None:
        accepted = ", ".join(f"{k} ({zh})" for k, zh in STATUSES.items())
        problems.add(row.where, asset_id, "status", f"{status_given!r} is not one of {accepted}")
    lon, lat = _point(row, asset_id, crs, problems) if error is None else (None, None)
    texts = {}
    for name in ("name", "address"):
        texts[name] = field_text(values.get(name))
        if texts[name] is not None and len(texts[name] or "") > TEXT_MAX:
            problems.add(row.where, asset_id, name, f"longer than {TEXT_MAX} characters")
    if problems.total > before:
        return None
    assert lon is not None and lat is not None and status is not None
    return _Checked(
        row.where, asset_id, implied, owner, lon, lat, status, texts["name"], texts["address"], row.attributes
    )


def _point(row: SourceRow, asset_id: str, crs: str, problems: _Problems) -> tuple[float | None, float | None]:
    before = problems.total
    lon, lat = _number(row.values.get("lon")), _number(row.values.get("lat"))
    for name, number in (("lon", lon), ("lat", lat)):
        if number is None:
            given = row.values.get(name)
            problems.add(row.where, asset_id, name, "missing" if given is None else f"{given!r} is not a number")
        elif not math.isfinite(number):
            problems.add(row.where, asset_id, name, "not a finite number")
    if problems.total > before:
        return None, None
    assert lon is not None and lat is not None
    if not crs.startswith("EPSG:"):  # projected coordinates are checked once PostGIS has transformed them
        try:
            check_coordinates(lon, lat)
        except BadCoordinates as exc:
            message = exc.message
            if abs(lon) > 1000 or abs(lat) > 1000:  # metres, typically, in a file that does not say its CRS
                message += "; these look like projected coordinates: give the file's CRS with --crs EPSG:n"
            problems.add(row.where, asset_id, next(iter(exc.details)), message)
            return None, None
    return lon, lat


def _to_wgs84(session: Session, rows: list[_Checked], crs: str, problems: _Problems) -> tuple[np.ndarray, np.ndarray]:
    xs = np.fromiter((r.lon for r in rows), dtype=float, count=len(rows))
    ys = np.fromiter((r.lat for r in rows), dtype=float, count=len(rows))
    if not crs.startswith("EPSG:"):
        return to_wgs84_arrays(xs, ys, crs)
    try:
        with session.begin_nested():
            transformed = session.execute(
                text(TO_WGS84_SQL),
                {"xs": xs.tolist(), "ys": ys.tolist(), "srid": srid_of(crs)},
            ).all()
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else "PostGIS refused them"
        raise ValidationError(f"coordinates cannot be transformed from {crs}: {reason}", details={"crs": crs}) from None
    out_x = np.array([t[0] for t in transformed], dtype=float)
    out_y = np.array([t[1] for t in transformed], dtype=float)
    bad = ~(np.isfinite(out_x) & np.isfinite(out_y) & (np.abs(out_x) <= 180) & (np.abs(out_y) <= 90))
    for i in np.flatnonzero(bad):
        row = rows[int(i)]
        problems.add(row.where, row.id, "lon", f"({row.lon:g}, {row.lat:g}) in {crs} is no place on Earth")
    return out_x, out_y


def _stage(session: Session, rows: list[_Checked], xs: np.ndarray, ys: np.ndarray, cells: list[str | None]) -> None:
    session.execute(text(DROP_STAGING_SQL))
    session.execute(text(CREATE_STAGING_SQL))
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    with (
        connection.cursor() as cursor,  # type: ignore[attr-defined]
        cursor.copy(COPY_STAGING_SQL) as copy,
    ):
        for r, x, y, cell in zip(rows, xs.tolist(), ys.tolist(), cells, strict=True):
            copy.write_row(
                (
                    r.id,
                    r.class_code,
                    r.owner,
                    x,
                    y,
                    cell,
                    r.status,
                    r.name,
                    r.address,
                    json.dumps(r.attributes, ensure_ascii=False, default=str),
                )
            )


def _upsert(session: Session, now: datetime) -> tuple[int, int]:
    written = session.execute(text(UPSERT_SQL), {"now": now}).scalars().all()
    inserted = sum(1 for w in written if w)
    return inserted, len(written) - inserted


def source_rows(records: Iterable[dict[str, Any]], label: str = "row") -> list[SourceRow]:
    """Rows from dictionaries keyed by FIELDS (the demo's, or a caller's own), numbered from 0."""
    return [
        SourceRow(f"{label} {i}", {k: r.get(k) for k in FIELDS}, {k: v for k, v in r.items() if k not in FIELDS})
        for i, r in enumerate(records)
    ]
