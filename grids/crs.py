"""Coordinate reference systems met at the system's edges, and conversion to and from WGS-84.

Everything is stored in WGS-84 (EPSG:4326); conversion happens where data comes in or goes out.

- WGS-84 is what phones and GNSS receivers report. CGCS2000 (EPSG:4490), China's national datum, differs from WGS-84
  by centimetres, far below the accuracy of anything this system handles, so it is treated as WGS-84.
- GCJ-02 ("Mars coordinates") is the obfuscated datum that maps published in mainland China must use (AMap/Gaode,
  Tencent, Google China). It shifts WGS-84 by a smooth, non-linear offset of up to several hundred metres, given by a
  well-known published polynomial. Outside a rough mainland bounding box the offset is not applied.
- BD-09 is Baidu's further transform on top of GCJ-02 (a small rotation and scaling about the origin plus a constant
  shift). Baidu applies it everywhere, so BD-09 is shifted even where GCJ-02 equals WGS-84.

All three are longitude/latitude in degrees, so geometries in any of them carry SRID 4326 once converted here. The
forward transforms are closed formulas; their inverses have no closed form and are solved here by fixed-point
iteration to well under a millimetre (the commonly copied one-step inverse is off by up to a few metres). Other EPSG
codes (e.g. EPSG:3857, or projected CGCS2000 zones) are reprojected by PostGIS, not here.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CRSError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "from_wgs84_arrays",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "parse_crs",
    "srid_of",
    "to_wgs84",
    "to_wgs84_arrays",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84 = "wgs84"
GCJ02 = "gcj02"
BD09 = "bd09"

FloatArray = NDArray[np.float64]
_G = TypeVar("_G")

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# The rough mainland-China box conventionally used to decide whether GCJ-02 applies.
_MIN_LON, _MAX_LON = 72.004, 137.8347
_MIN_LAT, _MAX_LAT = 0.8293, 55.8271

# Inverse iteration: stop once a step moves less than this (degrees; 1e-9° is about 0.1 mm), or after _MAX_ITER steps.
_TOLERANCE = 1e-9
_MAX_ITER = 30

_ALIASES = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "wgs_84": WGS84,
    "cgcs2000": WGS84,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj_02": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "bd_09": BD09,
    "bd09ll": BD09,
}
# EPSG codes that are lon/lat on WGS-84 or on a datum treated as identical to it.
_WGS84_EPSG = {4326, 4490}
_EPSG_RE = re.compile(r"(?:epsg:)?([1-9][0-9]{0,8})")
_ACCEPTED = (
    "wgs84, wgs-84, cgcs2000, EPSG:4326, 4326, EPSG:4490 (WGS-84); gcj02, gcj-02 (GCJ-02); "
    "bd09, bd-09, bd09ll (BD-09); EPSG:<code> or <code> for other EPSG codes"
)


class CRSError(ValueError):
    """An unknown coordinate reference system name, or one this module cannot convert."""


# --- names ------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def parse_crs(value: str) -> str:
    """Normalise a user-given CRS name to "wgs84", "gcj02", "bd09" or "EPSG:<n>" (case-insensitive)."""
    if not isinstance(value, str):
        raise CRSError(f"CRS must be a string, got {value!r}; accepted: {_ACCEPTED}")
    key = value.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    match = _EPSG_RE.fullmatch(key)
    if match is not None:
        code = int(match.group(1))
        return WGS84 if code in _WGS84_EPSG else f"EPSG:{code}"
    raise CRSError(f"unknown CRS {value!r}; accepted: {_ACCEPTED}")


def srid_of(crs: str) -> int | None:
    """The SRID that coordinates in `crs` carry once converted by this module (any form parse_crs accepts).

    WGS-84, GCJ-02 and BD-09 are all lon/lat degrees and are converted to WGS-84 in Python, hence 4326; "EPSG:<n>" is
    n, for PostGIS to reproject.
    """
    name = parse_crs(crs)
    if name in (WGS84, GCJ02, BD09):
        return 4326
    return int(name.removeprefix("EPSG:"))


def _convertible(crs: str) -> str:
    name = parse_crs(crs)
    if name.startswith("EPSG:"):
        raise CRSError(
            f"cannot convert {crs!r} ({name}) here: only WGS-84, CGCS2000, GCJ-02 and BD-09 are converted in Python; "
            "other EPSG codes are reprojected by PostGIS"
        )
    return name


# --- scalar -----------------------------------------------------------------------------------------------------------


def _outside_china(lon: float, lat: float) -> bool:
    return not (_MIN_LON <= lon <= _MAX_LON and _MIN_LAT <= lat <= _MAX_LAT)


def _gcj02_delta(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 offset (degrees) at a WGS-84 point, without the bounding-box test."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
    d_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    # The polynomial is in metres-like units on the Krasovsky ellipsoid: scale by the meridian and parallel radii.
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02; unchanged outside mainland China's bounding box."""
    lon, lat = float(lon), float(lat)
    if _outside_china(lon, lat):
        return lon, lat
    d_lon, d_lat = _gcj02_delta(lon, lat)
    return lon + d_lon, lat + d_lat


