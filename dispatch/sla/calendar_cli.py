"""`citymgmt calendar seed|import|set|show`: the working calendar's holidays, make-up days and the city's overrides."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.commands import ensure_services_for_command, in_transaction
from citymgmt.core.config import current_settings
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from dispatch.sla.calendar import days_of_year, import_days, seed_years, set_day
from dispatch.sla.calendar_files import FORMATS, detect_format, read_days


@click.group("calendar")
def calendar_cli() -> None:
    """The working calendar (工作日历): statutory holidays, make-up working days (调休), overrides."""


@calendar_cli.command("seed")
@click.option("--from-year", type=int, default=None, help="First year (default: last year).")
@click.option("--to-year", type=int, default=None, help="Last year (default: next year).")
@with_appcontext
@in_transaction
def seed_command(from_year: int | None, to_year: int | None) -> None:
    """Store China's holidays and make-up days from chinese-calendar; the city's own overrides are kept."""
    if current_settings().holidays != "cn":
        raise ValidationError(
            "CITYMGMT_HOLIDAYS=none: China's holidays are not used here; enter the city's own with `calendar import`",
            details={"holidays": "none"},
        )
    this_year = utcnow().year
    first, last = from_year or this_year - 1, to_year or this_year + 1
    if first > last:
        raise click.BadParameter("--from-year is after --to-year")
    written, unknown = seed_years(db.session(), range(first, last + 1), utcnow())
    record(db.session(), "calendar.seed", f"{first}-{last}", utcnow(), days_written=written)
    click.echo(f"calendar {first}–{last}: {written} days written")
    if unknown:
        years = ", ".join(map(str, unknown))
        click.echo(f"chinese-calendar does not know {years}: enter those holidays with `calendar set`", err=True)


@calendar_cli.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--workday/--holiday", required=True, help="A working day, or a day off.")
@click.option("--note", default=None, help="Why (e.g. 春节调休).")
@with_appcontext
@in_transaction
def set_command(day: datetime, workday: bool, note: str | None) -> None:
    """Override one day: it is (or is not) a working day, whatever the seed says."""
    set_day(db.session(), day.date(), workday, note, None, utcnow())
    record(db.session(), "calendar.set", day.date().isoformat(), utcnow(), is_workday=workday, note=note)
    click.echo(f"{day.date()}: {'working day' if workday else 'day off'} (admin override)")


@calendar_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: from the extension.")
@with_appcontext
@in_transaction
def import_command(file: Path, fmt: str | None) -> None:
    """The city's own holidays (and make-up working days) from an iCalendar (.ics) or CSV (date,kind,name) file, for
    any years; all or nothing. They win over China's seeded days, as an admin's override does."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {file}: {exc.__class__.__name__}", details={"file": str(file)}) from None
    found = read_days(data, detect_format(file.name, fmt))
    written, unchanged = import_days(db.session(), found.days, None, utcnow())
    years = sorted({d.year for d in found.days})
    holidays = sum(1 for workday, _ in found.days.values() if not workday)
    record(
        db.session(),
        "calendar.import",
        str(file),
        utcnow(),
        days=len(found.days),
        holidays=holidays,
        workdays=len(found.days) - holidays,
        written=written,
        years=years,
    )
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0])
    click.echo(
        f"calendar {span}: {len(found.days)} days from {found.entries} entries ({holidays} holidays,"
        f" {len(found.days) - holidays} working days); {written} written, {unchanged} unchanged"
    )


@calendar_cli.command("show")
@click.argument("year", type=int)
@with_appcontext
def show_command(year: int) -> None:
    """The days of YEAR that differ from Monday–Friday, with where each comes from."""
    ensure_services_for_command()
    for row in days_of_year(db.session(), year, current_settings().holidays):
        kind = "working day" if row.is_workday else "day off"
        click.echo(f"{row.day} {date.strftime(row.day, '%a')} {kind:<12} {row.source:<17} {row.note or ''}".rstrip())
