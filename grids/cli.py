"""`citymgmt grids ...`: import, generate and match from the command line. Each command is one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import shapely
from flask.cli import with_appcontext
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import text

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from citymgmt.core.errors import DomainError
from grids.addresses import FORMATS, import_addresses
from grids.crs import CRSError, parse_crs, srid_of, transform_geometry
from grids.generate import GenerateOptions, generate_cells
from grids.importer import LEVELS, ImportOptions, import_layer
from grids.matching import match_cell
from grids.queries import BOUNDARY_TO_WGS84_SQL
from grids.sources import read_layer

CRS_HELP = "Coordinates of the file: wgs84 (also CGCS2000), gcj02, bd09 or EPSG:n (default: the file's own)."


@click.group("grids")
def grids_cli() -> None:
    """Areas and unit grid cells: import, generate, match."""


@grids_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--level", type=click.Choice(LEVELS), required=True, help="What the features are.")
@click.option("--code-field", default="code", show_default=True)
@click.option("--name-field", default="name", show_default=True)
@click.option("--parent-field", default=None, help="Checked against the code's prefix when given.")
@click.option("--department-field", default="department", show_default=True, help="Zones: the owner.")
@click.option("--kind-field", default="kind", show_default=True, help="Zones: road, park, ...")
@click.option("--crs", default=None, help=CRS_HELP)
@click.option("--layer", default=None, help="Layer name in a multi-layer file (GeoPackage).")
@click.option("--strict", is_flag=True, help="Refuse overlapping cells and gaps instead of reporting them.")
@with_appcontext
@in_transaction
def import_command(file: Path, level: str, crs: str | None, layer: str | None, strict: bool, **fields: Any) -> None:
    """Import areas, cells or responsibility zones from FILE (GeoJSON, Shapefile, GeoPackage, ...)."""
    source = read_layer(file, layer)
    click.echo(f"{file}: {len(source.features)} features", err=True)
    options = ImportOptions(level=level, crs=crs, strict=strict, **fields)
    report = import_layer(db.session(), source, options, utcnow(), progress=lambda m: click.echo(m, err=True))
    for problem in report.repaired + report.warnings:
        click.echo(f"warning: {problem}", err=True)
    click.echo(
        f"imported {report.features} {level} features: {report.created} created, {report.updated} updated,"
        f" {report.features - report.created - report.updated} unchanged;"
        f" {len(report.repaired)} repaired, {len(report.warnings)} warnings"
    )


def boundary_wkb(file: Path, crs: str | None, layer: str | None) -> tuple[bytes, dict[str, Any]]:
    """The union of a file's polygons in WGS-84, and the properties of its first feature."""
    source = read_layer(file, layer)
    polygons = [f.geometry for f in source.features if isinstance(f.geometry, Polygon | MultiPolygon)]
    if not polygons:
        raise DomainError(f"{file}: no polygons in it")
    try:
        name = parse_crs(crs or source.crs or "wgs84")
    except CRSError as exc:
        raise DomainError(str(exc)) from None
    boundary = shapely.union_all(shapely.make_valid(polygons))
    if name in ("gcj02", "bd09"):
        boundary = transform_geometry(boundary, name, "wgs84")
    wkb = shapely.to_wkb(boundary)
    if name not in ("wgs84", "gcj02", "bd09"):
        wkb = db.session.execute(
            text(BOUNDARY_TO_WGS84_SQL),
            {"wkb": wkb, "srid": srid_of(name)},
        ).scalar_one()
    return bytes(wkb), source.features[0].properties


@grids_cli.command("generate")
@click.option("--boundary", "boundary_file", type=click.Path(path_type=Path), required=True)
@click.option("--size", type=float, required=True, help="Cell side in metres (100 gives the 10,000 m² cell).")
@click.option("--crs", default=None, help=CRS_HELP)
@click.option("--layer", default=None)
@click.option("--district-code", default=None, help="6 digits (GB/T 2260); default: the file's adcode or code.")
@click.option("--district-name", default=None, help="Default: the file's name, or the district code.")
@click.option("--community-block", default=10, show_default=True, help="Cells per side of a generated community.")
@click.option("--street-block", default=4, show_default=True, help="Communities per side of a generated street.")
@with_appcontext
@in_transaction
def generate_command(
    boundary_file: Path,
    size: float,
    crs: str | None,
    layer: str | None,
    district_code: str | None,
    district_name: str | None,
    community_block: int,
    street_block: int,
) -> None:
    """Cut a district's boundary into square cells, grouped into generated streets and communities."""
    wkb, props = boundary_wkb(boundary_file, crs, layer)
    code = district_code or str(props.get("adcode") or props.get("code") or "")
    if not code:
        raise DomainError("give --district-code: the boundary file has no adcode or code property")
    options = GenerateOptions(
        district_code=code,
        district_name=district_name or str(props.get("name") or code),
        size_m=size,
        community_block=community_block,
        street_block=street_block,
    )
    generate_cells(db.session(), wkb, options, utcnow(), progress=lambda m: click.echo(m, err=True))


@grids_cli.command("match")
@click.argument("lon")
@click.argument("lat")
@click.option("--crs", default="wgs84", show_default=True)
@with_appcontext
@in_transaction
def match_command(lon: str, lat: str, crs: str) -> None:
    """Print the cell (and its community, street and district) covering LON LAT."""
    m = match_cell(db.session(), lon, lat, crs)
    click.echo(f"{m.cell_code} community {m.community_code} street {m.street_code} district {m.district_code}")


@grids_cli.command("assign")
@click.argument("username")
@click.argument("codes", nargs=-1, required=True)
@click.option("--unassign", is_flag=True, help="Take the cells off the inspector's beat instead.")
@with_appcontext
@in_transaction
def assign_command(username: str, codes: tuple[str, ...], unassign: bool) -> None:
    """Put cells on an inspector's beat: CODES are cell, community, street or district codes."""
    from citymgmt.core.audit import record
    from grids.assignments import assign_cells, unassign_cells

    record(db.session(), "grids.unassign" if unassign else "grids.assign", username, utcnow(), codes=list(codes))
    if unassign:
        count = unassign_cells(db.session(), username, list(codes), utcnow())
        click.echo(f"{count} cells taken off {username}'s beat")
    else:
        count = assign_cells(db.session(), username, list(codes), utcnow())
        click.echo(f"{count} cells added to {username}'s beat")


@click.group("addresses")
def addresses_cli() -> None:
    """The address gazetteer (标准地址 / 门牌): addresses with their points, for the desk's search and Open311."""


@addresses_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--crs",
    type=click.Choice(("wgs84", "gcj02", "bd09")),
    default="wgs84",
    show_default=True,
    help="Coordinates of the file (wgs84 also for CGCS2000).",
)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: from the file name (.csv, .geojson)."
)
@with_appcontext
@in_transaction
def import_addresses_command(file: Path, crs: str, fmt: str | None) -> None:
    """Import (or update: upsert by the address text) addresses from a CSV (address, lon, lat) or GeoJSON file
    (Point features with an `address` property); the whole file or nothing."""
    report = import_addresses(db.session(), file, utcnow(), crs, fmt)
    click.echo(report.summary())
