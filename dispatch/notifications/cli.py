"""`citymgmt notify channels add|list|retire` and `citymgmt notify failures`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, in_transaction
from citymgmt.core.db import db
from citymgmt.core.errors import NotFound
from dispatch.notifications.operations import CASE_EVENTS, EVENTS, NotificationChannel, add_channel, failures


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
    channel = add_channel(db.session(), kind, target, department, events or CASE_EVENTS, secret)
    record(
        db.session(),
        "notification_channel.add",
        str(channel.id),
        utcnow(),
        kind=kind,
        address=target,
        department=department,
        events=list(channel.events),
    )
    click.echo(f"channel {channel.id}: {kind} {target} for {department or 'the centre'} ({', '.join(channel.events)})")


@channels.command("list")
@with_appcontext
def list_command() -> None:
    """The live channels."""
    ensure_services_for_command()
    rows = db.session().execute(
        select(NotificationChannel).where(NotificationChannel.retired_at.is_(None)).order_by(NotificationChannel.id)
    )
    for c in rows.scalars():
        click.echo(f"{c.id:>4}  {c.kind:<8} {c.department_code or '(centre)':<24} {c.target}  {','.join(c.events)}")


@channels.command("retire")
@click.argument("channel_id", type=int)
@with_appcontext
@in_transaction
def retire_command(channel_id: int) -> None:
    """Stop sending to a channel (it is kept, with what it was sent)."""
    channel = db.session().get(NotificationChannel, channel_id)
    if channel is None or channel.retired_at is not None:
        raise NotFound(f"no live channel {channel_id}")
    channel.retired_at = utcnow()
    record(db.session(), "notification_channel.retire", str(channel_id), utcnow())
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
