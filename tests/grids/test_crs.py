"""WGS-84 / GCJ-02 / BD-09 conversion: plausible offsets, sub-metre round trips, scalar = vectorised, CRS names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from grids.crs import (
    CRSError,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    from_wgs84_arrays,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs,
    srid_of,
    to_wgs84,
    to_wgs84_arrays,
    transform_geometry,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

EARTH_RADIUS_M = 6371008.8  # mean radius
ROUND_TRIP_M = 0.5

TIANANMEN_WGS84 = (116.391248, 39.907501)
LOS_ANGELES = (-118.25, 34.05)
LONDON = (-0.1276, 51.5072)

mainland_lons = st.floats(min_value=73.0, max_value=135.0, allow_nan=False)
mainland_lats = st.floats(min_value=18.0, max_value=53.0, allow_nan=False)


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two lon/lat points (haversine on the mean sphere)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def mainland_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(73.0, 135.0, n), rng.uniform(18.0, 53.0, n)


# --- the offset itself ------------------------------------------------------------------------------------------------


def test_gcj02_offset_in_beijing_is_a_few_hundred_metres_east_and_north() -> None:
    gcj = wgs84_to_gcj02(*TIANANMEN_WGS84)
    assert 100 < metres_between(TIANANMEN_WGS84, gcj) < 700
    east = metres_between(TIANANMEN_WGS84, (gcj[0], TIANANMEN_WGS84[1]))
    north = metres_between(TIANANMEN_WGS84, (TIANANMEN_WGS84[0], gcj[1]))
    assert gcj[0] > TIANANMEN_WGS84[0] and gcj[1] > TIANANMEN_WGS84[1]
    assert east > north  # mostly eastward there


def test_gcj02_matches_the_regression_value_near_tiananmen() -> None:
    # Computed by this implementation from the published formula; it agrees within about a metre with the value
    # commonly quoted for this point (116.397490, 39.908897). Guards against a typo in a polynomial term.
    lon, lat = wgs84_to_gcj02(*TIANANMEN_WGS84)
    assert lon == pytest.approx(116.397489154, abs=1e-8)
    assert lat == pytest.approx(39.908902251, abs=1e-8)


def test_bd09_is_a_further_shift_of_a_few_hundred_metres_beyond_gcj02_in_beijing() -> None:
    gcj = wgs84_to_gcj02(*TIANANMEN_WGS84)
    bd = wgs84_to_bd09(*TIANANMEN_WGS84)
    assert bd == gcj02_to_bd09(*gcj)
    assert 300 < metres_between(gcj, bd) < 1500
    assert bd[0] > gcj[0] and bd[1] > gcj[1]


# --- round trips ------------------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(mainland_lons, mainland_lats)
def test_gcj02_round_trip_is_sub_half_metre(lon: float, lat: float) -> None:
    gcj = wgs84_to_gcj02(lon, lat)
    assert metres_between((lon, lat), gcj) > 1  # the offset really was applied
    assert metres_between((lon, lat), gcj02_to_wgs84(*gcj)) < ROUND_TRIP_M


@settings(max_examples=400, deadline=None)
@given(mainland_lons, mainland_lats)
def test_bd09_round_trip_is_sub_half_metre(lon: float, lat: float) -> None:
    bd = wgs84_to_bd09(lon, lat)
    assert metres_between((lon, lat), bd) > 1
    assert metres_between((lon, lat), bd09_to_wgs84(*bd)) < ROUND_TRIP_M
    gcj = wgs84_to_gcj02(lon, lat)
    assert metres_between(gcj, bd09_to_gcj02(*gcj02_to_bd09(*gcj))) < ROUND_TRIP_M


def test_round_trip_max_error_over_a_fixed_batch() -> None:
    # Measured max errors here are around 1e-6 m; the one-step GCJ-02 inverse would be off by up to ~4 m.
    lons, lats = mainland_batch(3000, seed=20240601)
    worst_gcj = worst_bd = 0.0
    for lon, lat in zip(lons.tolist(), lats.tolist(), strict=True):
        worst_gcj = max(worst_gcj, metres_between((lon, lat), gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))))
        worst_bd = max(worst_bd, metres_between((lon, lat), bd09_to_wgs84(*wgs84_to_bd09(lon, lat))))
    assert worst_gcj < ROUND_TRIP_M
    assert worst_bd < ROUND_TRIP_M


def test_inverse_is_better_than_the_one_step_approximation() -> None:
    # Pick the point of a batch where the one-step inverse (gcj - offset(gcj)) is worst, and check ours beats it.
    lons, lats = mainland_batch(500, seed=7)
    one_step_errors = []
    for lon, lat in zip(lons.tolist(), lats.tolist(), strict=True):
        gcj = wgs84_to_gcj02(lon, lat)
        again = wgs84_to_gcj02(*gcj)
        one_step = (2 * gcj[0] - again[0], 2 * gcj[1] - again[1])
        one_step_errors.append((metres_between((lon, lat), one_step), lon, lat))
    worst, lon, lat = max(one_step_errors)
    assert worst > 1  # so the comparison below means something
    assert metres_between((lon, lat), gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))) < 0.01


# --- outside mainland China -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", [LOS_ANGELES, LONDON, (151.2093, -33.8688), (100.5, 0.5), (139.6917, 35.6895)])
def test_gcj02_is_identity_outside_china(point: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    assert to_wgs84(*point, "gcj02") == point
    lons, lats = np.array([point[0]]), np.array([point[1]])
    for fn in (to_wgs84_arrays, from_wgs84_arrays):
        out_lon, out_lat = fn(lons, lats, "gcj02")
        assert (out_lon[0], out_lat[0]) == point


@pytest.mark.parametrize(
    ("outside", "inside"),
    [
        ((71.9, 30.0), (72.1, 30.0)),
        ((137.9, 45.0), (137.7, 45.0)),
        ((110.0, 0.8), (110.0, 0.9)),
        ((90, 55.9), (90, 55.7)),
    ],
)
def test_bounding_box_edges_scalar_and_vectorised(outside: tuple[float, float], inside: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*outside) == outside
    assert gcj02_to_wgs84(*outside) == outside
    assert metres_between(inside, wgs84_to_gcj02(*inside)) > 1
    assert metres_between(inside, gcj02_to_wgs84(*inside)) > 1
    lons, lats = np.array([outside[0], inside[0]]), np.array([outside[1], inside[1]])
    for fn in (to_wgs84_arrays, from_wgs84_arrays):
        out_lon, out_lat = fn(lons, lats, "gcj02")
        assert (out_lon[0], out_lat[0]) == outside
        assert metres_between(inside, (out_lon[1], out_lat[1])) > 1


def test_bd09_still_shifts_outside_china_and_round_trips() -> None:
    bd = wgs84_to_bd09(*LONDON)
    assert bd == gcj02_to_bd09(*LONDON)  # GCJ-02 step is the identity there, Baidu's own step is not
    assert metres_between(LONDON, bd) > 100
    assert metres_between(LONDON, bd09_to_wgs84(*bd)) < ROUND_TRIP_M


# --- vectorised = scalar ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_vectorised_equals_scalar_on_a_batch(crs: str) -> None:
    lons, lats = mainland_batch(2000, seed=11)
    # Mix in points outside the box and a point whose GCJ-02 image sits right at its edge.
    lons = np.concatenate([lons, [LOS_ANGELES[0], LONDON[0], 71.5, 138.5, 72.01]])
    lats = np.concatenate([lats, [LOS_ANGELES[1], LONDON[1], 30.0, 40.0, 0.83]])
    lons_before, lats_before = lons.copy(), lats.copy()

    fwd_lon, fwd_lat = from_wgs84_arrays(lons, lats, crs)
    back_lon, back_lat = to_wgs84_arrays(fwd_lon, fwd_lat, crs)

    scalar_fwd = np.array([from_wgs84(lon, lat, crs) for lon, lat in zip(lons, lats, strict=True)])
    scalar_back = np.array([to_wgs84(lon, lat, crs) for lon, lat in zip(fwd_lon, fwd_lat, strict=True)])
    np.testing.assert_allclose(fwd_lon, scalar_fwd[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(fwd_lat, scalar_fwd[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_lon, scalar_back[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_lat, scalar_back[:, 1], rtol=0, atol=1e-9)
    assert not np.allclose(fwd_lon, lons, rtol=0, atol=1e-5)  # it did convert something
    np.testing.assert_array_equal(lons, lons_before)  # inputs untouched
    np.testing.assert_array_equal(lats, lats_before)


def test_vectorised_keeps_shape_and_rejects_mismatched_arrays() -> None:
    lons = np.array([[116.39, 121.47], [113.26, -118.25]])
    lats = np.array([[39.90, 31.23], [23.13, 34.05]])
    out_lon, out_lat = from_wgs84_arrays(lons, lats, "gcj02")
    assert out_lon.shape == out_lat.shape == (2, 2)
    assert out_lon[0, 0] == wgs84_to_gcj02(116.39, 39.90)[0]
    assert out_lon[1, 1] == -118.25
    empty_lon, empty_lat = to_wgs84_arrays(np.array([]), np.array([]), "bd09")
    assert empty_lon.shape == empty_lat.shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        to_wgs84_arrays(np.array([1.0, 2.0]), np.array([1.0]), "gcj02")


def test_wgs84_arrays_pass_through_as_copies() -> None:
    lons, lats = np.array([116.39]), np.array([39.90])
    out_lon, _ = to_wgs84_arrays(lons, lats, "EPSG:4490")
    assert out_lon[0] == 116.39 and out_lon is not lons


# --- CRS names --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4326", "wgs84"),
        ("4326", "wgs84"),
        ("CGCS2000", "wgs84"),
        ("EPSG:4490", "wgs84"),
        (" gcj02 ", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("bd09ll", "bd09"),
        ("BD09LL", "bd09"),
        ("EPSG:3857", "EPSG:3857"),
        ("epsg:4547", "EPSG:4547"),
        ("3857", "EPSG:3857"),
    ],
)
def test_parse_crs_accepts_the_listed_forms(given_name: str, expected: str) -> None:
    assert parse_crs(given_name) == expected


@pytest.mark.parametrize("junk", ["", "wgs85", "gcj", "bd09mc", "EPSG:", "EPSG:abc", "EPSG:0", "-4326", "mars"])
def test_parse_crs_rejects_junk_naming_it(junk: str) -> None:
    with pytest.raises(CRSError) as caught:
        parse_crs(junk)
    assert repr(junk) in str(caught.value)
    assert "gcj02" in str(caught.value) and "EPSG:" in str(caught.value)  # lists the accepted forms
    assert isinstance(caught.value, ValueError)


def test_srid_of() -> None:
    assert srid_of("wgs84") == 4326
    assert srid_of("gcj02") == 4326
    assert srid_of("bd09") == 4326
    assert srid_of("cgcs2000") == 4326
    assert srid_of("EPSG:3857") == 3857
    with pytest.raises(CRSError):
        srid_of("nonsense")


@pytest.mark.parametrize("crs", ["EPSG:3857", "4547"])
def test_other_epsg_codes_are_not_converted_here(crs: str) -> None:
    for call in (
        lambda: to_wgs84(116.39, 39.90, crs),
        lambda: from_wgs84(116.39, 39.90, crs),
        lambda: to_wgs84_arrays(np.array([116.39]), np.array([39.90]), crs),
        lambda: from_wgs84_arrays(np.array([116.39]), np.array([39.90]), crs),
        lambda: transform_geometry(shapely.Point(116.39, 39.90), "wgs84", crs),
    ):
        with pytest.raises(CRSError, match="PostGIS"):
            call()


def test_to_and_from_wgs84_dispatch_on_the_name() -> None:
    assert to_wgs84(*TIANANMEN_WGS84, "WGS-84") == TIANANMEN_WGS84
    assert from_wgs84(*TIANANMEN_WGS84, "GCJ-02") == wgs84_to_gcj02(*TIANANMEN_WGS84)
    assert from_wgs84(*TIANANMEN_WGS84, "bd09ll") == wgs84_to_bd09(*TIANANMEN_WGS84)
    bd = wgs84_to_bd09(*TIANANMEN_WGS84)
    assert to_wgs84(*bd, "BD-09") == bd09_to_wgs84(*bd)
    with pytest.raises(CRSError, match="'bogus'"):
        to_wgs84(0.0, 0.0, "bogus")


# --- geometries -------------------------------------------------------------------------------------------------------


def _beijing_square_gcj02() -> shapely.Polygon:
    # About 170 m x 220 m around Tiananmen, in GCJ-02, with a hole.
    return shapely.Polygon(
        [(116.3965, 39.9080), (116.3985, 39.9080), (116.3985, 39.9095), (116.3965, 39.9095)],
        holes=[[(116.3970, 39.9085), (116.3975, 39.9085), (116.3975, 39.9090), (116.3970, 39.9090)]],
    )


def _vertices(geom: shapely.Geometry) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in shapely.get_coordinates(geom)]


def test_transform_geometry_gcj02_to_wgs84_moves_a_few_hundred_metres_and_back() -> None:
    square = _beijing_square_gcj02()
    in_wgs = transform_geometry(square, "gcj02", "wgs84")
    assert isinstance(in_wgs, shapely.Polygon) and len(in_wgs.interiors) == 1
    for before, after in zip(_vertices(square), _vertices(in_wgs), strict=True):
        assert 100 < metres_between(before, after) < 700
        assert metres_between(gcj02_to_wgs84(*before), after) < 1e-6  # same as the scalar conversion
    back = transform_geometry(in_wgs, "EPSG:4326", "GCJ-02")
    for before, after in zip(_vertices(square), _vertices(back), strict=True):
        assert metres_between(before, after) < ROUND_TRIP_M


def test_transform_geometry_between_bd09_and_gcj02_goes_through_wgs84() -> None:
    square = _beijing_square_gcj02()
    in_bd = transform_geometry(square, "gcj02", "bd09")
    for before, after in zip(_vertices(square), _vertices(in_bd), strict=True):
        assert metres_between(gcj02_to_bd09(*before), after) < 0.01
    back = transform_geometry(in_bd, "bd09", "gcj02")
    for before, after in zip(_vertices(square), _vertices(back), strict=True):
        assert metres_between(before, after) < ROUND_TRIP_M


def test_transform_geometry_keeps_z_dimension_and_passes_through_trivial_cases() -> None:
    point_z = transform_geometry(shapely.Point(116.3965, 39.9080, 44.5), "gcj02", "wgs84")
    assert point_z.has_z and point_z.z == 44.5
    assert (point_z.x, point_z.y) == pytest.approx(gcj02_to_wgs84(116.3965, 39.9080), abs=1e-12)
    point_2d = transform_geometry(shapely.Point(116.3965, 39.9080), "gcj02", "wgs84")
    assert not point_2d.has_z
    assert transform_geometry(shapely.Polygon(), "gcj02", "bd09").is_empty
    square = _beijing_square_gcj02()
    assert transform_geometry(square, "gcj-02", "GCJ02") is square
    many = transform_geometry(np.array([square, None]), "gcj02", "wgs84")
    assert many[1] is None and shapely.equals_exact(many[0], transform_geometry(square, "gcj02", "wgs84"), 1e-12)
