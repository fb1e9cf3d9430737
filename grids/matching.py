"""Point → unit grid cell: the match every report goes through.

One SQL statement on the partial GiST index of live cells, with `ST_Covers` so that points on a cell's edge or
corner match. **Tie-break rule (documented, deterministic):** a point on an edge or corner shared by several cells
belongs to the cell with the smallest code. Because codes run north to south and west to east, that is in practice
the northern cell of a horizontal edge and the western cell of a vertical one (and, across communities, the cell of
the community with the smaller code).

The point is converted to WGS-84 first when the client gives GCJ-02 or BD-09; other EPSG codes are transformed by
PostGIS, on the point, never on the column.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from citymgmt.core.db import driver
from citymgmt.core.errors import DomainError, ValidationError
from citymgmt.core.health import health_probe
from grids.crs import CRSError, parse_crs, srid_of, to_wgs84, to_wgs84_arrays
from grids.queries import (
    BULK_SQL,
    CELL_SHAPES_IN_EXTENT_SQL,
    CELLS_IN_EXTENT_SQL,
    JIT_OFF_SQL,
    MATCH_SQL,
    NEAREST_CELL_SQL,
    NEAREST_WITHIN_SQL,
    SRID_KNOWN_SQL,
    STAGE_ANALYZE_SQL,
    STAGE_COPY_SQL,
    STAGE_DROP_SQL,
    STAGE_INDEX_SQL,
    STAGE_SQL,
    STAGED_JOIN_SQL,
    WGS84_MATCH_SQL,
)


class BadCoordinates(DomainError):
    """Coordinates no place on Earth has: NaN, out of range, or latitude and longitude swapped."""

    code = "bad_coordinates"


class OutsideGrid(ValidationError):
    """A real place, but in no cell: the message names the nearest cell and how far it is."""

    code = "outside_grid"


@dataclass(frozen=True)
class CellMatch:
    cell_code: str
    community_code: str
    street_code: str
    district_code: str
    lon: float  # the point in WGS-84, as matched
    lat: float

    @classmethod
    def of(cls, code: str, lon: float, lat: float) -> CellMatch:
        return cls(code, code[:12], code[:9], code[:6], lon, lat)


def check_coordinates(lon: Any, lat: Any) -> tuple[float, float]:
    """Two finite numbers in range, or BadCoordinates saying which field is wrong and why."""
    lon_f, lat_f = _finite(lon, lat)
    if not -90 <= lat_f <= 90:
        if -90 <= lon_f <= 90 and -180 <= lat_f <= 180:
            raise BadCoordinates(
                f"lat {lat_f} is out of range (-90..90); lon and lat look swapped",
                details={"lat": "out of range", "hint": "swapped"},
            )
        raise BadCoordinates(f"lat {lat_f} is out of range (-90..90)", details={"lat": "out of range"})
    if not -180 <= lon_f <= 180:
        raise BadCoordinates(f"lon {lon_f} is out of range (-180..180)", details={"lon": "out of range"})
    return lon_f, lat_f


def _point_sql(crs: str) -> str:
    srid = srid_of(crs)
    if srid == 4326:
        return "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    return f"ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), {int(srid or 0)}), 4326)"


def _finite(lon: Any, lat: Any) -> tuple[float, float]:
    """Projected coordinates (metres) only need to be finite numbers; PostGIS says if they are off its map."""
    out = []
    for name, value in (("lon", lon), ("lat", lat)):
        if isinstance(value, bool):  # JSON true is not 1.0
            raise BadCoordinates(f"{name} must be a number", details={name: "not a number"})
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadCoordinates(f"{name} must be a number", details={name: "not a number"}) from None
        if not math.isfinite(number):
            raise BadCoordinates(f"{name} must be a finite number", details={name: "not finite"})
        out.append(number)
    return out[0], out[1]


def _normalise(lon: Any, lat: Any, crs: str) -> tuple[float, float, str]:
    try:
        name = parse_crs(crs)
    except CRSError as exc:
        raise BadCoordinates(str(exc), details={"crs": "unknown"}) from None
    if name.startswith("EPSG:"):
        return *_finite(lon, lat), name
    lon_f, lat_f = check_coordinates(lon, lat)
    if name in ("wgs84", "gcj02", "bd09"):
        lon_f, lat_f = to_wgs84(lon_f, lat_f, name)
        return lon_f, lat_f, "wgs84"
    return lon_f, lat_f, name


def known_crs(session: Session, given: str) -> str:
    """The CRS a file or an option names (crs.parse_crs), checked before anything is read in it: an EPSG code is
    reprojected by PostGIS, and one it does not know would only fail once everything was checked and staged.
    ValidationError naming `crs` otherwise."""
    try:
        name = parse_crs(given)
    except CRSError as exc:
        raise ValidationError(str(exc), details={"crs": given}) from None
    if name.startswith("EPSG:") and session.execute(text(SRID_KNOWN_SQL), {"srid": srid_of(name)}).first() is None:
        raise ValidationError(f"unknown CRS {given!r}: PostGIS has no {name}", details={"crs": given})
    return name


def match_cell(session: Session, lon: Any, lat: Any, crs: str = "wgs84") -> CellMatch:
    """The cell covering the point, or OutsideGrid naming the nearest cell, or BadCoordinates."""
    lon_f, lat_f, name = _normalise(lon, lat, crs)
    if name == "wgs84":
        row = driver(session).execute(WGS84_MATCH_SQL, {"lon": lon_f, "lat": lat_f}, prepare=True).fetchone()
        if row is None:
            raise _outside(session, lon_f, lat_f)
        return CellMatch.of(row[0], lon_f, lat_f)
    srid = srid_of(name)
    if session.execute(text(SRID_KNOWN_SQL), {"srid": srid}).first() is None:
        raise BadCoordinates(f"unknown CRS {name}: PostGIS has no such SRID", details={"crs": "unknown"})
    try:
        with session.begin_nested():  # a failed transform leaves the caller's transaction usable
            code, x, y = session.execute(
                text(MATCH_SQL.format(point=_point_sql(name))), {"lon": lon_f, "lat": lat_f}
            ).one()
    except DBAPIError:
        raise BadCoordinates(
            f"the point cannot be transformed from {name} to WGS-84 (outside that system's area of use)",
            details={"lon": lon_f, "lat": lat_f, "crs": name},
        ) from None
    if code is None:
        raise _outside(session, x, y)
    return CellMatch.of(code, x, y)


@health_probe("matching")
def matching_probe(session: Session) -> None:
    """/healthz: one point matched as intake matches it (a PostGIS broken under live connections, as by a restore
    that recreated the extension, fails here as intake would)."""
    with contextlib.suppress(OutsideGrid):  # an answer either way: the matching works
        match_cell(session, 0.0, 0.0)


def _outside(session: Session, lon: float, lat: float) -> OutsideGrid:
    nearest = session.execute(text(NEAREST_CELL_SQL), {"lon": lon, "lat": lat}).first()
    if nearest is None:
        return OutsideGrid("no grid cells are loaded yet", details={"nearest_cell": None})
    code, metres = nearest
    return OutsideGrid(
        f"the point is outside every grid cell; the nearest is {code}, {metres:,.0f} m away",
        details={"nearest_cell": code, "distance_m": round(metres, 1)},
    )


STAGE_FROM = 20_000  # points per connection from which staging pays for its COPY, index and ANALYZE
# Staging visits every live cell in the points' extent once; probing visits the cells' index once per point. A
# cell visit costs about half a probe, so staging wins while the extent holds fewer cells than about 1.5× the
# points: dense imports (a year of reports over a city) stage, sparse samples over a huge grid probe.
STAGE_CELLS_PER_POINT = 1.0
# Points that outnumber the cells of their extent are matched in this process instead, as long as those cells are
# not too many to hold: the cells read once into a Shapely STRtree, then each point against its candidates with
# GEOS's covers, the predicate PostGIS's ST_Covers has (both count the boundary in). Reading and building costs
# about 4 µs a cell and matching about 2 µs a point, against staging's 10 µs a cell and its COPY and index; the tree
# holds about 0.7 KB a cell at its peak (600,000 cells: about 420 MB), so bigger extents are staged.
TREE_POINTS_PER_CELL = 1.0
TREE_MAX_CELLS = 600_000


def match_cells(
    session: Session,
    lons: Sequence[float],
    lats: Sequence[float],
    crs: str = "wgs84",
    workers: int = 1,
    strategy: str = "auto",
) -> list[str | None]:
    """Many points, in order: the cell code of each, or None where no cell covers it.

    For imports and benchmarks. Points are checked only for being finite and in range (bad ones raise). They are
    taken in Morton (Z-order) order, so that neighbouring probes touch the same index and table pages, and with
    `workers` > 1 split into that many spatially compact chunks on as many extra connections, one PostgreSQL
    backend (one core) each, which see committed cells only. A chunk is matched by one statement over arrays
    (BULK_SQL), one index probe per point; a chunk of at least `stage_from` points that outnumber the cells in their
    extent is instead staged into a temporary table by binary COPY and matched by one join visiting each cell once
    (STAGED_JOIN_SQL). `strategy` "probe" or "stage" forces one way (for tests and benchmarks); the answer is the
    same. Points that outnumber the cells of their extent, up to TREE_MAX_CELLS cells, are matched in this process
    on an STRtree of those cells instead (`strategy` "tree"). The smallest code wins on shared edges, as in
    match_cell."""
    if strategy not in ("auto", "probe", "stage", "tree"):
        raise ValueError(f"unknown strategy {strategy!r}")
    if len(lons) != len(lats):
        raise ValidationError("lons and lats differ in length")
    if not len(lons):
        return []
    name = parse_crs(crs)
    if name not in ("wgs84", "gcj02", "bd09"):
        raise ValidationError(f"bulk matching takes wgs84, gcj02 or bd09 points, not {name}")
    xs, ys = to_wgs84_arrays(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float), name)
    bad = ~(np.isfinite(xs) & np.isfinite(ys) & (np.abs(xs) <= 180) & (np.abs(ys) <= 90))
    if bad.any():
        first = int(np.argmax(bad))
        check_coordinates(lons[first], lats[first])  # raises, saying what is wrong with it
        raise BadCoordinates(f"point {first} is not a place on Earth")
    order = np.argsort(_morton(xs, ys), kind="stable")
    chunks = np.array_split(order, max(1, workers))
    result: list[str | None] = [None] * len(xs)

    def keep(chunk: np.ndarray, rows: Any) -> None:
        for n, code in rows:
            index = int(chunk[n - 1])
            if result[index] is None or code < result[index]:
                result[index] = code

    def run(connection: Any, chunk: np.ndarray) -> None:
        extent = (float(xs[chunk].min()), float(ys[chunk].min()), float(xs[chunk].max()), float(ys[chunk].max()))
        cells = (
            _cells_in(connection, extent, int(len(chunk) * max(STAGE_CELLS_PER_POINT, 1 / TREE_POINTS_PER_CELL)) + 1)
            if strategy == "auto" and len(chunk) >= STAGE_FROM
            else None
        )
        if strategy == "tree" or (
            cells is not None and cells < len(chunk) / TREE_POINTS_PER_CELL and cells <= TREE_MAX_CELLS
        ):
            keep(chunk, _tree(connection, xs[chunk], ys[chunk], extent))
        elif strategy == "stage" or (cells is not None and cells < len(chunk) * STAGE_CELLS_PER_POINT):
            keep(chunk, _staged(connection, xs[chunk], ys[chunk], extent))
        else:
            keep(chunk, connection.execute(text(BULK_SQL), {"lons": xs[chunk].tolist(), "lats": ys[chunk].tolist()}))

    if workers <= 1:
        run(session.connection(), order)
        return result
    engine = session.get_bind().engine  # a session bound to a connection (tests) gives its engine too
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda chunk: _with_connection(engine, run, chunk), chunks))
    return result


def nearest_cells_within(
    session: Session, lons: Sequence[float], lats: Sequence[float], metres: float
) -> list[tuple[str, float] | None]:
    """For points no cell covers (WGS-84, in order): the nearest live cell within `metres` and its distance in metres,
    or None. An import attaches a point just outside the grid (a kerb, a river bank) to it."""
    if not len(lons):
        return []
    result: list[tuple[str, float] | None] = [None] * len(lons)
    rows = session.execute(
        text(NEAREST_WITHIN_SQL), {"lons": list(map(float, lons)), "lats": list(map(float, lats)), "metres": metres}
    )
    for n, code, distance in rows:
        result[n - 1] = (code, float(distance))
    return result


def _cells_in(connection: Any, extent: tuple[float, float, float, float], cap: int) -> int:
    """The live cells in the extent, counted on the index up to `cap` (a tenth of the matching's own cost at most)."""
    return int(
        connection.execute(
            text(CELLS_IN_EXTENT_SQL),
            {**dict(zip(("x0", "y0", "x1", "y1"), extent, strict=True)), "cap": cap},
        ).scalar_one()
    )


def _staged(
    connection: Any, xs: np.ndarray, ys: np.ndarray, extent: tuple[float, float, float, float]
) -> list[tuple[int, str]]:
    """Match through a temporary table of the points (numbered from 1), in the connection's transaction.

    The table is dropped at the end; if something fails first, the transaction's rollback takes it away. JIT stays
    off for the rest of the transaction."""
    driver = connection.connection.driver_connection
    table = f"match_points_{uuid.uuid4().hex}"
    driver.execute(JIT_OFF_SQL)
    driver.execute(STAGE_SQL.format(table=table) + " ON COMMIT DROP")
    with driver.cursor().copy(STAGE_COPY_SQL.format(table=table)) as copy:
        copy.set_types(["int4", "float8", "float8"])
        for n, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True), start=1):
            copy.write_row((n, x, y))
    driver.execute(STAGE_INDEX_SQL.format(table=table))
    driver.execute(STAGE_ANALYZE_SQL.format(table=table))
    corners = dict(zip(("x0", "y0", "x1", "y1"), extent, strict=True))
    rows: list[tuple[int, str]] = driver.execute(STAGED_JOIN_SQL.format(table=table), corners).fetchall()
    driver.execute(STAGE_DROP_SQL.format(table=table))
    return rows


