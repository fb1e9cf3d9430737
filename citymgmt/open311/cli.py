"""`citymgmt open311 keys create|revoke NAME`: API keys of Open311 clients."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from citymgmt.open311.keys import STATUS_STYLES, create_key, revoke_key, set_status_style


@click.group("open311")
def open311_cli() -> None:
    """Open311 GeoReport v2 at /open311/v2."""


@open311_cli.group("keys")
def keys_cli() -> None:
    """API keys of Open311 clients (311 apps, hotline systems, FixMyStreet)."""


STYLE = click.option(
    "--statuses",
    "status_style",
    type=click.Choice(STATUS_STYLES),
    default="extended",
    show_default=True,
    help="How the client reads statuses in servicerequestupdates (when it sends its api_key): mySociety's extended"
    " statuses, or plain OPEN/CLOSED (FixMyStreet without extended statuses reads CLOSED as fixed).",
)


@keys_cli.command("create")
@click.argument("name")
@STYLE
@with_appcontext
@in_transaction
def create_command(name: str, status_style: str) -> None:
    """Issue a key for the client NAME; the key is printed once and stored only as a hash."""
    secret, row = create_key(db.session(), name, utcnow(), status_style=status_style)
    record(db.session(), "open311_key.create", row.name, utcnow(), statuses=status_style)
    click.echo(f"Open311 key for {row.name} (shown once, keep it safe):", err=True)
    click.echo(secret)


@keys_cli.command("revoke")
@click.argument("name")
@with_appcontext
@in_transaction
def revoke_command(name: str) -> None:
    """Revoke the key of the client NAME (its cases stay; the key stops working at once)."""
    row = revoke_key(db.session(), name, utcnow())
    record(db.session(), "open311_key.revoke", row.name, utcnow())
    click.echo(f"Open311 key of {row.name} revoked")


@keys_cli.command("statuses")
@click.argument("name")
@click.argument("status_style", type=click.Choice(STATUS_STYLES))
@with_appcontext
@in_transaction
def statuses_command(name: str, status_style: str) -> None:
    """Set how the client NAME reads statuses in servicerequestupdates: extended or plain."""
    row = set_status_style(db.session(), name, status_style)
    record(db.session(), "open311_key.statuses", row.name, utcnow(), statuses=status_style)
    click.echo(f"Open311 client {row.name} reads {status_style} statuses")
