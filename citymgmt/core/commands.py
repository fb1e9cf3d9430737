"""What every command that changes data shares: the embedded servers started on demand, one transaction."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from flask import current_app

from citymgmt.core.db import unit_of_work
from citymgmt.core.errors import DomainError

# For commands whose arguments are coordinates: "-122.4193" is a western longitude, not an option named "-1".
NEGATIVE_NUMBERS = {"ignore_unknown_options": True}


def ensure_services_for_command() -> None:
    """Start the embedded servers if they are the ones in use and not running; say so on stderr."""
    from citymgmt.local.manage import ensure_services

    ensure_services(current_app.extensions["citymgmt.settings"], lambda line: click.echo(line, err=True))


def fail(exc: DomainError) -> None:
    """Say what went wrong, each detail (a field, a file's line) on its own line, and exit 1."""
    click.echo(f"error: {exc.message}", err=True)
    for where, what in (exc.details or {}).items():
        click.echo(f"  {where}: {what}", err=True)
    sys.exit(1)


def in_transaction(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command in one unit of work: committed if it succeeds, rolled back with a clear message if not. The
    command's `db.session()` is the unit's Session."""

    def run(*args: Any, **kwargs: Any) -> None:
        ensure_services_for_command()
        try:
            with unit_of_work():
                fn(*args, **kwargs)
        except DomainError as exc:
            fail(exc)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def iso_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """A click callback for `--at`-style options: an ISO 8601 time (naive ones are the caller's to place)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected an ISO 8601 time, e.g. 2026-11-23T18:00+08:00") from None
