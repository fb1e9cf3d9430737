"""`citymgmt db backup` and `db restore`: a round trip of the database and the photos between two databases."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from citymgmt.core.db import db
from tests.conftest import make_test_app

CELL = "POLYGON((116.39 39.91, 116.391 39.91, 116.391 39.911, 116.39 39.911, 116.39 39.91))"


def _app(servers: Any, name: str, root: Path) -> Flask:
    return make_test_app(servers, servers.migrated_database(name), var_dir=root, photo_dir=root / "photos")


def _cli(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    from citymgmt.cli import cli

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, list(args))


def _facts(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        session = db.session()
        row = session.execute(
            text(
                "SELECT (SELECT count(*) FROM cases), (SELECT code FROM cases LIMIT 1),"
                " (SELECT ST_AsText(geom) FROM grid_cells LIMIT 1), (SELECT version_num FROM alembic_version)"
            )
        ).one()
        db.session.remove()
        db.engine.dispose()  # no pooled connection left behind: a restore refuses a database in use
        return tuple(row)


def test_backup_and_restore_round_trip(servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    source = _app(servers, "citymgmt_backup_source", tmp_path / "a")
    with source.app_context():
        session = db.session()
        for statement in (
            "INSERT INTO areas (code, name, level, parent_code, geom) VALUES"
            " ('990201', '测试区', 'district', NULL, ST_Multi(ST_GeomFromText(:cell, 4326))),"
            " ('990201001', '测试街道', 'street', '990201', ST_Multi(ST_GeomFromText(:cell, 4326))),"
            " ('990201001001', '测试社区', 'community', '990201001', ST_Multi(ST_GeomFromText(:cell, 4326)))",
            "INSERT INTO grid_cells (code, community_code, geom, area_m2) VALUES"
            " ('990201001001001', '990201001001', ST_GeomFromText(:cell, 4326), 9000)",
            "INSERT INTO taxonomy_versions (code, name, name_en, effective_from, current)"
            " VALUES ('t', 't', 't', '2026-01-01', true)",
            "INSERT INTO categories (version_code, code, family, level, name, name_en, time_limits, keywords)"
            " VALUES ('t', 'E01', 'event', 'major', 'x', 'x', '[]', '{}')",
            "INSERT INTO cases (code, source, category_id, category_code, urgency, description, point, cell_code,"
            " community_code, street_code, district_code, status, reported_at, updated_at)"
            " SELECT '2026112300001', 'hotline', id, 'E01', 'normal', '备份测试',"
            " ST_SetSRID(ST_MakePoint(116.3905, 39.9105), 4326), '990201001001001', '990201001001', '990201001',"
            " '990201', 'reported', now(), now() FROM categories",
        ):
            session.execute(text(statement), {"cell": CELL})
        session.commit()
        db.session.remove()
    photo = tmp_path / "a" / "photos" / "2026" / "11" / "abc.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    archive = tmp_path / "backup.tar"

    made = _cli(source, monkeypatch, "db", "backup", "--output", str(archive))
    assert made.exit_code == 0, made.output
    assert f"backup written to {archive}" in made.stdout and "1 photos" in made.stdout
    assert "dumping the database" in made.stderr

    target = _app(servers, "citymgmt_backup_target", tmp_path / "b")
    restored = _cli(target, monkeypatch, "db", "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert _facts(target) == _facts(source) and _facts(target)[0] == 1
    assert (tmp_path / "b" / "photos" / "2026" / "11" / "abc.jpg").read_bytes() == photo.read_bytes()

    again = _cli(target, monkeypatch, "db", "restore", str(archive))
    assert again.exit_code == 1 and "already holds cases: restore with --replace" in again.stderr
    # Anything connected (a running web worker) and the restore is refused, naming it: a connection kept across a
    # restore cannot use the PostGIS it recreates.
    import psycopg

    from citymgmt.core.backup import libpq_conninfo

    with psycopg.connect(libpq_conninfo(target.config["SQLALCHEMY_DATABASE_URI"]), application_name="web-worker-7"):
        busy = _cli(target, monkeypatch, "db", "restore", str(archive), "--replace")
    assert busy.exit_code == 1
    assert busy.stderr.startswith("error: 1 other connections to the database (web-worker-7 ×1): stop the web")
    replaced = _cli(target, monkeypatch, "db", "restore", str(archive), "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert _facts(target) == _facts(source)

    broken = tmp_path / "broken.tar"
    broken.write_bytes(archive.read_bytes()[:5000])
    refused = _cli(target, monkeypatch, "db", "restore", str(broken), "--replace")
    assert refused.exit_code == 1 and refused.stderr.startswith("error: ")
    assert _facts(target) == _facts(source)  # nothing changed
    # A dump cut short inside a sound archive: pg_restore has already sent the drops and creates when it fails, and
    # they are rolled back (the COMMIT is sent only after the whole dump).
    cut = tmp_path / "cut.tar"
    with tarfile.open(archive) as whole, tarfile.open(cut, "w") as target_tar:
        for member in whole.getmembers():
            data = whole.extractfile(member)
            if member.name == "database.dump" and data is not None:
                content = data.read()
                member.size = len(content) * 9 // 10
                data = io.BytesIO(content[: member.size])
            target_tar.addfile(member, data)
    failed = _cli(target, monkeypatch, "db", "restore", str(cut), "--replace")
    assert failed.exit_code == 1, failed.output
    assert "error: pg_restore failed: pg_restore: error: could not read from input file" in failed.stderr
    assert _facts(target) == _facts(source)  # nothing changed
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        tar.add(photo, arcname="photos/x.jpg")
    assert "not a citymgmt backup" in _cli(target, monkeypatch, "db", "restore", str(other)).stderr


def _archive_with_revision(archive: Path, out: Path, revision: str) -> Path:
    """The archive as another version would have written it: the same contents, another schema revision."""
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member)
            if member.name == "manifest.json":
                assert data is not None
                manifest = json.loads(data.read()) | {"revision": revision}
                payload = json.dumps(manifest).encode()
                member.size = len(payload)
                data = io.BytesIO(payload)
            target.addfile(member, data)
    return out


def test_a_backup_of_another_schema_revision(servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """An older revision of this code's history is restored and upgraded; an unknown one (a newer version's
    backup) is refused before anything is written."""
    from flask_migrate import downgrade

    source = _app(servers, "citymgmt_backup_old", tmp_path / "a")
    with source.app_context():
        head = _facts(source)[3]
        downgrade(revision="-1")  # the schema as the previous version left it
        older = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        db.session.remove()
        db.engine.dispose()
    assert older != head
    archive = tmp_path / "old.tar"
    assert _cli(source, monkeypatch, "db", "backup", "--output", str(archive)).exit_code == 0

    target = _app(servers, "citymgmt_backup_new", tmp_path / "b")
    newer = _archive_with_revision(archive, tmp_path / "newer.tar", "ffffffffffff")
    refused = _cli(target, monkeypatch, "db", "restore", str(newer))
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        f"error: the backup's schema revision ffffffffffff is not one this version of citymgmt knows (its newest is"
        f" {head})"
    )
    assert _facts(target)[3] == head  # untouched

    restored = _cli(target, monkeypatch, "db", "restore", str(archive), "--replace")
    assert restored.exit_code == 0, restored.output
    assert f"the backup's schema is older ({older}): upgrading it" in restored.stderr
    assert "upgraded its schema to this version's" in restored.stdout
    assert _facts(target)[3] == head
