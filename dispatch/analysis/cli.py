"""`citymgmt analysis report --week`: the weekly analysis report as one HTML file."""

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


@click.group("analysis")
def analysis_cli() -> None:
    """Where problems keep coming back (高发问题分析): recurrence, hot spots, anomalies, time patterns."""


@analysis_cli.command("report")
@click.option("--week", is_flag=True, help="The seven days ending with --ending (the one period there is for now).")
@click.option("--ending", default=None, help="The week's last day, YYYY-MM-DD (default: yesterday, city's zone).")
@click.option("--area", default=None, help="A district, street, community or cell code (default: everywhere).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The HTML file to write.")
@with_appcontext
@in_transaction
def report_command(week: bool, ending: str | None, area: str | None, output: Path) -> None:
    """Write the week's hot spots (map), recurring places, daily anomalies and time patterns (charts) as HTML."""
    if not week:
        raise ValidationError("say which period: --week", details={"week": "required"})
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
    output.write_text(weekly_report(db.session(), settings, last, now, area), encoding="utf-8")
    click.echo(f"written {output}")
