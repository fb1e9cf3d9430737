"""`citymgmt cases import FILE`: case history (历史案件) from another system's CSV export, in bulk.

The file is streamed into a staging table by PostgreSQL's COPY, whose typed columns check every time and
coordinate as they arrive (a bad one stops the import with its line and column); the rest is checked by a few
set-based statements. The points are matched to their cells by grids.matching.match_cells (a large file over a
city: in this process, on an STRtree of the cells, GEOS's covers as PostGIS's ST_Covers; the smallest code wins on
shared edges), then one INSERT ... SELECT writes the cases and, in the same statement, one `import` event per case
saying who imported it, when, from which file and system. No row is written one by one.

With `--exclusive` the case tables are locked for the import, their secondary indexes and their own foreign keys
are dropped before the cases are written and built again after (each index in one sorted pass, each key checked
in one join): for a first load or a maintenance window, where the per-row upkeep of a dozen indexes and the keys'
per-row checks would cost several times more. It is all in the one transaction, so a refused file leaves them as
they were.

A column mapping (a YAML or JSON file, `--map name=COLUMN` options on top) says which column is which:
`id` (the other system's id, required), `created` (required), `closed`, `category` (required), `lat` and `lon`
(required), `address`, `description`, `status`, `department`. Category values are looked up in the mapping's
`categories` table, else among the current taxonomy's minor categories by code, Chinese or English name;
department values in `departments`, else as department codes; status values in `statuses` (to one of the case
states; without a status column a case with a closed time is closed, the others reported). Times without an offset
are in the mapping's `time_zone` (default: the city's), dates in its `date_order` (MDY, DMY or YMD; default MDY,
as American exports write them).

Idempotent: a case is known by (system, id), `external_system` and `external_id` on cases; rows already imported
are skipped, so importing the same file (or a longer export of the same system) again adds only what is new. One
transaction: a bad row refuses the whole file, naming its line (as a spreadsheet counts, the header being line 1)
and its column. Imported cases keep the other system's status and times; no clock or light runs on them.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
import yaml
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from citymgmt.core.db import driver
from citymgmt.core.errors import ValidationError
from dispatch.cases.models import SOURCES, STATES
from dispatch.components.importer import ImportRefused, Problem
from dispatch.imports.queries import (
    ANALYZE_MATCHED_SQL,
    COPY_MATCHED_SQL,
    COUNT_STAGED_SQL,
    CREATE_MATCHED_SQL,
    DROP_MATCHED_SQL,
    DROP_STAGED_SQL,
    DROP_STAGING_SQL,
    INSERT_SQL,
    LOCK_REBUILT_SQL,
    MATCHED,
    MAX_PROBLEMS,
    RAISE_MAINTENANCE_MEMORY_SQL,
    REBUILT_SQL,
    REBUILT_TABLES,
    SET_TIME_SETTINGS_SQL,
    STAGING,
    TIME_SETTINGS_SQL,
    bad_rows_sql,
    copy_staging_sql,
    count_unlocated_sql,
    create_staging_sql,
    lookup_table_sql,
    outside_cells_sql,
    repeated_ids_sql,
    unmapped_sql,
    unmatched_points_sql,
)
from grids.matching import match_cells

Progress = Callable[[str], None]

FIELDS = ("id", "created", "closed", "category", "lat", "lon", "address", "description", "status", "department")
REQUIRED = ("id", "created", "category", "lat", "lon")
TYPES = {"created": "timestamptz", "closed": "timestamptz", "lat": "float8", "lon": "float8"}
DATE_ORDERS = ("MDY", "DMY", "YMD")
CHUNK = 1 << 20  # bytes sent to COPY at a time
SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


@dataclass
class Mapping_:
    """What the mapping file and options say (see the module's doc)."""

    system: str
    columns: dict[str, str]
    time_zone: str
    date_order: str = "MDY"
    source: str = "hotline"
    categories: dict[str, str] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    already: int = 0  # rows of cases imported before (same system and id)
    skipped_unlocated: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        skipped = f", {self.skipped_unlocated} without coordinates skipped" if self.skipped_unlocated else ""
        return (
            f"{self.rows} rows: {self.imported} cases imported, {self.already} imported before{skipped}"
            f" ({self.seconds:.1f} s)"
        )


def read_mapping(
    path: Path | None, options: Mapping[str, str], default_zone: str, system: str | None = None
) -> Mapping_:
    """The mapping from a YAML/JSON file (optional) with `options` (name → column) and `system` on top."""
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except FileNotFoundError:
            raise ValidationError(f"{path}: no such file", details={"mapping": str(path)}) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValidationError(f"{path}: not a readable mapping ({exc})", details={"mapping": str(path)}) from None
        if not isinstance(loaded, dict):
            raise ValidationError(f"{path}: a mapping file is a YAML or JSON object", details={"mapping": str(path)})
        doc = loaded
    columns = _strings(doc.get("columns") or {}, "columns")
    for name, column in options.items():
        columns[name] = column
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ValidationError(
            f"unknown mapped field {', '.join(unknown)} (fields are: {', '.join(FIELDS)})",
            details={"map": {name: "unknown field" for name in unknown}},
        )
    missing = [name for name in REQUIRED if not columns.get(name)]
    if missing:
        raise ValidationError(
            f"the mapping names no column for {', '.join(missing)} (give them in the file or with --map name=COLUMN)",
            details={"map": {name: "required" for name in missing}},
        )
    system = system or doc.get("system")
    if not isinstance(system, str) or not SYSTEM.match(system):
        raise ValidationError(
            "give the other system's name (--system or `system:` in the mapping): letters, digits, . _ -, at most 40",
            details={"system": system},
        )
    zone = str(doc.get("time_zone") or default_zone)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {zone!r}", details={"time_zone": zone}) from None
    order = str(doc.get("date_order") or "MDY").upper()
    if order not in DATE_ORDERS:
        raise ValidationError(f"date_order must be one of {', '.join(DATE_ORDERS)}", details={"date_order": order})
    source = str(doc.get("source") or "hotline")
    if source not in SOURCES:
        raise ValidationError(f"source must be one of {', '.join(SOURCES)}", details={"source": source})
    statuses = _strings(doc.get("statuses") or {}, "statuses")
    bad = {k: v for k, v in statuses.items() if v not in STATES}
    if bad:
        value = next(iter(bad.values()))
        raise ValidationError(
            f"statuses: {value!r} is not a case state ({', '.join(STATES)})", details={"statuses": bad}
        )
    return Mapping_(
        system,
        columns,
        zone,
        order,
        source,
        _strings(doc.get("categories") or {}, "categories"),
        _strings(doc.get("departments") or {}, "departments"),
        statuses,
    )


def _strings(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str | int) for v in value.values()):
        raise ValidationError(f"{name} in the mapping must be a table of names to names", details={name: "invalid"})
    return {str(k): str(v) for k, v in value.items()}


