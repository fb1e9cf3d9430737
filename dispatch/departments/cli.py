"""`citymgmt departments import|list|retire`: the city's departments from its own file."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, fail
from citymgmt.core.config import current_settings
from citymgmt.core.db import db, unit_of_work
from citymgmt.core.errors import DomainError
from dispatch.departments.files import FORMATS, detect_format, read_rows
from dispatch.departments.operations import import_departments, list_departments, retire_department


@click.group("departments")
def departments_cli() -> None:
    """Departments (专业部门): import from a file, list, retire."""


@departments_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: from the file's extension.")
@with_appcontext
def import_command(file: Path, fmt: str | None) -> None:
    """Create or update the departments of FILE (CSV or YAML), all or nothing; each row's channels are added."""
    ensure_services_for_command()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: cannot read {file}: {exc.__class__.__name__}", err=True)
        sys.exit(1)
    try:
        rows = read_rows(text, detect_format(file, fmt))
        with unit_of_work() as session:
            summary = import_departments(session, rows, current_settings().department_kinds, utcnow(), str(file))
    except DomainError as exc:
        fail(exc)
        return
    click.echo(
        f"departments: {summary.rows} rows, {summary.created} created, {summary.updated} updated,"
        f" {summary.unchanged} unchanged; {summary.channels_added} notification channels added"
    )


@departments_cli.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Retired departments too.")
@with_appcontext
def list_command(include_retired: bool) -> None:
    """The departments: code, kind, district or street, name (and when retired)."""
    ensure_services_for_command()
    for d in list_departments(db.session(), include_retired):
        place = d.street_code or d.district_code or "(city-wide)"
        retired = f"  retired {d.retired_at:%Y-%m-%d}" if d.retired_at else ""
        click.echo(f"{d.code:<40} {d.kind:<16} {place:<12} {d.name}{retired}")


@departments_cli.command("retire")
@click.argument("code")
@with_appcontext
def retire_command(code: str) -> None:
    """Retire a department: kept with its history, never sent anything again by routing."""
    ensure_services_for_command()
    try:
        with unit_of_work() as session:
            summary = retire_department(session, code, utcnow(), "cli")
    except DomainError as exc:
        fail(exc)
        return
    click.echo(f"department {code} retired")
    if summary.open_cases:
        click.echo(f"{summary.open_cases} open cases are still with it: the dispatcher re-dispatches them", err=True)
    if summary.rules:
        click.echo(f"{summary.rules} live routing rules name it and no longer match: change them", err=True)
    if summary.handlers:
        click.echo(f"{summary.handlers} handler accounts belong to it: deactivate or move them", err=True)
