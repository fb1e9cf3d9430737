"""Generate square unit cells over a boundary: `citymgmt grids generate --boundary FILE --size METRES`.

All set-based in PostGIS, in the caller's transaction: the boundary is projected to its UTM zone, covered with
`ST_SquareGrid`, squares wholly inside are kept as they are and only squares on the boundary are clipped (against
the boundary cut into small pieces, so no operation sees the whole outline). Slivers (clipped cells under a
fraction of a full cell) are merged into the neighbour with which they share the longest edge. When the boundary
brings no streets or communities, cells are grouped into square blocks: communities of `community_block`² cells
and streets of `street_block`² communities, named and flagged as generated. Codes are DB11's 15 digits, numbered
north to south and west to east at every level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from grids.codes import is_db11
from grids.queries import JIT_OFF_SQL

Progress = Callable[[str], None]

WORK_TABLES = "gen_boundary, gen_pieces, gen_edges, gen_squares, gen_cells, gen_communities"


DEFAULT_LEVEL_NAMES = {"zh_CN": ("区", "街道", "社区"), "en": ("District", "Street", "Community")}


def level_names(locale: str, configured: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """What the city calls its district, street and community levels: CITYMGMT_LEVEL_NAMES, else the locale's words."""
    if len(configured) == 3:
        return (configured[0], configured[1], configured[2])
    return DEFAULT_LEVEL_NAMES.get(locale, DEFAULT_LEVEL_NAMES["zh_CN"])


def generated_name_formats(locale: str, configured: tuple[str, ...] = ()) -> tuple[str, str]:
    """The names of generated streets and communities in the city's language, `{serial}` their 3-digit serial:
    "街道001（生成）" in Chinese, "Street 001 (generated)" in English, with the city's own words for the levels."""
    _district, street, community = level_names(locale, configured)
    if locale == "en":
        return f"{street} {{serial}} (generated)", f"{community} {{serial}} (generated)"
    return f"{street}{{serial}}（生成）", f"{community}{{serial}}（生成）"


@dataclass(frozen=True)
class GenerateOptions:
    district_code: str
    district_name: str
    size_m: float = 100.0
    community_block: int = 10  # cells per side of a generated community (10 x 10 cells of 100 m = 1 km2)
    street_block: int = 4  # communities per side of a generated street
    sliver_fraction: float = 0.25  # clipped cells smaller than this share of a full cell are merged away
    source_code: str | None = None  # the city's own code of the district (grids/codes.py), if it has no DB11 code
    street_name: str = "街道{serial}（生成）"  # generated_name_formats
    community_name: str = "社区{serial}（生成）"

    def validate(self) -> None:
        if not is_db11(self.district_code, "district"):
            raise ValidationError(
                "district code must be 6 digits (GB/T 2260); a city's own codes are kept beside an assigned one",
                details={"district_code": self.district_code},
            )
        if not 10 <= self.size_m <= 2000:
            raise ValidationError("cell size must be between 10 and 2000 metres", details={"size": self.size_m})
        if not 1 <= self.community_block <= 31:
            raise ValidationError("community block must be 1 to 31 cells per side (at most 999 cells)")
        if not 1 <= self.street_block <= 31:
            raise ValidationError("street block must be 1 to 31 communities per side (at most 999 communities)")
        if not 0 <= self.sliver_fraction < 1:
            raise ValidationError("sliver fraction must be at least 0 and below 1")


