"""What every command that changes data shares: the embedded servers started on demand, one transaction."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app

from citymgmt.core.db import db
from citymgmt.core.errors import DomainError


def ensure_services_for_command() -> None:
    """Start the embedded servers if they are the ones in use and not running; say so on stderr."""
    from citymgmt.local.manage import ensure_services

    ensure_services(current_app.extensions["citymgmt.settings"], lambda line: click.echo(line, err=True))


def in_transaction(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command in one transaction: committed if it succeeds, rolled back with a clear message if not."""

    def run(*args: Any, **kwargs: Any) -> None:
        ensure_services_for_command()
        try:
            fn(*args, **kwargs)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run
