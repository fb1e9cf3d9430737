"""`citymgmt components ...`: the component registry from files."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from dispatch.components.importer import FORMATS, import_components


@click.group("components")
def components_cli() -> None:
    """The component registry (部件普查): physical assets with their 16-digit ids, classes and owners."""


@components_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--crs",
    default=None,
    help="Coordinates of the file: wgs84 (also CGCS2000), gcj02, bd09 or EPSG:n"
    " (default: as a GeoJSON file declares, else wgs84).",
)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: from the file name (.geojson, .csv)."
)
@with_appcontext
@in_transaction
def import_components_command(file: Path, crs: str | None, fmt: str | None) -> None:
    """Import (or update: upsert by id) assets from a GeoJSON or CSV file; the whole file or nothing."""
    report = import_components(db.session(), file, utcnow(), crs, fmt, progress=lambda m: click.echo(m, err=True))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.warning_count > len(report.warnings):
        click.echo(f"warning: ... and {report.warning_count - len(report.warnings)} more", err=True)
    click.echo(report.summary())
