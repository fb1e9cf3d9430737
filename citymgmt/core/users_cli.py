"""`citymgmt users ...`: create accounts, reset passwords, deactivate (never delete)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.db import unit_of_work
from citymgmt.core.errors import DomainError
from citymgmt.core.identity import ALL_ROLES


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _fail(exc: DomainError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(1)


@click.group("users")
def users_cli() -> None:
    """Accounts: create, reset a password, deactivate."""


@users_cli.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ALL_ROLES), help="Repeatable.")
@click.option("--name", "display_name", default=None, help="Name shown to others (default: the username).")
@click.option("--department", default=None, help="Department code (required for handlers).")
@click.option("--phone", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@with_appcontext
def create_command(
    username: str,
    roles: tuple[str, ...],
    display_name: str | None,
    department: str | None,
    phone: str | None,
    password_stdin: bool,
) -> None:
    """Create an account with one or more roles."""
    from citymgmt.core.accounts import create_account
    from citymgmt.core.commands import ensure_services_for_command

    ensure_services_for_command()
    try:
        with unit_of_work() as session:
            created = create_account(
                session,
                username,
                _password(password_stdin),
                list(roles),
                utcnow(),
                "cli",
                display_name,
                department,
                phone,
            )
    except DomainError as exc:
        _fail(exc)
        return
    click.echo(f"created {created.username} ({', '.join(created.roles)})")


@users_cli.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@with_appcontext
def import_command(file: Path) -> None:
    """Create the accounts of a CSV file (username, display_name, role, department, password, phone), all or
    nothing. Empty passwords are generated and printed once, here, as `username<TAB>password`."""
    from citymgmt.core.accounts import import_users, read_user_rows
    from citymgmt.core.commands import ensure_services_for_command, fail

    ensure_services_for_command()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: cannot read {file}: {exc.__class__.__name__}", err=True)
        sys.exit(1)
    try:
        rows = read_user_rows(text)
        with unit_of_work() as session:
            created = import_users(session, rows, utcnow(), str(file))
    except DomainError as exc:
        fail(exc)
        return
    generated = [c for c in created if c.generated_password]
    click.echo(f"created {len(created)} users ({len(generated)} with generated passwords)", err=True)
    if generated:
        click.echo("generated passwords, shown this once (only their hashes are kept):", err=True)
        for account in generated:
            click.echo(f"{account.username}\t{account.generated_password}")


@users_cli.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@with_appcontext
def set_password_command(username: str, password_stdin: bool) -> None:
    """Set a new password; every token of the user is revoked."""
    from citymgmt.core.accounts import set_password

    try:
        with unit_of_work() as session:
            _, revoked = set_password(session, username, _password(password_stdin), utcnow(), "cli")
    except DomainError as exc:
        _fail(exc)
        return
    click.echo(f"password of {username} changed; {revoked} token(s) revoked")


@users_cli.command("deactivate")
@click.argument("username")
@with_appcontext
def deactivate_command(username: str) -> None:
    """Stop an account from signing in (its history stays); its tokens are revoked."""
    from citymgmt.core.accounts import deactivate_account

    try:
        with unit_of_work() as session:
            deactivate_account(session, username, utcnow(), "cli")
    except DomainError as exc:
        _fail(exc)
        return
    click.echo(f"{username} deactivated")
