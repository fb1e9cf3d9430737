"""Cell generation: exact cells on boundaries aligned to the grid, slivers merged, codes in reading order,
regeneration idempotent and retiring (never deleting), and a real multi-polygon boundary tiled without overlap."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from sqlalchemy import text

from citymgmt.core.errors import ValidationError
from grids.generate import GenerateOptions, generate_cells, utm_srid
from grids.maps import OUTLINE_ZOOMS
from grids.retire import retire_districts

X0, Y0 = 448_000.0, 4_417_000.0  # UTM zone 50N, near Beijing; multiples of 100 m, so squares align


def boundary(db_session, width: float, height: float, x0: float = X0, y0: float = Y0) -> bytes:  # type: ignore[no-untyped-def]
    """A width x height metre rectangle in UTM 50N, as WGS-84 WKB."""
    wkb = db_session.execute(
        text("SELECT ST_AsBinary(ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 32650), 4326))"),
        {"x0": x0, "y0": y0, "x1": x0 + width, "y1": y0 + height},
    ).scalar_one()
    return bytes(wkb)


def cells(db_session, district: str) -> list[tuple[str, float, float, float]]:  # type: ignore[no-untyped-def]
    """(code, area m², x, y of the centroid in UTM) of the district's live cells, by code."""
    return [
        tuple(r)
        for r in db_session.execute(
            text(
                """
                SELECT code, area_m2, ST_X(c), ST_Y(c)
                FROM grid_cells, ST_Transform(ST_Centroid(geom), 32650) c
                WHERE left(code, 6) = :d AND retired_at IS NULL ORDER BY code
                """
            ),
            {"d": district},
        )
    ]


def quiet(message: str) -> None:
    pass


