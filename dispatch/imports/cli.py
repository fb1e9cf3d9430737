"""`citymgmt cases import FILE`: case history from another system's CSV export (dispatch.imports.history)."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from citymgmt.core.identity import User
from dispatch.imports.history import CLOSED_BEFORE_CREATED, FIELDS, ImportOptions, import_history, read_mapping


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
@click.option(
    "--skip-unlocated",
    is_flag=True,
    help="Leave out rows without coordinates (empty, or 0, 0) instead of refusing them.",
)
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Import the good rows and write the refused ones to this CSV file (their columns and a reason column);"
    " without it a file with a bad row is refused whole.",
)
@click.option(
    "--snap-within",
    type=click.FloatRange(0, 1000, min_open=True),
    default=None,
    metavar="METRES",
    help="Attach a point outside every grid cell to the nearest cell within this distance.",
)
@click.option("--source-column", default=None, help="The column saying each row's source (as --map source=COLUMN).")
@click.option(
    "--closed-before-created",
    type=click.Choice(CLOSED_BEFORE_CREATED),
    default="fix",
    show_default=True,
    help="A closed time before the created time: fix (closed at the created time, counted, the case's import event"
    " keeps the time given) or refuse the row.",
)
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
    rejects: Path | None,
    snap_within: float | None,
    source_column: str | None,
    closed_before_created: str,
    exclusive: bool,
) -> None:
    """Import cases from a CSV file in one transaction: all of it, or nothing (with --rejects: the good rows, the
    others written out); importing it again adds nothing."""
    settings = current_app.extensions["citymgmt.settings"]
    session = db.session()
    if source_column is not None:
        columns = {**columns, "source": source_column}
    chosen = read_mapping(mapping, columns, settings.timezone, system)
    actor = None
    if username is not None:
        actor = session.execute(select(User.id).where(User.username == username)).scalar_one_or_none()
        if actor is None:
            raise ValidationError(f"--by: no user {username!r}", details={"by": username})
    result = import_history(
        session,
        file,
        chosen,
        utcnow(),
        username or getpass.getuser(),
        actor,
        progress=lambda m: click.echo(m, err=True),
        options=ImportOptions(skip_unlocated, rejects, snap_within, closed_before_created, exclusive),
    )
    click.echo(result.summary())
