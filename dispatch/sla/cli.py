"""`citymgmt sla sweep [--at ISO] [--dry-run]`: move the lights that are due to move, escalate overdue disposals."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction, iso_time
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from dispatch.sla.sweep import sweep


@click.group("sla")
def sla_cli() -> None:
    """Time limits (处置时限): lights and overdue cases."""


FUTURE_TOLERANCE = timedelta(minutes=1)


@sla_cli.command("sweep")
@click.option(
    "--at", callback=iso_time, help="Sweep as of this time (ISO 8601; default now; no offset: the city's zone)."
)
@click.option("--dry-run", is_flag=True, help="Say what would change and write nothing.")
@with_appcontext
@in_transaction
def sweep_command(at: datetime | None, dry_run: bool) -> None:
    """Turn lights yellow and red as of now (or --at), write their events, escalate overdue disposals. Running it
    again for the same time changes nothing. A time in the future is refused (it would write events and escalations
    dated ahead of time) unless with --dry-run."""
    settings = current_app.extensions["citymgmt.settings"]
    now = utcnow()
    when = at or now
    if when.tzinfo is None:
        when = when.replace(tzinfo=settings.zone)
    if when > now + FUTURE_TOLERANCE and not dry_run:
        raise ValidationError(
            f"--at {when.isoformat()} is in the future: a sweep then would write events and escalations dated ahead"
            " of time; add --dry-run to see what would change without writing it",
            details={"at": "in the future"},
        )
    session = db.session()
    result = sweep(session, when, settings.sla_escalate_overdue, settings)
    s = result.summary()
    if dry_run:
        session.rollback()
        click.echo(
            f"dry run, nothing written: a sweep at {when.isoformat()} would turn {s['warned']} yellow, {s['overdue']}"
            f" red, escalate {s['escalated']}, mark {s['replies_overdue']} escalation replies overdue and resume"
            f" {s['suspensions_capped']} suspensions at their cap"
        )
        return
    click.echo(
        f"sweep at {when.isoformat()}: {s['warned']} yellow, {s['overdue']} red, {s['escalated']} escalated,"
        f" {s['replies_overdue']} escalation replies overdue,"
        f" {s['suspensions_capped']} suspensions resumed at their cap"
    )