@dataclass
class GenerateReport:
    cells: int = 0
    communities: int = 0
    streets: int = 0
    slivers_merged: int = 0
    retired: int = 0
    utm_srid: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def utm_srid(lon: float, lat: float) -> int:
    """The WGS-84 UTM zone of a point: a metric CRS with negligible distortion over a city."""
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def generate_cells(
    session: Session, boundary_wkb: bytes, options: GenerateOptions, now: datetime, progress: Progress = print
) -> GenerateReport:
    """Generate (or regenerate) the cells, communities and streets of one district from its WGS-84 boundary."""
    options.validate()
    report = GenerateReport()
    started = time.perf_counter()

    def step(name: str, sql: str, **params: object) -> None:
        """Run a script statement by statement (parameters are bound server-side, one statement at a time)."""
        t0 = time.perf_counter()
        for statement in sql.split(";\n"):
            if statement.strip():
                session.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})
        report.timings[name] = time.perf_counter() - t0

    # Working tables live in this transaction only; several generations may share one transaction.
    session.execute(text(f"DROP TABLE IF EXISTS {WORK_TABLES}"))
    # PostGIS functions' cost estimates make PostgreSQL compile these statements (JIT), which costs about a second a
    # district and saves nothing: off while generating, the transaction's setting restored at the end.
    jit = session.execute(text("SELECT current_setting('jit')")).scalar_one()
    session.execute(text(JIT_OFF_SQL))
    centroid = session.execute(
        text("SELECT ST_X(c), ST_Y(c) FROM ST_Centroid(ST_GeomFromWKB(:wkb, 4326)) c"), {"wkb": boundary_wkb}
    ).one()
    report.utm_srid = srid = utm_srid(centroid[0], centroid[1])
    full = options.size_m**2

    step(
        "boundary",
        """
        CREATE TEMP TABLE gen_boundary ON COMMIT DROP AS
        SELECT ST_CollectionExtract(ST_MakeValid(ST_Transform(ST_GeomFromWKB(:wkb, 4326), :srid)), 3) AS geom;
        -- Holes smaller than a sliver are hairline gaps between the polygons a boundary was made of, not places
        -- (a real enclave is far larger): fill them, or they leave cells with needle-thin holes.
        UPDATE gen_boundary b SET geom = (
            SELECT ST_Multi(ST_Collect(ST_MakePolygon(
                ST_ExteriorRing(d.geom),
                ARRAY(
                    SELECT ST_ExteriorRing(r.geom) FROM ST_DumpRings(d.geom) r
                    WHERE r.path[1] > 0 AND ST_Area(r.geom) >= :min_hole
                )
            )))
            FROM ST_Dump(b.geom) d
        );
        CREATE TEMP TABLE gen_pieces ON COMMIT DROP AS SELECT ST_Subdivide(geom, 64) AS geom FROM gen_boundary;
        CREATE INDEX ON gen_pieces USING gist (geom);
        CREATE TEMP TABLE gen_edges ON COMMIT DROP AS
        SELECT ST_Subdivide(ST_Boundary(geom), 64) AS geom FROM gen_boundary;
        CREATE INDEX ON gen_edges USING gist (geom);
        CREATE TEMP TABLE gen_squares ON COMMIT DROP AS
        SELECT s.i, s.j, s.geom FROM gen_boundary b, ST_SquareGrid(:size, b.geom) s;
        CREATE INDEX ON gen_squares USING gist (geom);
        ANALYZE gen_pieces;
        ANALYZE gen_edges;
        ANALYZE gen_squares;
        """,
        wkb=boundary_wkb,
        srid=srid,
        size=options.size_m,
        min_hole=options.sliver_fraction * full,
    )
    progress(f"boundary projected to EPSG:{srid}, covered with {options.size_m:g} m squares")

    step(
        "clip",
        """
        CREATE TEMP TABLE gen_cells (id serial PRIMARY KEY, i int, j int, geom geometry) ON COMMIT DROP;
        -- Squares no boundary edge touches are wholly inside or wholly outside: the centre tells which.
        INSERT INTO gen_cells (i, j, geom)
        SELECT s.i, s.j, s.geom FROM gen_squares s
        WHERE NOT EXISTS (SELECT 1 FROM gen_edges e WHERE ST_Intersects(e.geom, s.geom))
          AND EXISTS (SELECT 1 FROM gen_pieces p WHERE ST_Intersects(p.geom, ST_Centroid(s.geom)));
        -- Squares on the boundary are clipped; a square cut in two makes two cells.
        INSERT INTO gen_cells (i, j, geom)
        SELECT i, j, part.geom FROM (
            SELECT s.i, s.j, ST_UnaryUnion(ST_Collect(ST_Intersection(s.geom, p.geom))) AS clipped
            FROM gen_squares s JOIN gen_pieces p ON ST_Intersects(p.geom, s.geom)
            WHERE EXISTS (SELECT 1 FROM gen_edges e WHERE ST_Intersects(e.geom, s.geom))
            GROUP BY s.i, s.j
        ) c, ST_Dump(ST_CollectionExtract(c.clipped, 3)) part
        WHERE ST_Area(part.geom) >= 1;
        CREATE INDEX ON gen_cells USING gist (geom);
        ANALYZE gen_cells;
        """,
    )
    progress("squares clipped to the boundary")

    t0 = time.perf_counter()
    merged = session.execute(
        text(
            """
            WITH slivers AS (SELECT id, geom FROM gen_cells WHERE ST_Area(geom) < :min_area),
            best AS (
                SELECT DISTINCT ON (s.id) s.id AS sliver, n.id AS target
                FROM slivers s
                JOIN gen_cells n ON n.geom && s.geom AND n.id <> s.id AND ST_Area(n.geom) >= :min_area
                WHERE ST_Length(ST_CollectionExtract(ST_Intersection(n.geom, s.geom), 2)) > 0
                ORDER BY s.id, ST_Length(ST_CollectionExtract(ST_Intersection(n.geom, s.geom), 2)) DESC, n.id
            ),
            unions AS (
                SELECT b.target, ST_UnaryUnion(ST_Collect(t.geom, ST_Collect(s.geom))) AS geom,
                       array_agg(b.sliver) AS ids
                FROM best b JOIN gen_cells s ON s.id = b.sliver JOIN gen_cells t ON t.id = b.target
                GROUP BY b.target, t.geom
            ),
            ok AS (SELECT * FROM unions WHERE GeometryType(geom) = 'POLYGON'),
            grown AS (UPDATE gen_cells c SET geom = ok.geom FROM ok WHERE c.id = ok.target RETURNING c.id)
            DELETE FROM gen_cells WHERE id IN (SELECT unnest(ids) FROM ok) RETURNING id
            """
        ),
        {"min_area": options.sliver_fraction * full},
    ).all()
    report.slivers_merged = len(merged)
    report.timings["slivers"] = time.perf_counter() - t0
    progress(f"{report.slivers_merged} slivers merged into their neighbours")

    if session.execute(text("SELECT count(*) FROM gen_cells")).scalar_one() == 0:
        raise ValidationError("the boundary produced no cells: is it empty, or smaller than a sliver?")
    step(
        "blocks",
        """
        ALTER TABLE gen_cells ADD COLUMN ci int, ADD COLUMN cj int, ADD COLUMN si int, ADD COLUMN sj int,
            ADD COLUMN street text, ADD COLUMN community text, ADD COLUMN code text;
        UPDATE gen_cells SET ci = floor(i::numeric / :cb), cj = floor(j::numeric / :cb);
        UPDATE gen_cells SET si = floor(ci::numeric / :sb), sj = floor(cj::numeric / :sb);
        """,
        cb=options.community_block,
        sb=options.street_block,
    )
    _check_serials(session)
    step(
        "codes",
        """
        -- North to south (j falls), west to east (i rises), at every level.
        WITH s AS (SELECT si, sj, row_number() OVER (ORDER BY sj DESC, si) AS n FROM gen_cells GROUP BY si, sj)
        UPDATE gen_cells g SET street = :district || lpad(s.n::text, 3, '0') FROM s WHERE g.si = s.si AND g.sj = s.sj;
        WITH c AS (
            SELECT street, ci, cj, row_number() OVER (PARTITION BY street ORDER BY cj DESC, ci) AS n
            FROM gen_cells GROUP BY street, ci, cj
        )
        UPDATE gen_cells g SET community = g.street || lpad(c.n::text, 3, '0')
        FROM c WHERE g.street = c.street AND g.ci = c.ci AND g.cj = c.cj;
        WITH k AS (
            SELECT id, row_number() OVER (
                PARTITION BY community ORDER BY j DESC, i, ST_YMax(geom) DESC, ST_XMin(geom)
            ) AS n FROM gen_cells
        )
        UPDATE gen_cells g SET code = g.community || lpad(k.n::text, 3, '0') FROM k WHERE g.id = k.id;
        """,
        district=options.district_code,
    )

    step(
        "store",
        """
        INSERT INTO areas (code, name, level, parent_code, generated, source_code, geom, updated_at)
        SELECT :district, :district_name, 'district', NULL, false, :source_code,
               ST_Multi(ST_CollectionExtract(ST_Transform(geom, 4326), 3)), :now
        FROM gen_boundary
        ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now,
            source_code = coalesce(EXCLUDED.source_code, areas.source_code);

        -- Communities from their cells, streets from their communities: unions of tens of polygons, not thousands.
        CREATE TEMP TABLE gen_communities ON COMMIT DROP AS
        SELECT street, community, ST_Union(geom) AS geom FROM gen_cells GROUP BY street, community;

        INSERT INTO areas (code, name, level, parent_code, generated, geom, updated_at)
        SELECT street, replace(:street_name, '{serial}', right(street, 3)), 'street', :district, true,
               ST_Multi(ST_CollectionExtract(ST_Transform(ST_Union(geom), 4326), 3)), :now
        FROM gen_communities GROUP BY street
        ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now,
            name = CASE WHEN areas.generated THEN EXCLUDED.name ELSE areas.name END;

        INSERT INTO areas (code, name, level, parent_code, generated, geom, updated_at)
        SELECT community, replace(:community_name, '{serial}', right(community, 3)), 'community', street, true,
               ST_Multi(ST_CollectionExtract(ST_Transform(geom, 4326), 3)), :now
        FROM gen_communities
        ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, retired_at = NULL, updated_at = :now,
            name = CASE WHEN areas.generated THEN EXCLUDED.name ELSE areas.name END;

        INSERT INTO grid_cells (code, community_code, geom, area_m2, updated_at)
        SELECT code, community, ST_Transform(geom, 4326), ST_Area(geom), :now FROM gen_cells
        ON CONFLICT (code) DO UPDATE
        SET community_code = EXCLUDED.community_code, geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2,
            retired_at = NULL, updated_at = :now;
        """,
        district=options.district_code,
        district_name=options.district_name,
        source_code=options.source_code,
        street_name=options.street_name,
        community_name=options.community_name,
        now=now,
    )
    # Cells and generated areas of this district that this run did not produce are retired, never deleted. The
    # codes are found by range on the primary keys and compared as sets (EXCEPT): a city generated district by
    # district in one transaction has no statistics on its new rows, and the planner, expecting one row, joined
    # them to every cell of the run one by one (35 s for a district of 5,000 cells).
    t0 = time.perf_counter()
    report.retired = session.execute(
        text(
            """
            WITH r AS (
                UPDATE grid_cells SET retired_at = :now, updated_at = :now
                WHERE code IN (
                    SELECT code FROM grid_cells
                    WHERE code BETWEEN :district || '000000000' AND :district || '999999999' AND retired_at IS NULL
                    EXCEPT SELECT code FROM gen_cells
                )
                RETURNING 1
            ),
            a AS (
                UPDATE areas SET retired_at = :now, updated_at = :now
                WHERE code IN (
                    SELECT code FROM areas
                    WHERE code BETWEEN :district || '000' AND :district || '999999' AND level <> 'district'
                      AND generated AND retired_at IS NULL
                    EXCEPT SELECT street FROM gen_cells
                    EXCEPT SELECT community FROM gen_cells
                )
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM r)
            """
        ),
        {"district": options.district_code, "now": now},
    ).scalar_one()
    report.timings["retire"] = time.perf_counter() - t0
    counts = session.execute(
        text("SELECT count(*), count(DISTINCT community), count(DISTINCT street) FROM gen_cells")
    ).one()
    report.cells, report.communities, report.streets = counts
    session.execute(text(f"DROP TABLE IF EXISTS {WORK_TABLES}"))
    session.execute(text("SELECT set_config('jit', :jit, true)"), {"jit": jit})
    report.timings["total"] = time.perf_counter() - started
    progress(
        f"{report.cells} cells in {report.communities} communities and {report.streets} streets stored"
        f" ({report.retired} retired) in {report.timings['total']:.1f} s"
    )
    return report


def _check_serials(session: Session) -> None:
    """Each level's serial has 3 digits: at most 999 streets, communities per street, cells per community."""
    streets, communities, cells = session.execute(
        text(
            """
            SELECT (SELECT count(*) FROM (SELECT DISTINCT si, sj FROM gen_cells) s),
                   (SELECT max(n) FROM (SELECT count(DISTINCT (ci, cj)) AS n FROM gen_cells GROUP BY si, sj) c),
                   (SELECT max(n) FROM (SELECT count(*) AS n FROM gen_cells GROUP BY ci, cj) k)
            """
        )
    ).one()
    for what, count in (
        ("streets", streets),
        ("communities in a street", communities),
        ("cells in a community", cells),
    ):
        if count > 999:
            raise ValidationError(
                f"{count} {what}, but codes have 3 digits (at most 999): use larger blocks or a larger cell size",
                details={"level": what, "count": count},
            )