def _tree(
    connection: Any, xs: np.ndarray, ys: np.ndarray, extent: tuple[float, float, float, float]
) -> list[tuple[int, str]]:
    """Match in this process: the live cells of the extent in an STRtree, each point (numbered from 1) with the
    smallest code of the cells that cover it."""
    cells = connection.execute(
        text(CELL_SHAPES_IN_EXTENT_SQL),
        dict(zip(("x0", "y0", "x1", "y1"), extent, strict=True)),
    ).all()
    if not cells:
        return []
    codes = [code for code, _ in cells]  # in order: a smaller index is a smaller code
    tree = shapely.STRtree(shapely.from_wkb([bytes(wkb) for _, wkb in cells]))
    points, found = tree.query(shapely.points(xs, ys), predicate="covered_by")
    order = np.lexsort((found, points))  # by point, then by code
    points, found = points[order], found[order]
    firsts = np.unique(points, return_index=True)[1]
    return [(int(points[i]) + 1, codes[int(found[i])]) for i in firsts]


def _with_connection(engine: Any, run: Any, chunk: np.ndarray) -> None:
    with engine.connect() as connection:
        run(connection, chunk)


def _morton(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Z-order keys of the points (16 bits an axis, over their own extent): nearby points get nearby keys."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = v.astype(np.uint64) & np.uint64(0xFFFF)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    def scale(v: np.ndarray) -> np.ndarray:
        span = float(v.max() - v.min()) or 1.0
        return ((v - v.min()) / span * 65535).round()

    return spread(scale(xs)) | (spread(scale(ys)) << np.uint64(1))
