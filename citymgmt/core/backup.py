"""Backups: one archive with the database (pg_dump custom format) and the photos, and its restore.

The archive is a tar file: `manifest.json` (format, time, schema revision, counts), `database.dump`, `photos/...`.
It is written beside its final name and renamed when complete, so a failed backup leaves no half archive. A
restore checks the whole archive first, restores the database in one transaction (the schema emptied and the dump
replayed by psql --single-transaction: all or nothing), then puts the photos in place; it refuses a database
that already holds cases unless told to replace it, and one that anything else is connected to (the running
system), naming them. A backup of an older schema revision of this code is restored as it was and then upgraded;
one of a revision this code does not know (a newer version's) is refused before anything is written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from citymgmt.core.config import Settings
from citymgmt.core.errors import DomainError, Kind, ValidationError
from citymgmt.core.queries import ANY_CASE_SQL, CASES_TABLE_SQL, OTHER_CONNECTIONS_SQL, SCHEMA_REVISION_SQL
from citymgmt.local.postgres import pg_bindir
from citymgmt.local.process import find_binary

FORMAT = 1
Progress = Callable[[str], None]


class BackupError(DomainError):
    kind = Kind.failed
    code = "backup_failed"


class DatabaseInUse(DomainError):
    kind = Kind.conflict
    code = "database_in_use"


def _other_connections(conninfo: str) -> dict[str, int]:
    """The other client connections to the database, by application name."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.cursor(row_factory=dict_row).execute(OTHER_CONNECTIONS_SQL).fetchall()
    return {str(r["name"]): int(r["connections"]) for r in rows}


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    bytes: int
    photos: int
    revision: str | None


def libpq_conninfo(url: str) -> str:
    """A libpq connection string for pg_dump/pg_restore from the app's SQLAlchemy URL."""
    u = make_url(url)
    host = u.host or u.query.get("host")
    params = {
        "dbname": u.database,
        "user": u.username,
        "password": u.password,
        "host": host if isinstance(host, str) else None,
        "port": u.port,
    }
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v})


def _revision(conninfo: str) -> str | None:
    with psycopg.connect(conninfo) as conn:
        row = conn.cursor(row_factory=dict_row).execute(SCHEMA_REVISION_SQL).fetchone()
        return None if row is None else str(row["version_num"])