def test_an_aligned_square_gives_exact_cells_in_reading_order(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    report = generate_cells(
        db_session, boundary(db_session, 1000, 1000), GenerateOptions("990101", "测试区"), clock.now(), quiet
    )
    assert (report.cells, report.communities, report.streets, report.slivers_merged) == (100, 1, 1, 0)
    assert report.utm_srid == 32650
    rows = cells(db_session, "990101")
    assert [r[0] for r in rows][:3] == ["990101001001001", "990101001001002", "990101001001003"]
    assert all(r[1] == pytest.approx(10_000, abs=1) for r in rows)
    # 001 is the north-west corner, 010 the north-east, 100 the south-east: north to south, west to east.
    first, tenth, last = rows[0], rows[9], rows[99]
    assert first[2] == pytest.approx(X0 + 50, abs=0.5) and first[3] == pytest.approx(Y0 + 950, abs=0.5)
    assert tenth[2] == pytest.approx(X0 + 950, abs=0.5) and tenth[3] == pytest.approx(Y0 + 950, abs=0.5)
    assert last[2] == pytest.approx(X0 + 950, abs=0.5) and last[3] == pytest.approx(Y0 + 50, abs=0.5)
    areas = db_session.execute(
        text("SELECT code, level, parent_code, generated, name FROM areas WHERE left(code, 6) = '990101' ORDER BY code")
    ).all()
    assert [tuple(a[:4]) for a in areas] == [
        ("990101", "district", None, False),
        ("990101001", "street", "990101", True),
        ("990101001001", "community", "990101001", True),
    ]
    assert areas[0][4] == "测试区" and "生成" in areas[1][4]


def test_slivers_are_merged_into_their_neighbours(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    # 1,010 m wide: the easternmost column is cut to 10 m strips of 1,000 m², below a quarter of a cell.
    report = generate_cells(
        db_session, boundary(db_session, 1010, 1000), GenerateOptions("990102", "x"), clock.now(), quiet
    )
    assert report.slivers_merged == 10
    rows = cells(db_session, "990102")
    assert len(rows) == 100
    widened = [r for r in rows if r[1] > 10_001]
    assert len(widened) == 10 and all(r[1] == pytest.approx(11_000, abs=1) for r in widened)
    total = sum(r[1] for r in rows)
    assert total == pytest.approx(1010 * 1000, rel=1e-6)
    # A strip of 40 m (4,000 m²) is a cell of its own.
    report = generate_cells(
        db_session, boundary(db_session, 1040, 1000), GenerateOptions("990103", "x"), clock.now(), quiet
    )
    assert report.slivers_merged == 0 and report.cells == 110


def test_blocks_make_communities_and_streets_numbered_in_reading_order(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    options = GenerateOptions("990104", "x", size_m=100, community_block=5, street_block=2)
    report = generate_cells(db_session, boundary(db_session, 2000, 1000), options, clock.now(), quiet)
    # 20 x 10 cells; communities of 5 x 5 cells: 4 x 2 of them; streets of 2 x 2 communities: 2 x 1.
    assert (report.cells, report.communities, report.streets) == (200, 8, 2)
    per_community = db_session.execute(
        text(
            """
            SELECT community_code, count(*), min(ST_X(ST_Transform(ST_Centroid(geom), 32650))),
                   max(ST_Y(ST_Transform(ST_Centroid(geom), 32650)))
            FROM grid_cells WHERE left(code, 6) = '990104' GROUP BY community_code ORDER BY community_code
            """
        )
    ).all()
    assert [c[1] for c in per_community] == [25] * 8
    # Street 001 is the western half; inside it, community 001 is north-west, 002 north-east, 003 south-west.
    assert [c[0] for c in per_community][:4] == ["990104001001", "990104001002", "990104001003", "990104001004"]
    west_north, east_north, west_south = per_community[0], per_community[1], per_community[2]
    assert west_north[2] < east_north[2] and west_north[3] == pytest.approx(east_north[3], abs=0.01)
    assert west_south[2] == pytest.approx(west_north[2], abs=0.01) and west_south[3] < west_north[3]
    assert per_community[4][2] > per_community[1][2]  # street 002 lies east of street 001


def test_regenerating_is_idempotent_and_retires_what_is_gone(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    generate_cells(db_session, boundary(db_session, 1000, 1000), GenerateOptions("990105", "x"), clock.now(), quiet)
    before = cells(db_session, "990105")
    again = generate_cells(
        db_session, boundary(db_session, 1000, 1000), GenerateOptions("990105", "x"), clock.now(), quiet
    )
    assert again.retired == 0 and cells(db_session, "990105") == before
    smaller = generate_cells(
        db_session, boundary(db_session, 1000, 500), GenerateOptions("990105", "x"), clock.now(), quiet
    )
    assert smaller.cells == 50 and smaller.retired == 50
    # Nothing is deleted: the 50 cells that went are retired, with the time.
    counts = db_session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE retired_at = :now) FROM grid_cells WHERE left(code, 6) = '990105'"
        ),
        {"now": clock.now()},
    ).one()
    assert tuple(counts) == (100, 50)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (GenerateOptions("99010", "x"), "district code must be 6 digits"),
        (GenerateOptions("abcdef", "x"), "district code must be 6 digits"),
        (GenerateOptions("990106", "x", size_m=5), "cell size must be between 10 and 2000 metres"),
        (GenerateOptions("990106", "x", community_block=40), "community block must be 1 to 31"),
        (GenerateOptions("990106", "x", sliver_fraction=1.5), "sliver fraction"),
    ],
)
def test_bad_options_are_refused(db_session, clock, options: GenerateOptions, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        generate_cells(db_session, boundary(db_session, 1000, 1000), options, clock.now(), quiet)


def test_more_than_999_at_a_level_is_refused_and_changes_nothing(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    # 40 x 40 cells of 10 m with one-cell communities and one-community streets: 1,600 streets.
    tiny = GenerateOptions("990107", "x", size_m=10, community_block=1, street_block=1)
    with pytest.raises(ValidationError, match="1600 streets, but codes have 3 digits"):
        generate_cells(db_session, boundary(db_session, 400, 400), tiny, clock.now(), quiet)
    assert cells(db_session, "990107") == []
    # The largest block (31 x 31 = 961 cells) fits in one community; blocks start at multiples of 310 m.
    one = GenerateOptions("990107", "x", size_m=10, community_block=31, street_block=1)
    report = generate_cells(
        db_session, boundary(db_session, 310, 310, 1446 * 310, 14249 * 310), one, clock.now(), quiet
    )
    assert (report.cells, report.communities) == (961, 1)
    assert cells(db_session, "990107")[-1][0] == "990107001001961"


def test_utm_zones() -> None:
    assert utm_srid(116.4, 39.9) == 32650
    assert utm_srid(-118.25, 34.05) == 32611
    assert utm_srid(151.2, -33.9) == 32756
    assert utm_srid(180.0, 0.0) == 32660


def test_a_real_boundary_is_tiled_without_overlap(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    """Los Angeles' 99 neighbourhood councils (holes, islands, ragged edges) at 500 m."""
    from grids.sources import read_layer

    layer = read_layer(Path(__file__).resolve().parents[2] / "fixtures/grids/la-neighborhood-councils.geojson")
    la = shapely.union_all(shapely.make_valid([f.geometry for f in layer.features]))
    report = generate_cells(
        db_session, shapely.to_wkb(la), GenerateOptions("990108", "Los Angeles", 500), clock.now(), quiet
    )
    assert report.utm_srid == 32611 and 4_000 < report.cells < 6_000
    overlaps = db_session.execute(
        text(
            """
            SELECT count(*) FROM grid_cells a JOIN grid_cells b
              ON a.geom && b.geom AND a.code < b.code AND ST_Overlaps(a.geom, b.geom)
            WHERE left(a.code, 6) = '990108' AND left(b.code, 6) = '990108'
              AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 1
            """
        )
    ).scalar_one()
    assert overlaps == 0
    covered, district, invalid = db_session.execute(
        text(
            """
            SELECT sum(ST_Area(c.geom::geography)), (SELECT ST_Area(geom::geography) FROM areas WHERE code = '990108'),
                   count(*) FILTER (WHERE NOT ST_IsValid(c.geom))
            FROM grid_cells c WHERE left(c.code, 6) = '990108'
            """
        )
    ).one()
    assert invalid == 0
    assert covered == pytest.approx(district, rel=2e-3)


def test_the_areas_keep_their_cells_area_and_outlines_for_the_maps(db_session, clock) -> None:  # type: ignore[no-untyped-def]
    """What maps read of an area instead of its cells: their area (what a count is divided by) and the outline
    simplified for each kept zoom; both follow a regeneration that retires cells, and a retired district."""
    options = GenerateOptions("990106", "x", 100.0, community_block=5, street_block=2)
    generate_cells(db_session, boundary(db_session, 1000, 1000), options, clock.now(), quiet)

    def measured() -> dict[str, tuple[float, float]]:
        """code → (the area's cells_area_m2, its live cells' area added up), for every area of the district."""
        rows = db_session.execute(
            text(
                """
                SELECT a.code, a.cells_area_m2,
                       (SELECT coalesce(sum(g.area_m2), 0) FROM grid_cells g
                        WHERE g.retired_at IS NULL AND g.community_code LIKE a.code || '%')
                FROM areas a WHERE left(a.code, 6) = '990106'
                """
            )
        )
        return {code: (kept, summed) for code, kept, summed in rows}

    first = measured()
    assert len(first) == 1 + 1 + 4  # the district, a street, four communities of 25 cells
    assert all(kept == pytest.approx(summed) for kept, summed in first.values())
    assert first["990106"][0] == pytest.approx(1_000_000, rel=1e-6)
    assert first["990106001001"][0] == pytest.approx(250_000, rel=1e-6)

    zooms = db_session.execute(
        text(
            "SELECT o.code, array_agg(o.zoom ORDER BY o.zoom), bool_and(ST_Within(o.geom, ST_Buffer(a.geom, 1e-4)))"
            " FROM area_outlines o JOIN areas a ON a.code = o.code WHERE left(o.code, 6) = '990106' GROUP BY o.code"
        )
    ).all()
    assert {code for code, _, _ in zooms} == set(first)
    assert all(z == list(OUTLINE_ZOOMS) and near for _, z, near in zooms)

    # Half the district regenerated away: its retired cells no longer count in any area's area.
    generate_cells(db_session, boundary(db_session, 1000, 500), options, clock.now(), quiet)
    second = measured()
    assert second["990106"][0] == pytest.approx(500_000, rel=1e-6)
    assert all(kept == pytest.approx(summed) for kept, summed in second.values())
    assert min(kept for kept, _ in second.values()) == 0  # the communities that went have no live cells

    retire_districts(db_session, ["990106"], clock.now())
    assert all(kept == 0 for kept, _ in measured().values())
