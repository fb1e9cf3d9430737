"""`citymgmt taxonomy ...`: the category taxonomy from files."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from dispatch.taxonomy.operations import load_taxonomy


@click.group("taxonomy")
def taxonomy_cli() -> None:
    """The category taxonomy (管理部件和事件分类), as versioned reference data."""


@taxonomy_cli.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--not-current", is_flag=True, help="Load it without making it the current version.")
@with_appcontext
@in_transaction
def load_command(file: Path, not_current: bool) -> None:
    """Load (or update) a taxonomy version from a JSON file; the whole file or nothing."""
    version, count = load_taxonomy(db.session(), file, make_current=not not_current)
    click.echo(f"taxonomy {version}: {count} categories loaded{'' if not_current else ', current'}")