def _schema_check(migrations: Path, revision: object) -> str | None:
    """None when the backup's schema revision is this code's; the revision to migrate from when it is an older one
    of this code's history; refused otherwise (a newer version's backup, or one of another line of history), before
    anything is written."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    if revision == head:
        return None
    try:
        history = {r.revision for r in script.walk_revisions("base", "heads")}
    except CommandError:  # pragma: no cover - the code's own history is checked by the migration tests
        history = set()
    if isinstance(revision, str) and revision in history:
        return revision
    raise ValidationError(
        f"the backup's schema revision {revision} is not one this version of citymgmt knows (its newest is {head}):"
        " restore it with the version that wrote it, then upgrade",
        details={"revision": str(revision), "this_version": head},
    )


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # The tool's own message names the problem (no credentials in it: they are passed in the conninfo).
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{what} failed: {last}")


def backup(settings: Settings, out: Path, now: datetime, progress: Progress) -> BackupSummary:
    conninfo = libpq_conninfo(settings.resolved_database_url())
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in settings.photos.rglob("*") if p.is_file()) if settings.photos.is_dir() else []
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".citymgmt-backup-") as work:
        dump = Path(work) / "database.dump"
        progress("dumping the database (pg_dump)")
        _run(
            [
                find_binary("pg_dump", pg_bindir()),
                "-Fc",
                "--no-owner",
                "--no-privileges",
                "-f",
                str(dump),
                "-d",
                conninfo,
            ],
            "pg_dump",
        )
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "revision": _revision(conninfo),
            "photos": len(photos),
            "database_bytes": dump.stat().st_size,
        }
        (Path(work) / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        partial = Path(work) / "archive.tar"
        with tarfile.open(partial, "w") as tar:
            tar.add(Path(work) / "manifest.json", arcname="manifest.json")
            tar.add(dump, arcname="database.dump")
            for i, photo in enumerate(photos, 1):
                tar.add(photo, arcname=f"photos/{photo.relative_to(settings.photos).as_posix()}")
                if i % 1000 == 0:
                    progress(f"photos: {i}/{len(photos)}")
        partial.replace(out)
    progress(f"{len(photos)} photos")
    return BackupSummary(out, out.stat().st_size, len(photos), manifest["revision"])  # type: ignore[arg-type]


def _has_cases(conninfo: str) -> bool:
    with psycopg.connect(conninfo) as conn:
        cursor = conn.cursor(row_factory=dict_row)
        exists = cursor.execute(CASES_TABLE_SQL).fetchone()
        if not exists or not exists["present"]:
            return False
        row = cursor.execute(ANY_CASE_SQL).fetchone()
        return bool(row and row["present"])


def restore(
    settings: Settings, archive: Path, replace: bool, progress: Progress, migrations: Path
) -> dict[str, object]:
    """Restore the archive; `migrated_from` in the answer names the older schema revision the caller must upgrade
    from (the database is then at that revision, whole), or is None."""
    conninfo = libpq_conninfo(settings.resolved_database_url())
    if not archive.is_file():
        raise ValidationError(f"no file {archive}", details={"archive": str(archive)})
    with tempfile.TemporaryDirectory(prefix="citymgmt-restore-") as work:
        try:
            with tarfile.open(archive, "r") as tar:
                names = set(tar.getnames())
                if not {"manifest.json", "database.dump"} <= names:
                    raise ValidationError(
                        "not a citymgmt backup: manifest.json or database.dump is missing",
                        details={"archive": str(archive)},
                    )
                tar.extractall(work, filter="data")  # refuses absolute paths, links out, devices
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ValidationError(
                f"the archive cannot be read ({type(exc).__name__})", details={"archive": str(archive)}
            ) from None
        manifest = json.loads((Path(work) / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValidationError(
                f"backup format {manifest.get('format')} is not {FORMAT}", details={"archive": str(archive)}
            )
        older = _schema_check(migrations, manifest.get("revision"))
        if _has_cases(conninfo) and not replace:
            raise ValidationError(
                "the database already holds cases: restore with --replace to overwrite it",
                details={"database": "not empty"},
            )
        # A restore drops and recreates PostGIS and every table under whoever is connected: a connection kept across
        # it cannot match a point to a cell afterwards. So nothing else may be connected.
        others = _other_connections(conninfo)
        if others:
            named = ", ".join(f"{name} ×{count}" for name, count in others.items())
            raise DatabaseInUse(
                f"{sum(others.values())} other connections to the database ({named}): stop the web, worker and"
                " scheduler processes (Ctrl-C on make run) and anything else connected, then restore again",
                details={"connections": others},
            )
        progress("restoring the database (pg_restore, one transaction)")
        # The dump as SQL, run by psql in one transaction after emptying the schema: pg_restore --clean drops only
        # what the dump holds, so a newer schema's objects that depend on them (a foreign key a later migration
        # added to an old table) would stop it half way. The schema emptied inside the same transaction: all or
        # nothing still.
        script = Path(work) / "database.sql"
        _run(
            [
                find_binary("pg_restore", pg_bindir()),
                "--no-owner",
                "--no-privileges",
                "-f",
                str(script),
                str(Path(work) / "database.dump"),
            ],
            "pg_restore",
        )
        prelude = Path(work) / "empty.sql"
        prelude.write_text("DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n", encoding="utf-8")
        _run(
            [
                find_binary("psql", pg_bindir()),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                conninfo,
                "-f",
                str(prelude),
                "-f",
                str(script),
            ],
            "restoring the database",
        )
        restored_photos = 0
        source = Path(work) / "photos"
        if source.is_dir():
            target = settings.photos
            for photo in source.rglob("*"):
                if photo.is_file():
                    destination = target / photo.relative_to(source)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(photo, destination)
                    restored_photos += 1
        progress(f"{restored_photos} photos restored")
    return {
        "revision": manifest.get("revision"),
        "created_at": manifest.get("created_at"),
        "photos": restored_photos,
        "migrated_from": older,
    }
