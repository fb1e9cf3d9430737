"""The `citymgmt` command: Flask's CLI with the app, plus services, worker and scheduler.

Packages add their own groups (grids, rules, sla, ...) here as they grow; `db` comes from Flask-Migrate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from citymgmt import create_app
from citymgmt.core.commands import in_transaction
from citymgmt.core.errors import DomainError


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False, load_dotenv=False)
def cli() -> None:
    """citymgmt: grid-based urban management case dispatch (数字城管)."""


# -- services ----------------------------------------------------------------------------------------------


@cli.group()
def services() -> None:
    """The embedded PostgreSQL+PostGIS and Redis under ./var (or the external ones named by the URLs)."""


@services.command("up")
def services_up() -> None:
    """Start (initialising on first use, recovering after a crash) and wait until ready."""
    from citymgmt.local.manage import services_up as up

    ok = up(current_app.extensions["citymgmt.settings"], echo=click.echo)
    sys.exit(0 if ok else 1)


@services.command("down")
def services_down() -> None:
    """Stop the embedded servers cleanly (data is kept)."""
    from citymgmt.local.manage import services_down as down

    down(current_app.extensions["citymgmt.settings"], echo=click.echo)


@services.command("status")
def services_status() -> None:
    """Say what runs; exit 0 when all is running, 3 otherwise."""
    from citymgmt.local.manage import services_status as status

    ok = status(current_app.extensions["citymgmt.settings"], echo=click.echo)
    sys.exit(0 if ok else 3)


# -- processes ---------------------------------------------------------------------------------------------


@cli.command()
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
def worker(burst: bool, name: str | None) -> None:
    """Run an RQ worker on the high, default and low queues."""
    from citymgmt.core.worker import run_worker

    settings = current_app.extensions["citymgmt.settings"]
    run_worker(
        settings.resolved_redis_url(), burst=burst, name=name, maintenance_seconds=settings.worker_maintenance_seconds
    )


@cli.command()
def scheduler() -> None:
    """Relay the outbox into the queues and enqueue periodic jobs (one or more may run)."""
    from citymgmt.core.queue import get_redis
    from citymgmt.core.scheduler import Scheduler

    settings = current_app.extensions["citymgmt.settings"]
    Scheduler(
        get_redis(), settings.resolved_database_url(), heartbeat_ttl=settings.scheduler_heartbeat_seconds
    ).run_forever()


@cli.group()
def demo() -> None:
    """The demo city (Dongcheng and Xicheng, Beijing)."""


@demo.command("load")
@click.option(
    "--if-empty",
    is_flag=True,
    help="Do nothing if the demo city is already loaded, or the database holds another city (or the unloaded demo).",
)
@click.option("--if-enabled", is_flag=True, help="Do nothing when CITYMGMT_DEMO is off (what `make run` uses).")
def demo_load(if_empty: bool, if_enabled: bool) -> None:
    """Load the demo city; loading it again changes nothing."""
    from citymgmt.core.clock import utcnow
    from citymgmt.core.commands import ensure_services_for_command
    from citymgmt.core.db import unit_of_work
    from citymgmt.demo import another_city, demo_loaded, load_demo

    if if_enabled and not current_app.extensions["citymgmt.settings"].demo:
        click.echo("demo city not loaded: CITYMGMT_DEMO is off")
        return
    ensure_services_for_command()
    with unit_of_work() as session:
        if if_empty and demo_loaded(session):
            click.echo("demo city already loaded")
            return
        if if_empty and another_city(session):
            click.echo("demo city not loaded: the database holds another city")
            return
        load_demo(session, utcnow(), progress=lambda m: click.echo(m, err=True))
    click.echo("demo city loaded")


@demo.command("unload")
@with_appcontext
@in_transaction
def demo_unload() -> None:
    """Take the demo city out of use: its places, assets, departments, rules, accounts and Open311 key are retired,
    deactivated or revoked; nothing is deleted and its cases are kept as they are."""
    from citymgmt.core.clock import utcnow
    from citymgmt.core.db import db
    from citymgmt.demo import unload_demo

    unload_demo(db.session(), utcnow(), progress=lambda m: click.echo(m, err=True))
    click.echo("demo city unloaded")


@click.command("backup")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="The archive to write (default: var/backups/citymgmt-<time>.tar).",
)
def db_backup(output: Path | None) -> None:
    """Write one archive with the database and the photos."""
    from citymgmt.core.backup import backup
    from citymgmt.core.clock import utcnow
    from citymgmt.core.commands import ensure_services_for_command

    ensure_services_for_command()
    settings = current_app.extensions["citymgmt.settings"]
    now = utcnow()
    target = output or settings.var_dir / "backups" / f"citymgmt-{now:%Y%m%dT%H%M%SZ}.tar"
    try:
        summary = backup(settings, target, now, progress=lambda m: click.echo(m, err=True))
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"backup written to {summary.path} ({summary.bytes / 1e6:.1f} MB, {summary.photos} photos)")


@click.command("restore")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite a database that already holds cases.")
def db_restore(archive: Path, replace: bool) -> None:
    """Restore a backup archive: the database in one transaction, then the photos."""
    from flask_migrate import upgrade

    from citymgmt.app import MIGRATIONS
    from citymgmt.core.backup import restore
    from citymgmt.core.commands import ensure_services_for_command
    from citymgmt.core.db import db

    ensure_services_for_command()
    settings = current_app.extensions["citymgmt.settings"]
    try:
        result = restore(settings, archive, replace, progress=lambda m: click.echo(m, err=True), migrations=MIGRATIONS)
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    if result["migrated_from"] is not None:
        click.echo(f"the backup's schema is older ({result['migrated_from']}): upgrading it (db upgrade)", err=True)
        db.engine.dispose()  # nothing pooled from before the restore, which recreated every table and PostGIS
        try:
            upgrade(directory=str(MIGRATIONS))
        except Exception as exc:
            click.echo(
                f"error: the backup was restored whole at schema {result['migrated_from']}, but upgrading it failed"
                f" ({type(exc).__name__}): run `citymgmt db upgrade` and read its error",
                err=True,
            )
            sys.exit(1)
    click.echo(
        f"restored the backup of {result['created_at']} (schema {result['revision']}, {result['photos']} photos)"
        + (" and upgraded its schema to this version's" if result["migrated_from"] is not None else "")
    )


def _add_package_commands() -> None:
    from citymgmt.core.config_cli import config_cli
    from citymgmt.core.users_cli import users_cli
    from citymgmt.open311.cli import open311_cli
    from dispatch.analysis.cli import analysis_cli
    from dispatch.components.cli import components_cli
    from dispatch.departments.cli import departments_cli
    from dispatch.imports.cli import cases_cli
    from dispatch.intake.cli import explain_command
    from dispatch.metrics.cli import metrics_cli
    from dispatch.notifications.cli import notify_cli
    from dispatch.routing.cli import rules_cli
    from dispatch.sla.calendar_cli import calendar_cli
    from dispatch.sla.cli import sla_cli
    from dispatch.taxonomy.cli import taxonomy_cli
    from grids.cli import addresses_cli, grids_cli

    cli.add_command(config_cli)
    cli.add_command(grids_cli)
    cli.add_command(addresses_cli)
    cli.add_command(taxonomy_cli)
    cli.add_command(components_cli)
    cli.add_command(users_cli)
    cli.add_command(departments_cli)
    rules_cli.add_command(explain_command)
    cli.add_command(rules_cli)
    cli.add_command(calendar_cli)
    cli.add_command(sla_cli)
    cli.add_command(notify_cli)
    cli.add_command(open311_cli)
    cli.add_command(metrics_cli)
    cli.add_command(analysis_cli)
    cli.add_command(cases_cli)
    from flask_migrate.cli import db as db_group

    db_group.add_command(db_backup)
    db_group.add_command(db_restore)


_add_package_commands()


def main() -> None:
    cli(prog_name="citymgmt")


if __name__ == "__main__":
    main()
