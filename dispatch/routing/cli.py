"""`citymgmt rules import|export`: the routing rules as YAML (`rules explain` is intake's: dispatch/intake/cli.py)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
from flask.cli import with_appcontext

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, in_transaction
from citymgmt.core.config import current_settings
from citymgmt.core.db import db
from dispatch.routing.rules import export_rules, load_rules_file


@click.group("rules")
def rules_cli() -> None:
    """Routing rules (派遣规则): which department each case goes to."""


@rules_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--retire-all", is_flag=True, help="Accept a file with no rules (every rule retired).")
@with_appcontext
@in_transaction
def import_command(file: Path, retire_all: bool) -> None:
    """Replace the rule set with FILE's (YAML): the whole file or nothing; rules left out are retired."""
    result = load_rules_file(
        db.session(), file, utcnow(), allow_empty=retire_all, kinds=current_settings().department_kinds
    )
    record(db.session(), "rules.import", str(file), utcnow(), **asdict(result))
    click.echo(
        f"rules: {result.inserted} new, {result.updated} changed, {result.unchanged} unchanged, "
        f"{result.retired} retired"
    )


@rules_cli.command("export")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to this file (default: stdout).")
@with_appcontext
def export_command(output: Path | None) -> None:
    """Print the live rules as YAML, in the format `rules import` reads."""
    ensure_services_for_command()
    text = export_rules(db.session())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"rules written to {output}", err=True)
