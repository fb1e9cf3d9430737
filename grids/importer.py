"""`citymgmt grids import FILE`: areas, unit cells or responsibility zones from any file GDAL reads.

Everything is checked before anything is written, and all problems are reported at once (feature index, code,
reason). Invalid geometry is repaired when the repair keeps a polygon and reported; otherwise the feature is
refused. Codes are checked for format, uniqueness and their parent. Cells that overlap, and gaps inside a
community that no cell covers, are reported (refused with --strict). The import is one transaction: a refused
file changes nothing; a good file is upserted by code, so importing it again changes nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from grids.codes import AUTO_CODE_FIELDS, assign_codes, source_code_problem
from grids.crs import srid_of, transform_geometry
from grids.maps import refresh_area_maps
from grids.matching import known_crs
from grids.queries import (
    LIVE_AREAS_OF_LEVEL_SQL,
    PARENTS_BY_CODE_OR_SOURCE_SQL,
    STAGE_LAYER_ANALYZE_SQL,
    STAGE_LAYER_COPY_SQL,
    STAGE_LAYER_DROP_SQL,
    STAGE_LAYER_INDEX_SQL,
    STAGE_LAYER_SQL,
    STAGE_LAYER_TRANSFORM_SQL,
    STAGE_LAYER_WGS84_SQL,
    STAGED_GAPS_SQL,
    STAGED_OVERLAPS_SQL,
    UPSERT_STAGED_AREAS_SQL,
    UPSERT_STAGED_SQL,
)
from grids.sources import Layer, field_text

Progress = Callable[[str], None]

LEVELS = ("district", "street", "community", "cell", "zone")
CODE_DIGITS = {"district": 6, "street": 9, "community": 12, "cell": 15}
PARENT_LEVEL = {"street": "district", "community": "street", "cell": "community"}
OWN_CODE_LEVELS = ("district", "street", "community")  # levels whose features may carry the city's own codes
MIN_REPORTED_M2 = 1.0  # overlaps and gaps smaller than this are noding noise, not problems
ZONE_TEXT_MAX = 40  # responsibility_zones.department_code and .kind are varchar(40)


@dataclass(frozen=True)
class ImportOptions:
    level: str
    code_field: str | None = None  # default: `code`; for areas `adcode` or `code`, else the names (name_field)
    name_field: str = "name"
    parent_field: str | None = None  # default: the code's own prefix
    department_field: str = "department"  # zones
    kind_field: str = "kind"  # zones
    crs: str | None = None  # default: the file's own CRS, else WGS-84
    strict: bool = False


@dataclass(frozen=True)
class Problem:
    index: int | None
    code: str | None
    message: str

    def __str__(self) -> str:
        where = f"feature {self.index}" if self.index is not None else "layer"
        return f"{where}{f' ({self.code})' if self.code else ''}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


@dataclass
class ImportReport:
    level: str
    features: int = 0
    created: int = 0
    updated: int = 0
    repaired: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


class ImportRefused(ValidationError):
    code = "import_refused"

    def __init__(self, problems: list[Problem], what: str = "import") -> None:
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{what} refused, nothing was changed ({len(problems)} problem(s)):\n{shown}{more}",
            details={"problems": [p.as_dict() for p in problems]},
        )
        self.problems = problems


@dataclass
class _Row:
    index: int
    code: str
    name: str
    parent: str | None
    geom: BaseGeometry
    department: str | None = None
    kind: str | None = None
    source: str | None = None  # the city's own code (or name), when the code is assigned


def import_layer(
    session: Session, layer: Layer, options: ImportOptions, now: datetime, progress: Progress = print
) -> ImportReport:
    if options.level not in LEVELS:
        raise ValidationError(f"level must be one of {', '.join(LEVELS)}", details={"level": options.level})
    crs = _source_crs(session, layer, options)
    report = ImportReport(options.level, features=len(layer.features))
    errors: list[Problem] = []
    rows = _check_features(layer, options, crs, report, errors, progress)
    if rows and rows[0].source is not None:  # the city's own codes: parents found by them, codes assigned
        if not errors:
            _assign_own_codes(session, rows, options, errors)
    else:
        _check_parents(session, rows, options, errors)
    if errors:
        raise ImportRefused(errors)

    progress(f"{len(rows)} features checked; writing")
    _stage(session, rows, options, crs)
    if options.level == "cell":
        report.warnings.extend(_overlaps_and_gaps(session))
        if options.strict and report.warnings:
            raise ImportRefused(report.warnings)
    report.created, report.updated = _upsert(session, options, now)
    session.execute(text(STAGE_LAYER_DROP_SQL))
    if options.level != "zone":
        refresh_area_maps(session)
    progress(f"{report.created} created, {report.updated} updated")
    return report


def _source_crs(session: Session, layer: Layer, options: ImportOptions) -> str:
    return known_crs(session, options.crs or layer.crs or "wgs84")


def _check_features(
    layer: Layer,
    options: ImportOptions,
    crs: str,
    report: ImportReport,
    errors: list[Problem],
    progress: Progress,
) -> list[_Row]:
    fields = set(layer.features[0].properties) if layer.features else set()
    if not layer.features:
        errors.append(Problem(None, None, "the layer has no features"))
        return []
    code_field = _code_field(options, fields)
    wanted = [code_field] + ([options.department_field] if options.level == "zone" else [])
    if options.parent_field and options.level in PARENT_LEVEL:
        wanted.append(options.parent_field)  # a parent check asked for must not be skipped silently
    missing = [f for f in wanted if f not in fields]
    if missing:
        errors.append(
            Problem(None, None, f"no field {', '.join(missing)} (fields are: {', '.join(sorted(fields)) or 'none'})")
        )
        return []
    digits = CODE_DIGITS.get(options.level)
    pattern = re.compile(rf"^[0-9]{{{digits}}}$") if digits else re.compile(r"^[A-Za-z0-9._-]{1,40}$")
    # The city's own codes (or names): when no feature has a DB11 code, all are kept beside assigned ones (codes.py).
    own = options.level in OWN_CODE_LEVELS and not any(
        pattern.match(field_text(f.properties.get(code_field)) or "") for f in layer.features
    )
    if own and options.level in PARENT_LEVEL and not options.parent_field:
        errors.append(
            Problem(
                None,
                None,
                f"the {options.level} codes in field {code_field} are not {digits} digits: give --parent-field, the"
                f" field naming each one's {PARENT_LEVEL[options.level]} (its code or the city's own code)",
            )
        )
        return []
    seen: dict[str, int] = {}
    rows = []
    step = max(len(layer.features) // 10, 1000)
    for feature in layer.features:
        if feature.index and feature.index % step == 0:
            progress(f"checked {feature.index}/{len(layer.features)} features")
        props = feature.properties
        code = field_text(props.get(code_field))
        if code is None:
            errors.append(Problem(feature.index, None, f"no code in field {code_field}"))
            continue
        why = source_code_problem(code) if own else None
        if why:
            errors.append(Problem(feature.index, code[:40], f"the value in field {code_field} {why}"))
            continue
        if not own and not pattern.match(code):
            shape = f"{digits} digits" if digits else "1-40 letters, digits, '.', '_' or '-'"
            errors.append(Problem(feature.index, code, f"code must be {shape}"))
            continue
        if code in seen:
            errors.append(Problem(feature.index, code, f"code repeated (first at feature {seen[code]})"))
            continue
        seen[code] = feature.index
        geom = _checked_geometry(feature.index, code, feature.geometry, options.level, report, errors)
        if geom is None:
            continue
        if crs in ("wgs84", "gcj02", "bd09") and not is_lon_lat(geom):
            # Typically projected metres in a file without CRS information: stored as they are, they would be nonsense.
            x0, y0, x1, y1 = geom.bounds
            errors.append(
                Problem(
                    feature.index,
                    code,
                    f"coordinates are not longitude/latitude (x {x0:g} to {x1:g}, y {y0:g} to {y1:g}):"
                    " give the file's CRS with --crs",
                )
            )
            continue
        if crs in ("gcj02", "bd09"):
            geom = transform_geometry(geom, crs, "wgs84")
        parent = (
            _own_parent(code, props, options, feature.index, errors)
            if own
            else _parent(code, props, options, feature.index, errors)
        )
        name = field_text(props.get(options.name_field)) or code
        department = field_text(props.get(options.department_field)) if options.level == "zone" else None
        if options.level == "zone" and department is None:
            errors.append(Problem(feature.index, code, f"no department in field {options.department_field}"))
            continue
        kind = field_text(props.get(options.kind_field)) if options.level == "zone" else None
        too_long = [
            f"{what} in field {name} is longer than {ZONE_TEXT_MAX} characters"
            for what, name, value in (
                ("department", options.department_field, department),
                ("kind", options.kind_field, kind),
            )
            if value is not None and len(value) > ZONE_TEXT_MAX
        ]
        if too_long:
            errors.append(Problem(feature.index, code, "; ".join(too_long)))
            continue
        rows.append(_Row(feature.index, code, name[:200], parent, geom, department, kind, code if own else None))
    return rows


def _code_field(options: ImportOptions, fields: set[str]) -> str:
    """The field of the codes: as given; else `code`, or for areas `adcode` or `code`, in a file with neither the
    names."""
    if options.code_field:
        return options.code_field
    if options.level not in OWN_CODE_LEVELS:
        return "code"
    return next((f for f in AUTO_CODE_FIELDS if f in fields), options.name_field)


def _own_parent(
    code: str, props: dict[str, Any], options: ImportOptions, index: int, errors: list[Problem]
) -> str | None:
    if options.level not in PARENT_LEVEL or options.parent_field is None:
        return None
    given = field_text(props.get(options.parent_field))
    if given is None:
        errors.append(Problem(index, code, f"no {PARENT_LEVEL[options.level]} in field {options.parent_field}"))
    return given


def _assign_own_codes(session: Session, rows: list[_Row], options: ImportOptions, errors: list[Problem]) -> None:
    """Rows keyed by the city's own codes get their DB11 codes (codes.py), under their parents' DB11 codes."""
    if options.level in PARENT_LEVEL:
        given = sorted({r.parent for r in rows if r.parent})
        parents: dict[str, str] = {
            r.v: r.code
            for r in session.execute(
                text(PARENTS_BY_CODE_OR_SOURCE_SQL), {"level": PARENT_LEVEL[options.level], "values": given}
            )
        }
        for row in rows:
            if row.parent not in parents:
                errors.append(
                    Problem(
                        row.index,
                        row.code,
                        f"{PARENT_LEVEL[options.level]} {row.parent} does not exist: import it first",
                    )
                )
        if errors:
            return
        for row in rows:
            row.parent = parents[row.parent or ""]
    by_parent: dict[str | None, list[_Row]] = {}
    for row in rows:
        by_parent.setdefault(row.parent, []).append(row)
    for parent, group in by_parent.items():
        codes = assign_codes(session, options.level, parent, [r.code for r in group])
        for row in group:
            row.code = codes[row.code]


def is_lon_lat(geom: BaseGeometry) -> bool:
    x0, y0, x1, y1 = geom.bounds
    return x0 >= -180.0 and x1 <= 180.0 and y0 >= -90.0 and y1 <= 90.0


def _checked_geometry(
    index: int, code: str, geom: BaseGeometry | None, level: str, report: ImportReport, errors: list[Problem]
) -> BaseGeometry | None:
    if geom is None:
        errors.append(Problem(index, code, "no geometry"))
        return None
    if not isinstance(geom, Polygon | MultiPolygon):
        errors.append(Problem(index, code, f"geometry is a {geom.geom_type}, not a polygon"))
        return None
    geom = shapely.force_2d(geom)  # Z (or M) values: the tables hold 2D geometry
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        fixed = shapely.make_valid(geom)
        if isinstance(fixed, shapely.GeometryCollection):
            fixed = shapely.unary_union([g for g in fixed.geoms if isinstance(g, Polygon | MultiPolygon)])
        if fixed.is_empty or not isinstance(fixed, Polygon | MultiPolygon):
            errors.append(Problem(index, code, f"invalid geometry that cannot be repaired: {reason}"))
            return None
        report.repaired.append(Problem(index, code, f"invalid geometry repaired: {reason}"))
        geom = fixed
    if level == "cell":
        if isinstance(geom, MultiPolygon):
            if len(geom.geoms) != 1:
                errors.append(Problem(index, code, f"a cell must be one polygon, this has {len(geom.geoms)} parts"))
                return None
            geom = geom.geoms[0]
    elif isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return geom


def _parent(code: str, props: dict[str, Any], options: ImportOptions, index: int, errors: list[Problem]) -> str | None:
    if options.level not in PARENT_LEVEL:
        return None
    implied = code[: CODE_DIGITS[PARENT_LEVEL[options.level]]]
    if options.parent_field:
        given = field_text(props.get(options.parent_field))
        if given is not None and given != implied:
            errors.append(Problem(index, code, f"parent {given} does not match the code's prefix {implied}"))
    return implied


def _check_parents(session: Session, rows: list[_Row], options: ImportOptions, errors: list[Problem]) -> None:
    parents = sorted({r.parent for r in rows if r.parent})
    if not parents:
        return
    found = set(
        session.execute(
            text(LIVE_AREAS_OF_LEVEL_SQL),
            {"codes": parents, "level": PARENT_LEVEL[options.level]},
        ).scalars()
    )
    for row in rows:
        if row.parent and row.parent not in found:
            errors.append(
                Problem(
                    row.index, row.code, f"{PARENT_LEVEL[options.level]} {row.parent} does not exist: import it first"
                )
            )


def _stage(session: Session, rows: list[_Row], options: ImportOptions, crs: str) -> None:
    srid = srid_of(crs) if crs not in ("wgs84", "gcj02", "bd09") else 4326
    session.execute(text(STAGE_LAYER_DROP_SQL))
    session.execute(text(STAGE_LAYER_SQL))
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    with (
        connection.cursor() as cursor,  # type: ignore[attr-defined]
        cursor.copy(STAGE_LAYER_COPY_SQL) as copy,
    ):
        for r in rows:  # in STAGED_LAYER_COLUMNS' order
            copy.write_row(
                (r.index, r.code, r.name, r.parent, r.department, r.kind, r.source, shapely.to_wkb(r.geom, hex=True))
            )
    if srid != 4326:
        session.execute(text(STAGE_LAYER_TRANSFORM_SQL), {"srid": srid})
    else:
        session.execute(text(STAGE_LAYER_WGS84_SQL))
    session.execute(text(STAGE_LAYER_INDEX_SQL))
    session.execute(text(STAGE_LAYER_ANALYZE_SQL))


def _overlaps_and_gaps(session: Session) -> list[Problem]:
    problems = [
        Problem(r.idx, r.code, f"overlaps cell {r.other} by {r.m2:,.0f} m²")
        for r in session.execute(text(STAGED_OVERLAPS_SQL))
        if r.m2 >= MIN_REPORTED_M2
    ]
    problems.extend(
        Problem(None, r.community, f"{r.m2:,.0f} m² of community {r.community} is in no cell")
        for r in session.execute(text(STAGED_GAPS_SQL))
        if r.m2 >= MIN_REPORTED_M2
    )
    return problems


def _upsert(session: Session, options: ImportOptions, now: datetime) -> tuple[int, int]:
    sql = UPSERT_STAGED_SQL.get(options.level, UPSERT_STAGED_AREAS_SQL)
    inserted = session.execute(text(sql), {"now": now, "level": options.level}).scalars().all()
    created = sum(1 for i in inserted if i)
    return created, len(inserted) - created