def import_history(
    session: Session,
    path: Path,
    mapping: Mapping_,
    now: datetime,
    by: str,
    actor_id: int | None = None,
    skip_unlocated: bool = False,
    progress: Progress = print,
    exclusive: bool = False,
) -> ImportResult:
    """Import the file in the caller's transaction (inside a savepoint: a refused file leaves the transaction as
    it was). `by` names who imports (the user, else the operating-system account) for the events. `exclusive`: the
    case tables are locked while the cases are written without their secondary indexes and foreign keys, which are
    built again afterwards (`_rebuilt_afterwards`): for a first load, or a maintenance window."""
    started = time.perf_counter()
    header = _header(path)
    positions = _check_columns(header, mapping, path)
    with session.begin_nested():
        result = _import(
            session, path, header, positions, mapping, now, by, actor_id, skip_unlocated, progress, exclusive
        )
    result.seconds = time.perf_counter() - started
    return result


def _header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            first = next(csv.reader(f), None)
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file", details={"file": str(path)}) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(f"{path}: not a readable UTF-8 CSV file ({exc})", details={"file": str(path)}) from None
    if not first or not any(h.strip() for h in first):
        raise ValidationError(f"{path}: empty file, expected a header line", details={"file": str(path)})
    return [h.strip() for h in first]


def _check_columns(header: list[str], mapping: Mapping_, path: Path) -> dict[str, int]:
    repeated = sorted({h for h in header if header.count(h) > 1 and h})
    if repeated:
        raise ValidationError(
            f"{path}: line 1: column {', '.join(repeated)} given twice", details={"line": 1, "columns": repeated}
        )
    positions: dict[str, int] = {}
    missing = {}
    for name, column in mapping.columns.items():
        if column in header:
            positions[name] = header.index(column)
        else:
            missing[column] = f"no such column (mapped as {name})"
    if missing:
        listed = ", ".join(f"{c} ({why})" for c, why in missing.items())
        raise ValidationError(
            f"{path}: line 1: {listed}; the columns are: {', '.join(header)}", details={"line": 1, "columns": missing}
        )
    return positions


