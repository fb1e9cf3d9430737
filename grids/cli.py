"""`citymgmt grids ...`: import, generate and match from the command line. Each command is one transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import NEGATIVE_NUMBERS, in_transaction
from citymgmt.core.db import db
from grids.addresses import FORMATS, import_addresses
from grids.boundaries import districts_of, overlaps, simplified
from grids.generate import GenerateOptions, generate_cells, generated_name_formats, level_names
from grids.importer import LEVELS, ImportOptions, import_layer
from grids.matching import match_cell
from grids.sources import read_layer

CRS_HELP = "Coordinates of the file: wgs84 (also CGCS2000), gcj02, bd09 or EPSG:n (default: the file's own)."


@click.group("grids")
def grids_cli() -> None:
    """Areas and unit grid cells: import, generate, match."""


def level_of(value: str) -> str:
    """A level named in English or in the city's words for it (CITYMGMT_LEVEL_NAMES, or the locale's)."""
    if value in LEVELS:
        return value
    settings = current_app.extensions["citymgmt.settings"]
    words = level_names(settings.default_locale, settings.level_names)
    for level, word in zip(("district", "street", "community"), words, strict=True):
        if value.casefold() == word.casefold():
            return level
    raise click.BadParameter(f"{value!r} is not one of {', '.join(LEVELS + words)}", param_hint="'--level'")


@grids_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--level",
    required=True,
    help=f"What the features are: {', '.join(LEVELS)}, or the city's words for its levels (CITYMGMT_LEVEL_NAMES).",
)
@click.option(
    "--code-field",
    default=None,
    help="Default: code; for areas in a file without it, the names. Areas whose codes are not DB11 digits keep them"
    " as the city's own, beside assigned codes.",
)
@click.option("--name-field", default="name", show_default=True)
@click.option(
    "--parent-field",
    default=None,
    help="Checked against the code's prefix when given; with the city's own codes, each one's parent (its code or"
    " own code).",
)
@click.option("--department-field", default="department", show_default=True, help="Zones: the owner.")
@click.option("--kind-field", default="kind", show_default=True, help="Zones: road, park, ...")
@click.option("--crs", default=None, help=CRS_HELP)
@click.option("--layer", default=None, help="Layer name in a multi-layer file (GeoPackage).")
@click.option("--strict", is_flag=True, help="Refuse overlapping cells and gaps instead of reporting them.")
@with_appcontext
@in_transaction
def import_command(file: Path, level: str, crs: str | None, layer: str | None, strict: bool, **fields: Any) -> None:
    """Import areas, cells or responsibility zones from FILE (GeoJSON, Shapefile, GeoPackage, ...)."""
    level = level_of(level)
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


@grids_cli.command("generate")
@click.option("--boundary", "boundary_file", type=click.Path(path_type=Path), required=True)
@click.option("--size", type=float, required=True, help="Cell side in metres (100 gives the 10,000 m² cell).")
@click.option("--crs", default=None, help=CRS_HELP)
@click.option("--layer", default=None)
@click.option(
    "--code-field",
    default=None,
    help="The districts' codes: 6 digits are kept, other codes kept beside assigned ones (default: adcode or code,"
    " else the names).",
)
@click.option("--name-field", default="name", show_default=True, help="The districts' names.")
@click.option("--district-code", default=None, help="6 digits (GB/T 2260): the union of all polygons as this one.")
@click.option("--district-name", default=None, help="With --district-code. Default: the file's name, or the code.")
@click.option("--community-block", default=10, show_default=True, help="Cells per side of a generated community.")
@click.option("--street-block", default=4, show_default=True, help="Communities per side of a generated street.")
@click.option(
    "--simplify",
    type=click.FloatRange(0, 100, min_open=True),
    default=None,
    metavar="METRES",
    help="Simplify each district's outline within this distance first (faster on detailed outlines).",
)
@with_appcontext
@in_transaction
def generate_command(
    boundary_file: Path,
    size: float,
    crs: str | None,
    layer: str | None,
    code_field: str | None,
    name_field: str,
    district_code: str | None,
    district_name: str | None,
    community_block: int,
    street_block: int,
    simplify: float | None,
) -> None:
    """Cut each district of a boundary file (one per feature) into square cells, grouped into generated streets and
    communities."""
    settings = current_app.extensions["citymgmt.settings"]
    started = time.perf_counter()
    session = db.session()
    districts = districts_of(
        session, read_layer(boundary_file, layer), crs, code_field, name_field, district_code, district_name
    )
    street_name, community_name = generated_name_formats(settings.default_locale, settings.level_names)
    word = level_names(settings.default_locale, settings.level_names)[0]
    cells = 0
    for n, district in enumerate(districts, 1):
        own = f" ({district.source_code})" if district.source_code and district.source_code != district.name else ""
        click.echo(f"{word} {n}/{len(districts)}: {district.code} {district.name}{own}", err=True)
        options = GenerateOptions(
            district_code=district.code,
            district_name=district.name,
            size_m=size,
            community_block=community_block,
            street_block=street_block,
            source_code=district.source_code,
            street_name=street_name,
            community_name=community_name,
        )
        wkb = district.wkb if simplify is None else simplified(district.wkb, simplify)
        report = generate_cells(session, wkb, options, utcnow(), progress=lambda m: click.echo(m, err=True))
        cells += report.cells
    # Overlaps smaller than a sliver (a quarter of a cell) are the noding noise of neighbouring outlines.
    overlapping = overlaps(session, [d.code for d in districts], min_m2=0.25 * size**2)
    for a, b, m2 in overlapping[:20]:
        click.echo(f"warning: districts {a} and {b} overlap by {m2:,.0f} m²", err=True)
    if overlapping:
        more = f" ({len(overlapping) - 20} more not shown)" if len(overlapping) > 20 else ""
        click.echo(
            f"warning: {len(overlapping)} pairs of districts overlap{more}: both have cells there, and a point there"
            " goes to the smaller cell code",
            err=True,
        )
    click.echo(f"{len(districts)} districts, {cells} cells generated in {time.perf_counter() - started:.1f} s")


@grids_cli.command("match", context_settings=NEGATIVE_NUMBERS)
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--crs", default="wgs84", show_default=True)
@with_appcontext
@in_transaction
def match_command(lon: float, lat: float, crs: str) -> None:
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
