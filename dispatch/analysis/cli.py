"""`citymgmt analysis report --week`: the weekly analysis report as one HTML file, written and/or sent to the
supervisors (the centre's notification channels that asked for `analysis_report`); `citymgmt analysis
refresh|rebuild`: the analyses' roll-up."""

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
from dispatch.analysis.rollups import rebuild, refresh
from dispatch.metrics.operations import parse_period
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
@click.option("--fresh", is_flag=True, help="Count from the cases now instead of the hourly roll-up.")
@with_appcontext
@in_transaction
def report_command(
    week: bool, ending: str | None, area: str | None, output: Path | None, send: bool, fresh: bool
) -> None:
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
    html = weekly_report(db.session(), settings, last, now, area, fresh=fresh)
    if output is not None:
        output.write_text(html, encoding="utf-8")
        click.echo(f"written {output}")
    if send:
        channels = notify_document(db.session(), "analysis_report", html, now)
        click.echo(f"sent to {channels} channels" if channels else "no channel asked for analysis_report: not sent")


@analysis_cli.command("refresh")
@with_appcontext
@in_transaction
def refresh_command() -> None:
    """Rebuild the roll-up of the days that changed since its last build (what the hourly job does)."""
    settings = current_app.extensions["citymgmt.settings"]
    click.echo(f"{refresh(db.session(), utcnow(), settings)} days rebuilt")


@analysis_cli.command("rebuild")
@click.option("--from", "first", default=None, help="First day, YYYY-MM-DD (default: the first report's).")
@click.option("--to", "last", default=None, help="Last day, YYYY-MM-DD, included (default: today).")
@with_appcontext
@in_transaction
def rebuild_command(first: str | None, last: str | None) -> None:
    """Rebuild the roll-up of every day from..to, a week at a time, saying each week done (after an import that
    wrote no events, say). Without --from and --to: every day, recorded as a build (a first build of a large
    history, before the hourly job would do it in one go)."""
    settings = current_app.extensions["citymgmt.settings"]
    period = None if first is None and last is None else parse_period(first, last)

    def progress(week_first: date, week_last: date) -> None:
        click.echo(f"rebuilt {week_first} – {week_last}")

    days = rebuild(db.session(), utcnow(), settings, period, progress=progress)
    click.echo(f"{days} days rebuilt")
