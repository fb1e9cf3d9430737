"""The address gazetteer (标准地址 / 门牌): addresses with their points, imported from a file, searched by fuzzy text.

`citymgmt addresses import FILE` reads a CSV (columns `address`, `lon`, `lat`; or 地址, 经度, 纬度) or a GeoJSON
FeatureCollection of Point features with an `address` property. Every row is checked before anything is written,
and all problems are reported at once (row, field, reason): a refused file changes nothing. A good file is upserted
by the address text, each point matched to its cell, so importing it again changes nothing more; addresses missing
from a file stay as they are (nothing is deleted).

Search (`GET /api/v1/addresses?q=`, the desk's place field) ranks the same text first, then addresses containing
it, then by pg_trgm's word similarity. Open311's `address_string` is located here when it names one address
unambiguously (`locate_address`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from grids.crs import CRSError, parse_crs, to_wgs84_arrays
from grids.matching import BadCoordinates, check_coordinates, match_cells
from grids.queries import DEMO_ADDRESSES_SQL, SEARCH_ADDRESSES_SQL, UPSERT_ADDRESSES_SQL, WORD_THRESHOLD_SQL
from grids.sources import (
    POINT_FILE_FORMATS,
    csv_records,
    feature_collection,
    geojson_point,
    point_file_format,
    read_bytes,
)

FORMATS = POINT_FILE_FORMATS
ADDRESS_MAX = 200
MAX_PROBLEMS = 1000  # kept in the error's details; the message shows the first SHOWN_PROBLEMS
SHOWN_PROBLEMS = 50
CSV_COLUMNS = {"address": "address", "地址": "address", "lon": "lon", "经度": "lon", "lat": "lat", "纬度": "lat"}
# How alike a text and an address must be (pg_trgm's word similarity, 0..1) for Open311's address_string to be
# located at that address without a point; and the best must beat the second best.
LOCATE_MIN_SCORE = 0.6
SEARCH_MIN_SCORE = 0.3  # the least word similarity a search finds (WORD_THRESHOLD_SQL)


@dataclass(frozen=True)
class Problem:
    row: str  # "line 3" (the header is line 1) or "feature 0"
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.row}: {self.field + ': ' if self.field else ''}{self.message}"


class AddressImportRefused(ValidationError):
    code = "import_refused"

    def __init__(self, problems: list[Problem], total: int) -> None:
        shown = "\n".join(f"  {p}" for p in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {total - SHOWN_PROBLEMS} more" if total > SHOWN_PROBLEMS else ""
        super().__init__(
            f"import refused, nothing was changed ({total} problem(s)):\n{shown}{more}",
            details={
                "problems": [{"row": p.row, "field": p.field, "message": p.message} for p in problems],
                "total": total,
            },
        )
        self.problems = problems


@dataclass(frozen=True)
class SourceRow:
    row: str
    address: Any
    lon: Any
    lat: Any
    error: tuple[str, str] | None = None  # (field, why) when the row could not even be read


@dataclass
class AddressImport:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    outside_cells: int = 0  # stored without a cell
    problems: list[Problem] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated

    def summary(self) -> str:
        return (
            f"imported {self.rows} addresses: {self.inserted} inserted, {self.updated} updated,"
            f" {self.unchanged} unchanged; {self.outside_cells} outside every cell"
        )


def read_address_file(path: Path, fmt: str | None = None) -> list[SourceRow]:
    """The rows of a CSV or GeoJSON file; ValidationError naming the file if it cannot be read as one."""
    fmt = point_file_format(path, fmt)
    raw = read_bytes(path)
    return _read_geojson(path, raw) if fmt == "geojson" else _read_csv(path, raw)


def _read_csv(path: Path, raw: bytes) -> list[SourceRow]:
    return [
        SourceRow(r.where, r.values.get("address"), r.values.get("lon"), r.values.get("lat"))
        if r.error is None
        else SourceRow(r.where, None, None, None, ("", r.error))
        for r in csv_records(path, raw, ("address", "lon", "lat"), CSV_COLUMNS)
    ]


def _read_geojson(path: Path, raw: bytes) -> list[SourceRow]:
    rows = []
    for index, feature in enumerate(feature_collection(path, raw)["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        address = props.get("address") if isinstance(props, dict) else None
        point = geojson_point(feature.get("geometry") if isinstance(feature, dict) else None)
        if isinstance(point, str):
            rows.append(SourceRow(f"feature {index}", address, None, None, ("geometry", point)))
        else:
            rows.append(SourceRow(f"feature {index}", address, *point))
    return rows


def normalise(address: str) -> str:
    """The text as stored and searched: surrounding space removed, inner runs of space made one."""
    return " ".join(address.split())


def import_addresses(
    session: Session, path: Path, now: datetime, crs: str = "wgs84", fmt: str | None = None
) -> AddressImport:
    """Import a file into the gazetteer, in the caller's transaction: all of it, or nothing."""
    return import_address_rows(session, read_address_file(path, fmt), now, crs)


