"""Point → cell on the real Dongcheng and Xicheng grids: landmarks, coordinate systems, edges, corners, the border."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import text

from citymgmt.core.errors import Kind
from grids.crs import wgs84_to_bd09, wgs84_to_gcj02
from grids.matching import BadCoordinates, OutsideGrid, match_cell, match_cells, nearest_cells_within

pytestmark = pytest.mark.usefixtures("beijing")

# Phone fixes (WGS-84) of well-known places, and the district each is in.
LANDMARKS = {
    "Forbidden City 故宫": (116.3906, 39.9158, "110101"),
    "Beijing Railway Station 北京站": (116.4269, 39.9028, "110101"),
    "Beihai Park 北海公园": (116.3831, 39.9250, "110102"),
}


@pytest.mark.parametrize("place", sorted(LANDMARKS))
def test_landmarks_land_in_their_district(db_session, place: str) -> None:  # type: ignore[no-untyped-def]
    lon, lat, district = LANDMARKS[place]
    m = match_cell(db_session, lon, lat)
    assert m.district_code == district
    assert m.cell_code.startswith(m.community_code) and m.community_code.startswith(m.street_code)
    covering = db_session.execute(
        text("SELECT count(*) FROM grid_cells WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
        {"x": lon, "y": lat},
    ).scalar_one()
    assert covering == 1


@pytest.mark.parametrize("place", sorted(LANDMARKS))
def test_the_same_place_in_gcj02_and_bd09_matches_the_same_cell(db_session, place: str) -> None:  # type: ignore[no-untyped-def]
    lon, lat, _ = LANDMARKS[place]
    expected = match_cell(db_session, lon, lat).cell_code
    assert match_cell(db_session, *wgs84_to_gcj02(lon, lat), crs="gcj02").cell_code == expected
    assert match_cell(db_session, *wgs84_to_bd09(lon, lat), crs="bd09").cell_code == expected
    # Without saying so, a GCJ-02 point is some 500 m off: another cell, or none at all near the district's edge.
    try:
        unconverted: str | None = match_cell(db_session, *wgs84_to_gcj02(lon, lat)).cell_code
    except OutsideGrid:
        unconverted = None
    assert unconverted != expected


def test_a_projected_point_is_transformed_by_postgis(db_session) -> None:  # type: ignore[no-untyped-def]
    lon, lat, _ = LANDMARKS["Forbidden City 故宫"]
    x, y = db_session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 3857) p"),
        {"lon": lon, "lat": lat},
    ).one()
    m = match_cell(db_session, x, y, crs="EPSG:3857")
    assert m.cell_code == match_cell(db_session, lon, lat).cell_code
    assert math.isclose(m.lon, lon, abs_tol=1e-9) and math.isclose(m.lat, lat, abs_tol=1e-9)


def _covering(db_session, lon: float, lat: float) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        db_session.execute(
            text(
                "SELECT code FROM grid_cells WHERE retired_at IS NULL"
                " AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY code"
            ),
            {"x": lon, "y": lat},
        ).scalars()
    )


def test_a_corner_shared_by_four_cells_goes_to_the_smallest_code(db_session) -> None:  # type: ignore[no-untyped-def]
    # An inner corner of a full cell deep inside Dongcheng: four cells meet there.
    corners = db_session.execute(
        text(
            """
            SELECT ST_X(pt), ST_Y(pt) FROM (
                SELECT (ST_DumpPoints(geom)).geom AS pt FROM grid_cells
                WHERE code LIKE '110101%' AND area_m2 BETWEEN 9990 AND 10010 ORDER BY code LIMIT 40
            ) c
            """
        )
    ).all()
    four = [(x, y) for x, y in corners if len(_covering(db_session, x, y)) == 4]
    assert four, "expected some corner shared by four cells"
    for x, y in four[:5]:
        codes = _covering(db_session, x, y)
        assert match_cell(db_session, x, y).cell_code == codes[0] == min(codes)


def test_a_point_on_a_shared_edge_goes_to_the_smaller_code(db_session) -> None:  # type: ignore[no-untyped-def]
    # Where a grid line meets the district boundary, the vertex lies on the edge two clipped cells share.
    vertices = db_session.execute(
        text(
            """
            SELECT DISTINCT ST_X(pt), ST_Y(pt) FROM (
                SELECT (ST_DumpPoints(geom)).geom AS pt FROM grid_cells
                WHERE code LIKE '110101%' AND area_m2 < 9000 ORDER BY code LIMIT 400
            ) c
            """
        )
    ).all()
    on_edges = [(x, y) for x, y in vertices if len(_covering(db_session, x, y)) == 2]
    assert on_edges, "expected boundary vertices shared by two cells"
    for x, y in on_edges[:5]:
        codes = _covering(db_session, x, y)
        assert match_cell(db_session, x, y).cell_code == codes[0] < codes[1]


def test_the_dongcheng_xicheng_border_has_no_overlap_and_no_gap(db_session) -> None:  # type: ignore[no-untyped-def]
    overlap = db_session.execute(
        text(
            """
            SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
            FROM grid_cells a JOIN grid_cells b ON a.geom && b.geom AND ST_Intersects(a.geom, b.geom)
            WHERE a.code LIKE '110101%' AND b.code LIKE '110102%'
            """
        )
    ).scalar_one()
    assert overlap < 1.0, f"cells of the two districts overlap by {overlap} m²"
    # Points along the shared border, and a few metres either side, all find exactly one district each.
    samples = db_session.execute(
        text(
            """
            WITH border AS (
                SELECT ST_LineMerge(ST_CollectionExtract(ST_Intersection(
                    ST_Boundary(a.geom), ST_Buffer(ST_Boundary(b.geom)::geography, 1)::geometry), 2)) AS line
                FROM areas a, areas b WHERE a.code = '110101' AND b.code = '110102'
            )
            SELECT ST_X(p), ST_Y(p) FROM border,
                   generate_series(0.01, 0.99, 0.02) f,
                   ST_LineInterpolatePoint(ST_GeometryN(ST_Multi(line), 1), f) p
            """
        )
    ).all()
    assert len(samples) == 50
    for x, y in samples:
        assert match_cell(db_session, x, y).district_code in ("110101", "110102")


def test_outside_every_cell_names_the_nearest_cell_and_distance(db_session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OutsideGrid) as raised:
        match_cell(db_session, 117.2, 39.13)  # Tianjin
    error = raised.value
    assert error.kind == Kind.invalid
    assert error.details["nearest_cell"].startswith("1101")
    assert 90_000 < error.details["distance_m"] < 150_000
    assert error.details["nearest_cell"] in error.message and " m away" in error.message


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        (float("nan"), 39.9, "lon must be a finite number"),
        (116.4, float("inf"), "lat must be a finite number"),
        ("east", 39.9, "lon must be a number"),
        (None, 39.9, "lon must be a number"),
        (181, 39.9, "lon 181.0 is out of range"),
        (116.4, -91, "lat -91.0 is out of range"),
        (39.9, 116.4, "lon and lat look swapped"),
    ],
)
def test_impossible_coordinates_say_why(db_session, lon, lat, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadCoordinates) as raised:
        match_cell(db_session, lon, lat)
    assert raised.value.kind == Kind.bad_request
    assert message in raised.value.message


def test_an_unknown_crs_is_a_bad_request(db_session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadCoordinates, match="mars"):
        match_cell(db_session, 116.4, 39.9, crs="mars")


def test_bulk_matching_agrees_with_single_matches(db_session) -> None:  # type: ignore[no-untyped-def]
    import random

    rng = random.Random(7)
    lons = [rng.uniform(116.33, 116.45) for _ in range(500)] + [117.2]
    lats = [rng.uniform(39.86, 39.97) for _ in range(500)] + [39.13]
    codes = match_cells(db_session, lons, lats)
    assert len(codes) == 501 and codes[-1] is None
    assert 300 < sum(c is not None for c in codes) < 500  # the box reaches beyond both districts
    for lon, lat, code in list(zip(lons, lats, codes, strict=True))[:100]:
        if code is None:
            with pytest.raises(OutsideGrid):
                match_cell(db_session, lon, lat)
        else:
            assert match_cell(db_session, lon, lat).cell_code == code


def test_bulk_matching_converts_gcj02_and_refuses_bad_points(db_session) -> None:  # type: ignore[no-untyped-def]
    places = [LANDMARKS[p] for p in sorted(LANDMARKS)]
    gcj = [wgs84_to_gcj02(lon, lat) for lon, lat, _ in places]
    wgs_codes = match_cells(db_session, [p[0] for p in places], [p[1] for p in places])
    assert match_cells(db_session, [g[0] for g in gcj], [g[1] for g in gcj], crs="gcj02") == wgs_codes
    with pytest.raises(BadCoordinates):
        match_cells(db_session, [116.4, float("nan")], [39.9, 39.9])


def test_bulk_matching_on_two_connections_gives_the_same_answer(db_session) -> None:  # type: ignore[no-untyped-def]
    import random

    rng = random.Random(11)
    lons = [rng.uniform(116.33, 116.45) for _ in range(2000)]
    lats = [rng.uniform(39.86, 39.97) for _ in range(2000)]
    assert match_cells(db_session, lons, lats, workers=2) == match_cells(db_session, lons, lats)


def test_bulk_matching_applies_the_smallest_code_rule_on_shared_corners(db_session) -> None:  # type: ignore[no-untyped-def]
    corners = db_session.execute(
        text(
            """
            SELECT ST_X(pt), ST_Y(pt) FROM (
                SELECT (ST_DumpPoints(geom)).geom AS pt FROM grid_cells
                WHERE code LIKE '110102%' AND area_m2 BETWEEN 9990 AND 10010 ORDER BY code LIMIT 40
            ) c
            """
        )
    ).all()
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    assert match_cells(db_session, xs, ys) == [match_cell(db_session, x, y).cell_code for x, y in corners]


def test_staged_bulk_matching_agrees_with_the_array_statement(db_session) -> None:  # type: ignore[no-untyped-def]
    """Big chunks go through a temporary table and a cell-by-cell join; the answers must not change, edges included."""
    import random

    rng = random.Random(13)
    lons = [rng.uniform(116.33, 116.45) for _ in range(3000)] + [117.2]
    lats = [rng.uniform(39.86, 39.97) for _ in range(3000)] + [39.13]
    corners = db_session.execute(
        text(
            "SELECT ST_X(pt), ST_Y(pt) FROM (SELECT (ST_DumpPoints(geom)).geom AS pt FROM grid_cells"
            " WHERE code LIKE '110101%' AND area_m2 BETWEEN 9990 AND 10010 ORDER BY code LIMIT 40) c"
        )
    ).all()
    lons += [c[0] for c in corners]
    lats += [c[1] for c in corners]
    expected = match_cells(db_session, lons, lats, strategy="probe")
    assert match_cells(db_session, lons, lats, strategy="stage") == expected
    assert match_cells(db_session, lons, lats, workers=2, strategy="stage") == expected
    assert match_cells(db_session, lons, lats, strategy="tree") == expected  # GEOS in this process, corners too
    assert expected[3000] is None and sum(c is not None for c in expected) > 2000
    # The temporary tables are gone, in the session's transaction as in the extra connections.
    assert db_session.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'match_points_%'")).scalar() == 0


def test_bulk_matching_stages_dense_points_and_probes_sparse_ones(db_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The automatic choice: when the points outnumber the cells of their extent, in this process, or staged when
    the cells are too many to hold; probing otherwise."""
    import random

    from grids import matching

    chosen: list[tuple[str, int]] = []
    for name in ("_staged", "_tree"):
        real = getattr(matching, name)
        monkeypatch.setattr(
            matching,
            name,
            lambda connection, xs, ys, extent, real=real, name=name: (
                chosen.append((name, len(xs))) or real(connection, xs, ys, extent)
            ),
        )
    monkeypatch.setattr(matching, "STAGE_FROM", 100)
    rng = random.Random(17)

    def spread(n: int, lon: float, lat: float, size: float) -> tuple[list[float], list[float]]:
        return [rng.uniform(lon, lon + size) for _ in range(n)], [rng.uniform(lat, lat + size * 0.8) for _ in range(n)]

    monkeypatch.setattr(matching, "TREE_MAX_CELLS", 100)
    dense = spread(400, 116.392, 39.914, 0.005)  # around the Forbidden City: a few dozen cells → in this process
    medium = spread(400, 116.392, 39.914, 0.016)  # about 200 cells, more than the tree may hold here → staged
    sparse = spread(400, 116.33, 39.86, 0.12)  # both districts: thousands of cells → probed
    assert match_cells(db_session, *dense) == match_cells(db_session, *dense, strategy="probe")
    assert chosen == [("_tree", 400)]
    assert match_cells(db_session, *medium) == match_cells(db_session, *medium, strategy="probe")
    assert chosen == [("_tree", 400), ("_staged", 400)]
    assert match_cells(db_session, *sparse) == match_cells(db_session, *sparse, strategy="probe")
    assert chosen == [("_tree", 400), ("_staged", 400)]
    with pytest.raises(ValueError, match="strategy"):
        match_cells(db_session, *dense, strategy="fast")


def test_a_point_just_outside_the_grid_is_near_its_nearest_cell(db_session) -> None:  # type: ignore[no-untyped-def]
    """For an import's --snap-within: 20 m beyond the grid's edge, towards Tianjin."""
    lon, lat = db_session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Project(ST_ClosestPoint(geom, far)::geography, 20,"
            " ST_Azimuth(ST_ClosestPoint(geom, far), far))::geometry AS p"
            " FROM grid_cells, (SELECT ST_SetSRID(ST_MakePoint(117.2, 39.13), 4326) AS far) f"
            " WHERE retired_at IS NULL ORDER BY geom <-> far LIMIT 1) q"
        )
    ).one()
    assert match_cells(db_session, [lon], [lat]) == [None]
    with pytest.raises(OutsideGrid) as raised:
        match_cell(db_session, lon, lat)
    [(code, metres)] = nearest_cells_within(db_session, [lon, 117.2], [lat, 39.13], 25)[:1]
    assert code == raised.value.details["nearest_cell"] and 19.5 < metres < 20.5
    assert nearest_cells_within(db_session, [lon, 117.2], [lat, 39.13], 25)[1] is None  # Tianjin: far away
    assert nearest_cells_within(db_session, [lon], [lat], 15) == [None]