def _invert(
    forward: Callable[[float, float], tuple[float, float]],
    lon: float,
    lat: float,
    start: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Solve forward(p) = (lon, lat) for p by fixed-point iteration: the offsets vary slowly, so it contracts fast."""
    guess_lon, guess_lat = (lon, lat) if start is None else start
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(guess_lon, guess_lat)
        new_lon = guess_lon - (f_lon - lon)
        new_lat = guess_lat - (f_lat - lat)
        change = max(abs(new_lon - guess_lon), abs(new_lat - guess_lat))
        guess_lon, guess_lat = new_lon, new_lat
        if not change >= _TOLERANCE:  # written so that NaN also stops
            break
    return guess_lon, guess_lat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84, the exact inverse of wgs84_to_gcj02 (iterated); unchanged outside the bounding box."""
    lon, lat = float(lon), float(lat)
    if _outside_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → BD-09 (applied everywhere, as Baidu does)."""
    x, y = float(lon), float(lat)
    z = math.sqrt(x * x + y * y) + 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) + 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 → GCJ-02: the published approximate inverse (off by decimetres), refined by iterating gcj02_to_bd09."""
    lon, lat = float(lon), float(lat)
    return _invert(gcj02_to_bd09, lon, lat, _bd09_to_gcj02_approx(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 → BD-09, through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 → WGS-84, through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: dict[str, Callable[[float, float], tuple[float, float]]] = {
    GCJ02: gcj02_to_wgs84,
    BD09: bd09_to_wgs84,
}
_FROM_WGS84: dict[str, Callable[[float, float], tuple[float, float]]] = {
    GCJ02: wgs84_to_gcj02,
    BD09: wgs84_to_bd09,
}


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert one lon/lat point in `crs` (any form parse_crs accepts) to WGS-84."""
    name = _convertible(crs)
    if name == WGS84:
        return float(lon), float(lat)
    return _TO_WGS84[name](lon, lat)


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert one WGS-84 lon/lat point to `crs` (any form parse_crs accepts)."""
    name = _convertible(crs)
    if name == WGS84:
        return float(lon), float(lat)
    return _FROM_WGS84[name](lon, lat)


# --- vectorised -------------------------------------------------------------------------------------------------------


def _as_arrays(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_arr = np.asarray(lons, dtype=np.float64)
    lat_arr = np.asarray(lats, dtype=np.float64)
    if lon_arr.shape != lat_arr.shape:
        raise ValueError(f"longitude and latitude arrays differ in shape: {lon_arr.shape} vs {lat_arr.shape}")
    return lon_arr, lat_arr


def _inside_china_arrays(lons: FloatArray, lats: FloatArray) -> NDArray[np.bool_]:
    return (lons >= _MIN_LON) & (lons <= _MAX_LON) & (lats >= _MIN_LAT) & (lats <= _MAX_LAT)


def _gcj02_delta_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised _gcj02_delta (same formula, term for term)."""
    pi = np.pi
    x = lons - 105.0
    y = lats - 35.0
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lats / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    return d_lon, d_lat


def _wgs84_to_gcj02_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Only points inside the box are offset (the formula divides by cos(lat), so it is not even defined at the poles).
    inside = _inside_china_arrays(lons, lats)
    out_lon, out_lat = lons.copy(), lats.copy()
    d_lon, d_lat = _gcj02_delta_arrays(lons[inside], lats[inside])
    out_lon[inside] += d_lon
    out_lat[inside] += d_lat
    return out_lon, out_lat


def _invert_arrays(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lons: FloatArray,
    lats: FloatArray,
    start: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Vectorised _invert: the same fixed-point step over whole arrays until every point has settled."""
    guess_lon, guess_lat = (lons.copy(), lats.copy()) if start is None else start
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(guess_lon, guess_lat)
        new_lon = guess_lon - (f_lon - lons)
        new_lat = guess_lat - (f_lat - lats)
        change = np.maximum(np.abs(new_lon - guess_lon), np.abs(new_lat - guess_lat))
        guess_lon, guess_lat = new_lon, new_lat
        # NaN changes (NaN input) compare False and so do not hold the loop open forever; it is bounded anyway.
        if not np.any(change >= _TOLERANCE):
            break
    return guess_lon, guess_lat


def _gcj02_to_wgs84_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = _inside_china_arrays(lons, lats)
    out_lon, out_lat = lons.copy(), lats.copy()
    out_lon[inside], out_lat[inside] = _invert_arrays(_wgs84_to_gcj02_arrays, lons[inside], lats[inside])
    return out_lon, out_lat


def _gcj02_to_bd09_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(lons * lons + lats * lats) + 0.00002 * np.sin(lats * _X_PI)
    theta = np.arctan2(lats, lons) + 0.000003 * np.cos(lons * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = lons - 0.0065, lats - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    start = (z * np.cos(theta), z * np.sin(theta))
    return _invert_arrays(_gcj02_to_bd09_arrays, lons, lats, start)


def _bd09_to_wgs84_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_wgs84_arrays(*_bd09_to_gcj02_arrays(lons, lats))


def _wgs84_to_bd09_arrays(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj02_to_bd09_arrays(*_wgs84_to_gcj02_arrays(lons, lats))


_ArrayFn = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
_TO_WGS84_ARRAYS: dict[str, _ArrayFn] = {GCJ02: _gcj02_to_wgs84_arrays, BD09: _bd09_to_wgs84_arrays}
_FROM_WGS84_ARRAYS: dict[str, _ArrayFn] = {GCJ02: _wgs84_to_gcj02_arrays, BD09: _wgs84_to_bd09_arrays}


def to_wgs84_arrays(lons: ArrayLike, lats: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Vectorised to_wgs84: new float64 arrays of the inputs' shape (the inputs are not modified)."""
    name = _convertible(crs)
    lon_arr, lat_arr = _as_arrays(lons, lats)
    if name == WGS84:
        return lon_arr.copy(), lat_arr.copy()
    return _TO_WGS84_ARRAYS[name](lon_arr, lat_arr)


def from_wgs84_arrays(lons: ArrayLike, lats: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Vectorised from_wgs84: new float64 arrays of the inputs' shape (the inputs are not modified)."""
    name = _convertible(crs)
    lon_arr, lat_arr = _as_arrays(lons, lats)
    if name == WGS84:
        return lon_arr.copy(), lat_arr.copy()
    return _FROM_WGS84_ARRAYS[name](lon_arr, lat_arr)


# --- geometries -------------------------------------------------------------------------------------------------------


def _on_columns(convert: _ArrayFn) -> Callable[[FloatArray], FloatArray]:
    """Adapt a (lons, lats) converter to shapely.transform's (N, 2|3) array form; a Z column passes through."""

    def apply(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64, copy=True)
        out[:, 0], out[:, 1] = convert(out[:, 0], out[:, 1])
        return out

    return apply


def transform_geometry(geom: _G, from_crs: str, to_crs: str) -> _G:
    """Convert a shapely geometry (or array of geometries) between WGS-84, GCJ-02 and BD-09.

    Goes through WGS-84 when neither side is WGS-84. Z coordinates, empty geometries and None are kept as they are.
    """
    source = _convertible(from_crs)
    target = _convertible(to_crs)
    if source == target:
        return geom
    steps: list[_ArrayFn] = []
    if source != WGS84:
        steps.append(_TO_WGS84_ARRAYS[source])
    if target != WGS84:
        steps.append(_FROM_WGS84_ARRAYS[target])

    def convert(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
        for step in steps:
            lons, lats = step(lons, lats)
        return lons, lats

    # include_z=True keeps each geometry's dimensionality (2D stays 2D) and hands Z through untouched.
    result: _G = shapely.transform(geom, _on_columns(convert), include_z=True)
    return result
