"""`citymgmt cases import FILE`: case history from another system's CSV export (dispatch.imports.history)."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from dispatch.imports.history import FIELDS, import_history, read_mapping


@click.group("cases")
def cases_cli() -> None:
    """Cases (案件): bulk import of case history (历史案件导入)."""


def _pairs(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, column = value.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise click.BadParameter(f"{value!r}: expected name=COLUMN, e.g. created=CreatedDate")
        out[name.strip()] = column.strip()
    return out


@cases_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--mapping", type=click.Path(path_type=Path), default=None, help="YAML or JSON column mapping (see fixtures/la311)."
)
@click.option(
    "--map",
    "columns",
    multiple=True,
    callback=_pairs,
    help=f"name=COLUMN, on top of the mapping file; names: {', '.join(FIELDS)}.",
)
@click.option("--system", default=None, help="The other system's name (cases are known by system and id).")
@click.option("--by", "username", default=None, help="The user importing, for the audit trail (default: your login).")
@click.option("--skip-unlocated", is_flag=True, help="Leave out rows without coordinates instead of refusing the file.")
@click.option(
    "--exclusive",
    is_flag=True,
    help="Lock the case tables for the import (reports and moves wait) and build their indexes and keys again"
    " after it, sorting in up to 1 GB of the server's memory: several times faster for a first load or in a"
    " maintenance window.",
)
@with_appcontext
@in_transaction
def import_command(
    file: Path,
    mapping: Path | None,
    columns: dict[str, str],
    system: str | None,
    username: str | None,
    skip_unlocated: bool,
    exclusive: bool,
) -> None:
    """Import cases from a CSV file in one transaction: all of it, or nothing; importing it again adds nothing."""
    settings = current_app.extensions["citymgmt.settings"]
    session = db.session()
    chosen = read_mapping(mapping, columns, settings.timezone, system)
    actor = None
    if username is not None:
        actor = session.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar_one_or_none()
        if actor is None:
            raise ValidationError(f"--by: no user {username!r}", details={"by": username})
    result = import_history(
        session,
        file,
        chosen,
        utcnow(),
        username or getpass.getuser(),
        actor,
        skip_unlocated,
        progress=lambda m: click.echo(m, err=True),
        exclusive=exclusive,
    )
    click.echo(result.summary())
