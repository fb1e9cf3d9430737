"""Alembic environment: the app's engine and metadata, GeoAlchemy2's helpers for spatial columns."""

from __future__ import annotations

import logging

from alembic import context
from flask import current_app
from geoalchemy2 import alembic_helpers

from citymgmt.migrations.env_filters import include_object

log = logging.getLogger("alembic.env")
config = context.config
migrate_ext = current_app.extensions["migrate"]
metadata = migrate_ext.db.metadata


def process_revision_directives(context_, revision, directives):  # type: ignore[no-untyped-def]
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")
        return
    # Spatial tables and indexes through GeoAlchemy2's operations, so GiST indexes are not created twice.
    alembic_helpers.writer(context_, revision, directives)


def run_migrations_online() -> None:
    options = dict(migrate_ext.configure_args)
    options.setdefault("process_revision_directives", process_revision_directives)
    options.setdefault("compare_type", True)
    options.setdefault("render_item", alembic_helpers.render_item)
    options.setdefault("include_object", include_object)
    engine = migrate_ext.db.engine
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=migrate_ext.db.engine.url.render_as_string(hide_password=False),
        target_metadata=metadata,
        literal_binds=True,
        render_item=alembic_helpers.render_item,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
