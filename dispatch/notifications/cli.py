"""`citymgmt notify channels add|list|retire` and `citymgmt notify failures`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, in_transaction
from citymgmt.core.db import db
from dispatch.notifications.operations import (
    CASE_EVENTS,
    EVENTS,
    create_channel,
    failures,
    list_channels,
    retire_channel,
)


@click.group("notify")
def notify_cli() -> None:
    """Notifications of new work and SLA warnings, by e-mail or webhook."""


@notify_cli.group("channels")
def channels() -> None:
    """Where notifications go."""


@channels.command("add")
@click.option("--department", default=None, help="The department's code (default: the centre, told of all warnings).")
@click.option("--email", default=None, help="Send e-mail to this address.")
@click.option("--webhook", default=None, help="POST JSON to this URL, signed with --secret.")
@click.option("--secret", default=None, help="The webhook's HMAC-SHA256 key (at least 16 characters).")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENTS),
    help="Only these events (default: the cases' events, all but analysis_report).",
)
@with_appcontext
@in_transaction
def add_command(
    department: str | None, email: str | None, webhook: str | None, secret: str | None, events: tuple[str, ...]
) -> None:
    """Add a channel: --email ADDRESS or --webhook URL --secret KEY."""
    if bool(email) == bool(webhook):
        raise click.UsageError("give --email or --webhook (one of them)")
    kind, target = ("email", email) if email else ("webhook", webhook)
    assert target is not None
    channel = create_channel(db.session(), kind, target, department, events or CASE_EVENTS, secret, utcnow(), "cli")
    click.echo(f"channel {channel.id}: {kind} {target} for {department or 'the centre'} ({', '.join(channel.events)})")


@channels.command("list")
@with_appcontext
def list_command() -> None:
    """The live channels."""
    ensure_services_for_command()
    for c in list_channels(db.session()):
        click.echo(f"{c.id:>4}  {c.kind:<8} {c.department_code or '(centre)':<24} {c.target}  {','.join(c.events)}")


@channels.command("retire")
@click.argument("channel_id", type=int)
@with_appcontext
@in_transaction
def retire_command(channel_id: int) -> None:
    """Stop sending to a channel (it is kept, with what it was sent)."""
    retire_channel(db.session(), channel_id, utcnow(), "cli")
    click.echo(f"channel {channel_id} retired")


@notify_cli.command("failures")
@with_appcontext
def failures_command() -> None:
    """Notifications not delivered yet after an attempt, with their last error (they are being retried)."""
    ensure_services_for_command()
    rows = failures(db.session())
    if not rows:
        click.echo("no failed notifications")
    for row in rows:
        channel = row["channel"]
        click.echo(
            f"{row['id']:>6}  {row['event']:<12} {channel['kind']} {channel['target']}  "
            f"attempts {row['attempts']}: {row['last_error']}"
        )
