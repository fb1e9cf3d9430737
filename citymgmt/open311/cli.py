"""`citymgmt open311 keys create|revoke NAME`: API keys of Open311 clients."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from citymgmt.open311.keys import create_key, revoke_key


@click.group("open311")
def open311_cli() -> None:
    """Open311 GeoReport v2 at /open311/v2."""


@open311_cli.group("keys")
def keys_cli() -> None:
    """API keys of Open311 clients (311 apps, hotline systems, FixMyStreet)."""


@keys_cli.command("create")
@click.argument("name")
@with_appcontext
@in_transaction
def create_command(name: str) -> None:
    """Issue a key for the client NAME; the key is printed once and stored only as a hash."""
    secret, row = create_key(db.session(), name, utcnow())
    record(db.session(), "open311_key.create", row.name, utcnow())
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