def _import(
    session: Session,
    path: Path,
    header: list[str],
    positions: dict[str, int],
    mapping: Mapping_,
    now: datetime,
    by: str,
    actor_id: int | None,
    skip_unlocated: bool,
    progress: Progress,
    exclusive: bool = False,
) -> ImportResult:
    by_position = {i: name for name, i in positions.items()}
    # Staging columns: c0, c1, ... in file order (typed where mapped to a time or coordinate), and the line.
    columns = [f"c{i} {TYPES.get(by_position.get(i, ''), 'text')}" for i in range(len(header))]
    session.execute(text(DROP_STAGING_SQL))
    session.execute(text(create_staging_sql(columns)))
    col = {name: f"c{i}" for name, i in positions.items()}
    _copy(session, path, header, col, mapping, progress)
    rows = session.execute(text(COUNT_STAGED_SQL)).scalar_one()
    if rows == 0:
        raise ValidationError(f"{path}: no rows after the header", details={"file": str(path)})
    progress(f"{rows} rows read; checking")
    _check_rows(session, col, mapping, skip_unlocated)
    result = ImportResult(rows=rows)
    if skip_unlocated:
        result.skipped_unlocated = session.execute(text(count_unlocated_sql(col["lat"], col["lon"]))).scalar_one()
    progress("matching cells")
    with _rebuilt_afterwards(session, progress) if exclusive else nullcontext():
        result.imported = _insert(session, col, mapping, now, by, actor_id, path.name, progress, exclusive)
    result.already = rows - result.skipped_unlocated - result.imported
    session.execute(text(DROP_STAGED_SQL))
    session.execute(text(DROP_MATCHED_SQL))
    return result


