"""`citymgmt analysis report --week`: the weekly analysis report as one HTML file, written and/or sent to the
supervisors (the centre's notification channels that asked for `analysis_report`)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from dispatch.analysis.report import weekly_report
from dispatch.notifications.operations import notify_document


@click.group("analysis")
def analysis_cli() -> None:
    """Where problems keep coming back (高发问题分析): recurrence, hot spots, anomalies, time patterns."""


@analysis_cli.command("report")
@click.option("--week", is_flag=True, help="The seven days ending with --ending (the one period there is for now).")
@click.option("--ending", default=None, help="The week's last day, YYYY-MM-DD (default: yesterday, city's zone).")
@click.option("--area", default=None, help="A district, street, community or cell code (default: everywhere).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="The HTML file to write.")
@click.option(
    "--send", is_flag=True, help="Send it to the centre's notification channels that asked for analysis_report."
)
@with_appcontext
@in_transaction
def report_command(week: bool, ending: str | None, area: str | None, output: Path | None, send: bool) -> None:
    """Write the week's hot spots (map), recurring places, daily anomalies and time patterns (charts) as HTML."""
    if not week:
        raise ValidationError("say which period: --week", details={"week": "required"})
    if output is None and not send:
        raise ValidationError("say where the report goes: -o FILE and/or --send", details={"output": "required"})
    settings = current_app.extensions["citymgmt.settings"]
    now = utcnow()
    if ending is None:
        last = now.astimezone(settings.zone).date() - timedelta(days=1)
    else:
        try:
            last = date.fromisoformat(ending)
        except ValueError:
            raise ValidationError(
                f"--ending {ending!r} is not a date (YYYY-MM-DD)", details={"ending": ending}
            ) from None
    html = weekly_report(db.session(), settings, last, now, area)
    if output is not None:
        output.write_text(html, encoding="utf-8")
        click.echo(f"written {output}")
    if send:
        channels = notify_document(db.session(), "analysis_report", html, now)
        click.echo(f"sent to {channels} channels" if channels else "no channel asked for analysis_report: not sent")
