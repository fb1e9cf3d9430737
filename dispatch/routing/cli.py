"""`citymgmt rules import|export|explain`: the routing rules as YAML, and why a report would go where it goes."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, in_transaction, iso_time
from citymgmt.core.db import db
from citymgmt.core.errors import DomainError
from dispatch.routing.match import explain
from dispatch.routing.rules import export_rules, load_rules_file, rule_cache


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
    result = load_rules_file(db.session(), file, utcnow(), allow_empty=retire_all)
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


@rules_cli.command("explain")
@click.option("--lon", required=True, help="Longitude of the report.")
@click.option("--lat", required=True, help="Latitude of the report.")
@click.option("--category", "category_code", required=True, help="Category code, e.g. E0102.")
@click.option("--crs", default="wgs84", show_default=True, help="wgs84, gcj02, bd09 or EPSG:n.")
@click.option("--urgency", type=click.Choice(["urgent", "normal"]), default=None)
@click.option("--description", default="", help="The report's text (for keyword rules).")
@click.option("--source", type=click.Choice(["inspector", "public", "hotline", "open311"]), default="inspector")
@click.option("--at", callback=iso_time, help="When (ISO 8601; default now; without an offset: the city's zone).")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@with_appcontext
def explain_command(
    lon: str,
    lat: str,
    category_code: str,
    crs: str,
    urgency: str | None,
    description: str,
    source: str,
    at: datetime | None,
    as_json: bool,
) -> None:
    """Show every rule considered for such a report, and why it matched or not."""
    ensure_services_for_command()
    settings = current_app.extensions["citymgmt.settings"]
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=settings.zone)
    session = db.session()
    try:
        result = explain(
            session,
            rule_cache.book(session),
            category_code=category_code,
            lon=lon,
            lat=lat,
            crs=crs,
            at=at or utcnow(),
            zone_info=settings.zone,
            urgency=urgency,
            description=description,
            source=source,
        )
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    finally:
        session.rollback()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{result['category_code']} ({result['family']}) at cell {result['cell_code']}, {result['at']}")
    for entry in result["considered"]:
        failed = next((c for c in entry["checks"] if not c["ok"]), None)
        if entry["matched"]:
            why = entry["note"] + (" (first match)" if entry["rule"] == result["rule"] else " (also matches)")
        else:
            why = f"{failed['condition']}: {failed['detail']}" if failed else entry["note"]
        mark = "✔" if entry["matched"] else "·"
        click.echo(f" {mark} {entry['priority']:>6}  {entry['rule']:<20} {entry['name']}")
        click.echo(f"{'':30}{why}")
    if result["manual"]:
        click.echo("no rule matched: the dispatcher's manual queue (人工派遣)")
    else:
        how = "dispatched at once" if result["auto_dispatch"] else "suggested to the dispatcher"
        click.echo(f"→ {result['department']} by {result['rule']} ({how})")
