"""`citymgmt sla sweep [--at ISO]`: move the lights that are due to move, escalate overdue disposals."""

from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction, iso_time
from citymgmt.core.db import db
from dispatch.sla import sweep


@click.group("sla")
def sla_cli() -> None:
    """Time limits (处置时限): lights and overdue cases."""


@sla_cli.command("sweep")
@click.option(
    "--at", callback=iso_time, help="Sweep as of this time (ISO 8601; default now; no offset: the city's zone)."
)
@with_appcontext
@in_transaction
def sweep_command(at: datetime | None) -> None:
    """Turn lights yellow and red as of now (or --at), write their events, escalate overdue disposals. Running it
    again for the same time changes nothing."""
    settings = current_app.extensions["citymgmt.settings"]
    when = at or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=settings.zone)
    result = sweep(db.session(), when, settings.sla_escalate_overdue)
    s = result.summary()
    click.echo(f"sweep at {when.isoformat()}: {s['warned']} yellow, {s['overdue']} red, {s['escalated']} escalated")