def _copy(
    session: Session, path: Path, header: list[str], col: dict[str, str], mapping: Mapping_, progress: Progress
) -> None:
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    total = path.stat().st_size
    names = ", ".join(f"c{i}" for i in range(len(header)))
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        # How the file writes its times, for this COPY only (restored below: the session's own stay as they were).
        cursor.execute(TIME_SETTINGS_SQL)
        saved_zone, saved_style = cursor.fetchone()
        cursor.execute(SET_TIME_SETTINGS_SQL, {"zone": mapping.time_zone, "style": f"ISO, {mapping.date_order}"})
        sent, step, shown = 0, max(total // 10, CHUNK), 0
        try:
            with (
                path.open("rb") as f,
                cursor.copy(copy_staging_sql(names)) as copy,
            ):
                while chunk := f.read(CHUNK):
                    copy.write(chunk)
                    sent += len(chunk)
                    if sent - shown >= step and sent < total:
                        shown = sent
                        progress(f"read {sent / 1e6:.0f} of {total / 1e6:.0f} MB")
        except psycopg.errors.DataError as exc:
            raise _copy_problem(exc, header, col, mapping.date_order) from None
        finally:
            if connection.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                cursor.execute(SET_TIME_SETTINGS_SQL, {"zone": saved_zone, "style": saved_style})


COPY_CONTEXT = re.compile(r"line (\d+)(?:, column c(\d+))?(?:: \"(.*)\")?", re.DOTALL)
TIME_ERRORS = (psycopg.errors.InvalidDatetimeFormat, psycopg.errors.DatetimeFieldOverflow)


def _copy_problem(exc: psycopg.Error, header: list[str], col: dict[str, str], order: str) -> ImportRefused:
    """The line and column COPY stopped at, said in the file's terms."""
    context = exc.diag.context or ""
    found = COPY_CONTEXT.search(context)
    line = found.group(1) if found else "?"
    column = header[int(found.group(2))] if found and found.group(2) else None
    value = found.group(3) if found and found.group(3) is not None else None
    name = next((n for n, c in col.items() if found and found.group(2) and c == f"c{found.group(2)}"), None)
    if isinstance(exc, TIME_ERRORS) or (name in ("created", "closed")):
        reason = f"{value!r} is not a date and time (read with the date order {order})"
    elif name in ("lat", "lon"):
        reason = f"{value!r} is not a number"
    else:
        reason = (exc.diag.message_primary or str(exc)).split("\n")[0]
        reason = re.sub(
            r"\bc(\d+)\b", lambda m: header[int(m.group(1))] if int(m.group(1)) < len(header) else m.group(0), reason
        )
    return ImportRefused([Problem(f"line {line}", None, column, reason)])


# What a row of the case tables costs to keep up as it is written (the secondary indexes, the foreign keys' checks)
# is, for a load the size of the tables, several times what building them once afterwards costs. Unique indexes stay
# (they answer the import's own "already imported?" and guard the codes); so do the keys of other tables that point
# at these, and the triggers.
REBUILD_MEMORY = "1GB"


@contextmanager
def _rebuilt_afterwards(session: Session, progress: Progress) -> Iterator[None]:
    """Lock the case tables, drop their secondary indexes and their own foreign keys, and make them again once the
    rows are written: each index built in one sorted pass, each key checked in one join (a bad row would refuse the
    whole import as the per-row check would). All in the caller's transaction: a refused import restores them."""
    session.execute(text(LOCK_REBUILT_SQL))
    # Each build sorts a table's keys once: in memory, up to REBUILD_MEMORY, rather than in runs on disk (PostgreSQL's
    # advice for bulk loading); a server configured for more keeps its own.
    session.execute(text(RAISE_MAINTENANCE_MEMORY_SQL), {"mem": REBUILD_MEMORY})
    found = session.execute(text(REBUILT_SQL), {"tables": list(REBUILT_TABLES)}).all()
    for drop, _ in found:
        session.execute(text(drop))
    yield
    started = time.perf_counter()
    for n, (_, make) in enumerate(sorted(found, key=lambda r: "FOREIGN KEY" in r[1]), 1):
        session.execute(text(make))
        progress(f"index or key {n}/{len(found)} built again ({time.perf_counter() - started:.0f} s)")


def _check_rows(session: Session, col: dict[str, str], mapping: Mapping_, skip_unlocated: bool) -> None:
    problems: list[Problem] = []
    ident, lat, lon = col["id"], col["lat"], col["lon"]
    c = mapping.columns
    checks = [
        (f"{ident} IS NULL OR btrim({ident}) = ''", c["id"], "missing"),
        (f"length({ident}) > 100", c["id"], "longer than 100 characters"),
        (f"{col['created']} IS NULL", c["created"], "missing"),
        (f"{col['category']} IS NULL", c["category"], "missing"),
        (f"{lat} NOT BETWEEN -90 AND 90", c["lat"], "out of range (-90 to 90); are latitude and longitude swapped?"),
        (f"{lon} NOT BETWEEN -180 AND 180", c["lon"], "out of range (-180 to 180)"),
        (f"{lat} = 'NaN' OR {lon} = 'NaN'", c["lat"], "not a number"),
    ]
    if "closed" in col:
        checks.append((f"{col['closed']} < {col['created']}", c["closed"], f"before {c['created']}"))
    for name in ("address", "description"):
        if name in col:
            limit = 200 if name == "address" else 5000
            checks.append((f"length({col[name]}) > {limit}", c[name], f"longer than {limit} characters"))
    if not skip_unlocated:
        checks += [
            (f"{lat} IS NULL", c["lat"], "missing (give --skip-unlocated to leave such rows out)"),
            (f"{lon} IS NULL", c["lon"], "missing (give --skip-unlocated to leave such rows out)"),
        ]
    # One scan for all of them: the first failing check of each bad row, in line order.
    cases = " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in enumerate(checks))
    for line, external, which in session.execute(text(bad_rows_sql(ident, cases))):
        problems.append(Problem(f"line {line}", external, checks[which][1], checks[which][2]))
    for external, first, again in session.execute(text(repeated_ids_sql(ident))):
        problems.append(Problem(f"line {again}", external, c["id"], f"repeated (first at line {first})"))
    for name, sql in _lookups(col, mapping).items():
        for value, first, count in session.execute(text(sql[0]), sql[1]):
            more = f" (and {count - 1} more rows)" if count > 1 else ""
            problems.append(Problem(f"line {first}", None, c[name], f"{value!r}: {sql[2]}{more}"))
    if problems:
        problems.sort(key=lambda p: int(p.where.split()[1]))
        raise ImportRefused(problems[:MAX_PROBLEMS], len(problems))


def _lookups(col: dict[str, str], mapping: Mapping_) -> dict[str, tuple[str, dict[str, Any], str]]:
    """For category, department and status: the values nothing maps, with their first line and count."""
    out = {}
    for name, reason in (
        ("category", "no such category in the current taxonomy or the mapping's categories"),
        ("department", "no such department code and not in the mapping's departments"),
        ("status", "not in the mapping's statuses"),
    ):
        if name in col:
            out[name] = (
                unmapped_sql(col[name], lookup_table_sql(name)),
                _table_params(name, mapping),
                reason,
            )
    return out


def _table_params(name: str, mapping: Mapping_) -> dict[str, Any]:
    table = {"category": mapping.categories, "department": mapping.departments, "status": mapping.statuses}[name]
    return {"keys": list(table), "targets": list(table.values())}


def _match(session: Session, col: dict[str, str], system: str, progress: Progress) -> None:
    """Match the points of the lines not imported before to their cells (grids.matching.match_cells: for a large
    file, in this process on the extent's cells; the smallest code wins on shared edges) into MATCHED."""
    lon, lat, ident = col["lon"], col["lat"], col["id"]
    rows = driver(session).execute(unmatched_points_sql(lon, lat, ident), {"system": system}).fetchall()
    session.execute(text(DROP_MATCHED_SQL))
    session.execute(text(CREATE_MATCHED_SQL))
    if not rows:
        return
    lines, lons, lats = zip(*rows, strict=True)
    started = time.perf_counter()
    cells = match_cells(session, lons, lats)
    progress(f"{len(cells)} points matched to cells in {time.perf_counter() - started:.1f} s; writing cases")
    with driver(session).raw.cursor().copy(COPY_MATCHED_SQL) as copy:
        for line, cell in zip(lines, cells, strict=True):
            if cell is not None:
                copy.write_row((line, cell))
    session.execute(text(ANALYZE_MATCHED_SQL))


def _insert(
    session: Session,
    col: dict[str, str],
    mapping: Mapping_,
    now: datetime,
    by: str,
    actor: int | None,
    file: str,
    progress: Progress,
    exclusive: bool = False,
) -> int:
    params: dict[str, Any] = {
        "system": mapping.system,
        "source": mapping.source,
        "now": now,
        "by": by,
        "actor": actor,
        "file": file,
        "city_zone": mapping.time_zone,
    }
    joins = []
    department = "NULL"
    if "department" in col:
        joins.append(f"LEFT JOIN ({lookup_table_sql('department')}) dep ON dep.value = n.{col['department']}")
        department = "dep.target"
        params |= _table_params("department", mapping)
    closed = f"n.{col['closed']}" if "closed" in col else "NULL::timestamptz"
    if "status" in col:
        joins.append(
            f"LEFT JOIN ({lookup_table_sql('status')}) st ON st.value = n.{col['status']}".replace(
                ":keys", ":status_keys"
            ).replace(":targets", ":status_targets")
        )
        st = _table_params("status", mapping)
        params |= {"status_keys": st["keys"], "status_targets": st["targets"]}
        status = f"coalesce(st.target, CASE WHEN {closed} IS NULL THEN 'reported' ELSE 'closed' END)"
    else:
        status = f"CASE WHEN {closed} IS NULL THEN 'reported' ELSE 'closed' END"
    categories = (
        lookup_table_sql("category").replace(":keys", ":category_keys").replace(":targets", ":category_targets")
    )
    cat = _table_params("category", mapping)
    params |= {"category_keys": cat["keys"], "category_targets": cat["targets"]}
    sql = INSERT_SQL.format(
        staging=STAGING,
        matched=MATCHED,
        lon=col["lon"],
        lat=col["lat"],
        id=col["id"],
        created=f"n.{col['created']}",
        category=col["category"],
        description=f"coalesce(n.{col['description']}, '')" if "description" in col else "''",
        address=f"left(n.{col['address']}, 200)" if "address" in col else "NULL",
        department=department,
        status=status,
        closed_at=f"CASE WHEN {status} IN ('closed', 'cancelled')"
        f" THEN coalesce({closed}, CAST(:now AS timestamptz)) END",
        categories=categories,
        joins="\n    ".join(joins),
        # Another import of the same system may be writing its cases meanwhile; it cannot when the tables are locked,
        # and the checks refused a file naming a case twice: no conflict to look for row by row, which costs a
        # speculative insertion (an index probe and a second WAL record) per case.
        on_conflict="" if exclusive else "ON CONFLICT ON CONSTRAINT uq_cases_external DO NOTHING",
    )
    _match(session, col, mapping.system, progress)
    try:
        with session.begin_nested():
            return int(session.execute(text(sql), params).scalar_one())
    except DBAPIError as exc:
        if not isinstance(exc.orig, psycopg.errors.NotNullViolation) or "cell_code" not in str(exc.orig):
            raise
    # Some point has no cell: say which (the happy path never pays for this second spatial pass).
    outside = session.execute(text(outside_cells_sql(col["id"], col["lat"], col["lon"]))).all()
    raise ImportRefused(
        [
            Problem(f"line {line}", external, mapping.columns["lat"], "the point is outside every grid cell")
            for line, external in outside
        ]
    )
