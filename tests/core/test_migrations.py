"""The migrations are the schema: one head, and the models say exactly what the migrations built."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from citymgmt.app import MIGRATIONS
from citymgmt.core.db import db
from citymgmt.migrations.env_filters import include_object


def test_one_migration_head() -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads, merge them: {heads}"


def test_models_match_migrations(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; run `citymgmt db migrate`: {diff}"


def test_migrations_downgrade_and_upgrade_again(servers, app: Flask) -> None:  # type: ignore[no-untyped-def]
    """Every migration is reversible: base and back on a scratch database."""
    from flask_migrate import downgrade, upgrade

    from tests.conftest import make_test_app

    scratch = make_test_app(servers, servers.create_database("citymgmt_migrations"))
    with scratch.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        tables = {
            r[0] for r in db.session.execute(db.text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        }
        db.session.remove()
        db.engine.dispose()
    assert "outbox" in tables and "alembic_version" in tables
