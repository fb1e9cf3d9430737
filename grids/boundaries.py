"""The districts of a boundary file, for `grids generate`: one district per feature, or the union of them all.

Each feature is a district keyed by its code (`--code-field`; by default the file's `adcode` or `code` when it has
one) or, in a file without codes, by its name (`--name-field`). Six-digit codes (GB/T 2260) are the districts'
codes; any other codes, or names, are the city's own and are kept beside a code assigned by grids/codes.py. Every
feature is checked before anything is generated, and all problems are reported at once (feature index, field,
value), as `grids import` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from grids.codes import AUTO_CODE_FIELDS, assign_codes, is_db11, key_order, source_code_problem
from grids.crs import CRSError, parse_crs, srid_of, transform_geometry
from grids.importer import ImportRefused, Problem, is_lon_lat
from grids.queries import BOUNDARY_TO_WGS84_SQL, DISTRICT_OVERLAPS_SQL
from grids.sources import Layer, field_text


@dataclass(frozen=True)
class District:
    index: int  # the feature's position in the file
    code: str  # DB11: 6 digits
    name: str
    source_code: str | None  # the city's own code or the name it was keyed by, when it had no 6-digit code
    wkb: bytes  # the boundary in WGS-84


@dataclass(frozen=True)
class _Keyed:
    index: int
    key: str
    name: str
    geom: BaseGeometry


def districts_of(
    session: Session,
    layer: Layer,
    crs: str | None,
    code_field: str | None = None,
    name_field: str = "name",
    district_code: str | None = None,
    district_name: str | None = None,
) -> list[District]:
    """The districts to generate from `layer`; with `district_code`, the union of its polygons as that one district."""
    try:
        source_crs = parse_crs(crs or layer.crs or "wgs84")
    except CRSError as exc:
        raise ValidationError(str(exc), details={"crs": crs}) from None
    polygons = [f for f in layer.features if isinstance(f.geometry, Polygon | MultiPolygon)]
    if not polygons:
        raise ValidationError(f"{layer.path}: no polygons in it")
    if district_code is not None:
        first = polygons[0].properties
        union = shapely.union_all(shapely.make_valid([f.geometry for f in polygons]))
        name = district_name or field_text(first.get(name_field)) or district_code
        return [District(polygons[0].index, district_code, name, None, _to_wgs84(session, union, source_crs))]

    fields = set(layer.features[0].properties) if layer.features else set()
    field = code_field or next((f for f in AUTO_CODE_FIELDS if f in fields), None)
    for wanted in (field,) if field else (name_field,):
        if wanted not in fields:
            hint = "" if field else ": give the field of the codes (--code-field) or of the names (--name-field)"
            raise ValidationError(
                f"{layer.path}: no field {wanted} (fields are: {', '.join(sorted(fields)) or 'none'}){hint}",
                details={"field": wanted},
            )
    key_field = field or name_field

    problems: list[Problem] = []
    keyed: list[_Keyed] = []
    seen: dict[str, int] = {}
    for feature in layer.features:
        key = field_text(feature.properties.get(key_field))
        if key is None:
            problems.append(Problem(feature.index, None, f"no value in field {key_field}"))
            continue
        why = source_code_problem(key)
        if why:
            problems.append(Problem(feature.index, key[:40], f"the value in field {key_field} {why}"))
            continue
        if key in seen:
            where = seen[key]
            problems.append(Problem(feature.index, key, f"repeated in field {key_field} (first at feature {where})"))
            continue
        seen[key] = feature.index
        geom = feature.geometry
        if not isinstance(geom, Polygon | MultiPolygon):
            what = geom.geom_type if geom is not None else "no geometry"
            problems.append(Problem(feature.index, key, f"{what}, not a polygon"))
            continue
        geom = shapely.force_2d(shapely.make_valid(geom))
        if source_crs in ("wgs84", "gcj02", "bd09") and not is_lon_lat(geom):
            problems.append(Problem(feature.index, key, "coordinates are not longitude/latitude: give --crs"))
            continue
        name = field_text(feature.properties.get(name_field)) or key
        keyed.append(_Keyed(feature.index, key, name[:200], geom))

    db11 = [k for k in keyed if field and is_db11(k.key, "district")]
    if db11 and len(db11) < len(keyed):
        problems.extend(
            Problem(k.index, k.key, f"code in field {key_field} is not 6 digits, as other features' codes are")
            for k in keyed
            if not is_db11(k.key, "district")
        )
    if problems:
        raise ImportRefused(sorted(problems, key=lambda p: p.index if p.index is not None else -1), what="generation")

    own = not db11
    codes = assign_codes(session, "district", None, [k.key for k in keyed]) if own else {k.key: k.key for k in keyed}
    return [
        District(k.index, codes[k.key], k.name, k.key if own else None, _to_wgs84(session, k.geom, source_crs))
        for k in sorted(keyed, key=lambda k: (codes[k.key], key_order(k.key)))
    ]


def _to_wgs84(session: Session, geom: BaseGeometry, crs: str) -> bytes:
    if crs in ("gcj02", "bd09"):
        geom = transform_geometry(geom, crs, "wgs84")
    wkb = shapely.to_wkb(geom)
    if crs not in ("wgs84", "gcj02", "bd09"):
        wkb = session.execute(text(BOUNDARY_TO_WGS84_SQL), {"wkb": wkb, "srid": srid_of(crs)}).scalar_one()
    return bytes(wkb)


def overlaps(session: Session, codes: list[str], min_m2: float = 1.0) -> list[tuple[str, str, float]]:
    """Pairs of these districts whose boundaries overlap by at least `min_m2` (code, code, m²), largest first."""
    rows = session.execute(text(DISTRICT_OVERLAPS_SQL), {"codes": codes}).all()
    return [(a, b, float(m2)) for a, b, m2 in rows if m2 >= min_m2]


METRES_PER_DEGREE = 111_320  # of latitude; a degree of longitude is shorter, so a tolerance in degrees stays within


def simplified(wkb: bytes, metres: float) -> bytes:
    """A WGS-84 boundary with its outline simplified within about `metres` (Douglas–Peucker, keeping it a valid
    polygon): a surveyed outline with a vertex every metre cuts into cells several times faster, and a cell is no
    truer for it. Each district is simplified alone, so neighbours may part or overlap by as much."""
    geometry = shapely.simplify(shapely.from_wkb(wkb), metres / METRES_PER_DEGREE, preserve_topology=True)
    return shapely.to_wkb(shapely.make_valid(geometry))
