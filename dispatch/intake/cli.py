"""`citymgmt rules explain`: where a report would go and why, the report placed as intake places it (its asset
too), so that the answer is the routing a real report there gets. Added to the `rules` group by citymgmt/cli.py."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, iso_time
from citymgmt.core.db import db
from citymgmt.core.errors import DomainError
from dispatch.intake.explain import explain_report
from dispatch.routing.rules import rule_cache


@click.command("explain")
@click.option("--lon", help="Longitude of the report (may be left out with --component).")
@click.option("--lat", help="Latitude of the report (may be left out with --component).")
@click.option("--category", "category_code", required=True, help="Category code, e.g. E0102.")
@click.option(
    "--component",
    "component_id",
    help="The asset (部件) reported, by its 16-digit registry id (without it: the nearest of the class, as intake).",
)
@click.option("--crs", default="wgs84", show_default=True, help="wgs84, gcj02, bd09 or EPSG:n.")
@click.option("--urgency", type=click.Choice(["urgent", "normal"]), default=None)
@click.option("--description", default="", help="The report's text (for keyword rules).")
@click.option("--source", type=click.Choice(["inspector", "public", "hotline", "open311"]), default="inspector")
@click.option("--at", callback=iso_time, help="When (ISO 8601; default now; without an offset: the city's zone).")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@with_appcontext
def explain_command(
    lon: str | None,
    lat: str | None,
    category_code: str,
    component_id: str | None,
    crs: str,
    urgency: str | None,
    description: str,
    source: str,
    at: datetime | None,
    as_json: bool,
) -> None:
    """Show every rule considered for such a report, and why it matched or not, as intake would route it."""
    ensure_services_for_command()
    settings = current_app.extensions["citymgmt.settings"]
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=settings.zone)
    session = db.session()
    try:
        result = explain_report(
            session,
            rule_cache.book(session),
            category_code=category_code,
            lon=lon,
            lat=lat,
            crs=crs,
            at=at or utcnow(),
            settings=settings,
            urgency=urgency,
            description=description,
            source=source,
            component_id=component_id,
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
    if result["component"] is not None:
        asset = result["component"]
        owner = asset["owner_department_code"] or "no owner"
        click.echo(f"asset {asset['id']} ({asset['source']}, {asset['distance_m']} m away), {owner}")
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