def import_address_rows(session: Session, rows: list[SourceRow], now: datetime, crs: str = "wgs84") -> AddressImport:
    try:
        crs_name = parse_crs(crs)
    except CRSError as exc:
        raise ValidationError(str(exc), details={"crs": crs}) from None
    if crs_name not in ("wgs84", "gcj02", "bd09"):
        raise ValidationError(f"addresses are read in wgs84, gcj02 or bd09, not {crs}", details={"crs": crs})
    if not rows:
        raise ValidationError("the file has no rows", details={"rows": 0})
    problems: list[Problem] = []
    total = 0
    seen: dict[str, str] = {}
    addresses: list[str] = []
    lons: list[float] = []
    lats: list[float] = []
    for row in rows:
        found = _check(row, seen)
        if isinstance(found, list):
            total += len(found)
            problems.extend(found[: max(MAX_PROBLEMS - len(problems), 0)])
            continue
        addresses.append(found[0])
        lons.append(found[1])
        lats.append(found[2])
    if total:
        raise AddressImportRefused(problems, total)
    xs, ys = to_wgs84_arrays(lons, lats, crs_name)
    cells = match_cells(session, xs.tolist(), ys.tolist(), "wgs84")
    written = (
        session.execute(
            text(UPSERT_ADDRESSES_SQL),
            {"addresses": addresses, "lons": xs.tolist(), "lats": ys.tolist(), "cells": cells, "now": now},
        )
        .scalars()
        .all()
    )
    inserted = sum(1 for new in written if new)
    return AddressImport(
        rows=len(addresses),
        inserted=inserted,
        updated=len(written) - inserted,
        outside_cells=sum(1 for c in cells if c is None),
    )


def _check(row: SourceRow, seen: dict[str, str]) -> tuple[str, float, float] | list[Problem]:
    """The row's address and point, or every problem with it."""
    problems = []
    if row.error is not None:
        problems.append(Problem(row.row, row.error[0] or None, row.error[1]))
    address = normalise(str(row.address)) if isinstance(row.address, str | int) else ""
    if not address:
        problems.append(Problem(row.row, "address", "missing"))
    elif len(address) > ADDRESS_MAX:
        problems.append(Problem(row.row, "address", f"longer than {ADDRESS_MAX} characters"))
    elif address in seen:
        problems.append(Problem(row.row, "address", f"repeated (first at {seen[address]})"))
    else:
        seen[address] = row.row
    point: tuple[float, float] | None = None
    if row.error is None:
        try:
            point = check_coordinates(_number(row.lon), _number(row.lat))
        except BadCoordinates as exc:
            problems.append(Problem(row.row, next(iter(exc.details or {"lon": ""})), exc.message))
    if problems or point is None:
        return problems
    return address, point[0], point[1]


def _number(value: Any) -> Any:
    """A CSV cell as a number where it is one; anything else as given (check_coordinates names what is wrong)."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


# -- search -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundAddress:
    id: int
    address: str
    lon: float
    lat: float
    cell_code: str | None
    score: float  # 1.0 the same text; pg_trgm's word similarity otherwise


def search_addresses(session: Session, query: str, limit: int = 10) -> list[FoundAddress]:
    """Addresses like the text, best first (the same, containing it, then by trigram similarity)."""
    q = normalise(query)
    if not q:
        return []
    session.execute(text(WORD_THRESHOLD_SQL), {"threshold": str(SEARCH_MIN_SCORE)})
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(text(SEARCH_ADDRESSES_SQL), {"q": q, "pattern": pattern, "limit": limit}).mappings()
    return [
        FoundAddress(r["id"], r["address"], r["lon"], r["lat"], r["cell_code"], round(float(r["score"]), 3))
        for r in rows
    ]


def locate_address(session: Session, query: str) -> FoundAddress | None:
    """The one address a text names: the same text, or the best match if it is alike enough and better than the
    next; None when none is, or when two are equally good (the text does not say which)."""
    found = search_addresses(session, query, limit=2)
    if not found:
        return None
    best = found[0]
    if best.address == normalise(query):
        return best
    if best.score < LOCATE_MIN_SCORE or (len(found) > 1 and found[1].score >= best.score):
        return None
    return best


def load_demo_addresses(session: Session, districts: Iterable[str], now: datetime) -> int:
    """The demo city's gazetteer, one door number per cell (DEMO_ADDRESSES_SQL); how many were added."""
    result = session.execute(text(DEMO_ADDRESSES_SQL), {"districts": list(districts), "now": now})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
