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
    CLOSED_GIVEN_PAYLOAD,
    COPY_MATCHED_SQL,
    COUNT_STAGED_SQL,
    CREATE_MATCHED_SQL,
    DROP_MATCHED_SQL,
    DROP_STAGED_SQL,
    DROP_STAGING_SQL,
    FIXED_IMPORTED_SQL,
    INSERT_SQL,
    LOCK_REBUILT_SQL,
    MARK_OUTSIDE_SQL,
    MATCHED,
    MAX_PROBLEMS,
    NUMBER_READER_SQL,
    RAISE_MAINTENANCE_MEMORY_SQL,
    REBUILT_SQL,
    REBUILT_TABLES,
    REJECT_COUNTS_SQL,
    REJECTED_LINES_SQL,
    SET_TIME_SETTINGS_SQL,
    STAGING,
    TIME_READER_SQL,
    TIME_SETTINGS_SQL,
    cast_sql,
    closed_given_join,
    copy_staging_sql,
    count_unlocated_sql,
    create_staging_sql,
    fix_closed_sql,
    located_sql,
    lookup_table_sql,
    mark_checks_sql,
    mark_repeated_sql,
    mark_unmapped_sql,
    reject_kinds_sql,
    retype_sql,
    unmatched_points_sql,
    unreadable_sql,
)
from grids.matching import match_cells, nearest_cells_within

Progress = Callable[[str], None]

FIELDS = (
    "id", "created", "closed", "category", "lat", "lon", "address", "description", "status", "department", "source",
)  # fmt: skip
REQUIRED = ("id", "created", "category", "lat", "lon")
TYPES = {"created": "timestamptz", "closed": "timestamptz", "lat": "float8", "lon": "float8"}
DATE_ORDERS = ("MDY", "DMY", "YMD")
CHUNK = 1 << 20  # bytes sent to COPY at a time
SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
CLOSED_BEFORE_CREATED = ("fix", "refuse")  # a closed time before the created time: set to it, or refuse the row
MAX_SNAP_M = 1000.0
REASON_COLUMN = "reason"  # the rejects file's added column (`import_reason` when the file has a `reason` already)


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
    sources: dict[str, str] = field(default_factory=dict)  # a source column's values → case sources


@dataclass
class ImportOptions:
    """How the import treats rows it cannot take as they are (see import_history)."""

    skip_unlocated: bool = False  # leave out rows with no point (empty or 0, 0) instead of refusing them
    rejects: Path | None = None  # import the good rows and write the refused ones here (else: all or nothing)
    snap_within: float | None = None  # attach points outside every cell to the nearest one this many metres away
    closed_before_created: str = "fix"  # fix: closed at the created time (counted, the event says); refuse
    exclusive: bool = False

    def validate(self) -> None:
        if self.closed_before_created not in CLOSED_BEFORE_CREATED:
            raise ValidationError(
                f"closed_before_created must be one of {', '.join(CLOSED_BEFORE_CREATED)}",
                details={"closed_before_created": self.closed_before_created},
            )
        if self.snap_within is not None and not 0 < self.snap_within <= MAX_SNAP_M:
            raise ValidationError(
                f"--snap-within: {self.snap_within:g} is not more than 0 and at most {MAX_SNAP_M:g} metres",
                details={"snap_within": self.snap_within},
            )


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    already: int = 0  # rows of cases imported before (same system and id)
    skipped_unlocated: int = 0
    skipped_at_zero: int = 0  # of which at (0, 0)
    closed_fixed: int = 0  # closed before created: closed set to created
    snapped: int = 0  # points outside every cell attached to the nearest
    snapped_max_m: float = 0.0
    rejected: int = 0
    rejects: Path | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.rows:,} rows: {self.imported:,} cases imported", f"{self.already:,} imported before"]
        if self.skipped_unlocated:
            zero = f" ({self.skipped_at_zero:,} at 0, 0)" if self.skipped_at_zero else ""
            parts.append(f"{self.skipped_unlocated:,} without coordinates skipped{zero}")
        if self.closed_fixed:
            parts.append(f"{self.closed_fixed:,} closed before created: closed set to created")
        if self.snapped:
            parts.append(
                f"{self.snapped:,} points outside the grid attached to the nearest cell"
                f" (at most {self.snapped_max_m:,.0f} m away)"
            )
        if self.rejects is not None:
            parts.append(f"{self.rejected:,} refused, written to {self.rejects}")
        return f"{', '.join(parts)} ({self.seconds:.1f} s)"


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
    sources = _strings(doc.get("sources") or {}, "sources")
    bad = {k: v for k, v in sources.items() if v not in SOURCES}
    if bad:
        value = next(iter(bad.values()))
        raise ValidationError(f"sources: {value!r} is not a source ({', '.join(SOURCES)})", details={"sources": bad})
    return Mapping_(
        system,
        columns,
        zone,
        order,
        source,
        _strings(doc.get("categories") or {}, "categories"),
        _strings(doc.get("departments") or {}, "departments"),
        statuses,
        sources,
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
    options: ImportOptions | None = None,
) -> ImportResult:
    """Import the file in the caller's transaction (inside a savepoint: a refused file leaves the transaction as
    it was). `by` names who imports (the user, else the operating-system account) for the events. `exclusive`: the
    case tables are locked while the cases are written without their secondary indexes and foreign keys, which are
    built again afterwards (`_rebuilt_afterwards`): for a first load, or a maintenance window. `options` (over
    `skip_unlocated` and `exclusive`): with `rejects` the good rows are imported and the refused ones written to that
    file with their reason, rather than the whole file refused."""
    options = options or ImportOptions(skip_unlocated=skip_unlocated, exclusive=exclusive)
    options.validate()
    started = time.perf_counter()
    header = _header(path)
    positions = _check_columns(header, mapping, path)
    with session.begin_nested():
        result = _import(session, path, header, positions, mapping, now, by, actor_id, options, progress)
    if options.rejects is not None:
        _write_rejects(session, path, options.rejects, result)
    session.execute(text(DROP_STAGED_SQL))
    result.seconds = time.perf_counter() - started
    return result


class RowsRefused(ImportRefused):
    """The file refused whole (no --rejects): its problems by kind, first line first, and how many rows have one."""

    def __init__(self, problems: list[Problem], kinds: int, refused: int, rows: int) -> None:
        shown = "\n".join(f"  {p}" for p in problems)
        of = f"{len(problems)} of {kinds:,} kinds shown" if kinds > len(problems) else f"{kinds:,} kind(s)"
        ValidationError.__init__(
            self,
            f"import refused, nothing was changed: {refused:,} of {rows:,} rows have a problem ({of}; --rejects FILE"
            f" imports the other rows and writes these to FILE):\n{shown}",
            details={
                "problems": [p.as_dict() for p in problems],
                "total": kinds,
                "rows": rows,
                "refused_rows": refused,
            },
        )
        self.problems = problems
        self.total = kinds


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
    options: ImportOptions,
    progress: Progress,
) -> ImportResult:
    by_position = {i: name for name, i in positions.items()}
    keep_going = options.rejects is not None
    # Staging columns: c0, c1, ... in file order, and the line. All or nothing: typed where mapped to a time or
    # coordinate, so that COPY checks them as they arrive (a bad one stops it). With --rejects: all text, read as
    # times and numbers afterwards, a value that is neither refusing its row only.
    typed = {} if keep_going else TYPES
    columns = [f"c{i} {typed.get(by_position.get(i, ''), 'text')}" for i in range(len(header))]
    session.execute(text(DROP_STAGING_SQL))
    session.execute(text(create_staging_sql(columns)))
    col = {name: f"c{i}" for name, i in positions.items()}
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    with connection.cursor() as cursor, _file_times(cursor, mapping):  # type: ignore[attr-defined]
        _copy(cursor, path, header, col, mapping, progress)
        if keep_going:
            _read_typed(session, col, mapping)
    rows = session.execute(text(COUNT_STAGED_SQL)).scalar_one()
    if rows == 0:
        raise ValidationError(f"{path}: no rows after the header", details={"file": str(path)})
    progress(f"{rows:,} rows read; checking")
    result = ImportResult(rows=rows, rejects=options.rejects)
    if "closed" in col and options.closed_before_created == "fix":
        result.closed_fixed = session.execute(text(fix_closed_sql(col["closed"], col["created"]))).rowcount  # type: ignore[attr-defined]
    _mark_rows(session, col, mapping, options.skip_unlocated)
    if not keep_going:
        _refuse_if_any(session, col, rows)
    if options.skip_unlocated:
        result.skipped_unlocated, result.skipped_at_zero = session.execute(
            text(count_unlocated_sql(col["lat"], col["lon"]))
        ).one()
    progress("matching cells")
    result.snapped, result.snapped_max_m, outside = _match(session, col, mapping.system, options.snap_within, progress)
    if outside:
        session.execute(text(MARK_OUTSIDE_SQL), {"lines": outside, "column": mapping.columns["lat"], "reason": OUTSIDE})
    if not keep_going:
        _refuse_if_any(session, col, rows)
    if keep_going:  # all or nothing has refused the file if it had any
        result.rejected = session.execute(text(REJECT_COUNTS_SQL)).one()[0]
    with _rebuilt_afterwards(session, progress) if options.exclusive else nullcontext():
        result.imported = _insert(
            session, col, mapping, now, by, actor_id, path.name, options.exclusive, result.closed_fixed > 0
        )
    if result.closed_fixed:  # those imported now (not refused, nor imported before)
        result.closed_fixed = session.execute(text(FIXED_IMPORTED_SQL)).scalar_one()
    result.already = rows - result.skipped_unlocated - result.rejected - result.imported
    session.execute(text(DROP_MATCHED_SQL))
    return result


OUTSIDE = "the point is outside every grid cell"


@contextmanager
def _file_times(cursor: Any, mapping: Mapping_) -> Iterator[None]:
    """How the file writes its times (its zone and date order), for reading it; the session's own restored after."""
    cursor.execute(TIME_SETTINGS_SQL)
    saved_zone, saved_style = cursor.fetchone()
    cursor.execute(SET_TIME_SETTINGS_SQL, {"zone": mapping.time_zone, "style": f"ISO, {mapping.date_order}"})
    try:
        yield
    finally:
        if cursor.connection.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            cursor.execute(SET_TIME_SETTINGS_SQL, {"zone": saved_zone, "style": saved_style})


def _copy(
    cursor: Any, path: Path, header: list[str], col: dict[str, str], mapping: Mapping_, progress: Progress
) -> None:
    total = path.stat().st_size
    names = ", ".join(f"c{i}" for i in range(len(header)))
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


def _read_typed(session: Session, col: dict[str, str], mapping: Mapping_) -> None:
    """A file staged as text (--rejects): refuse the rows whose times or coordinates cannot be read, then make those
    columns the types the checks and the insert expect (in the file's time settings, which the caller has set).
    A column that reads whole is converted in one statement; only one holding something unreadable pays for
    reading its values one by one."""
    readers = False
    for name, kind in TYPES.items():
        if name not in col:
            continue
        try:
            with session.begin_nested():
                session.execute(text(cast_sql(col[name], kind)))
            continue
        except DBAPIError as exc:
            if not isinstance(exc.orig, psycopg.errors.DataError):
                raise
        if not readers:
            session.execute(text(TIME_READER_SQL))
            session.execute(text(NUMBER_READER_SQL))
            readers = True
        reason = f" is not a date and time (read with the date order {mapping.date_order})"
        if kind != "timestamptz":
            reason = " is not a number"
        session.execute(text(unreadable_sql(col[name], kind)), {"column": mapping.columns[name], "reason": reason})
        session.execute(text(retype_sql(col[name], kind)))


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
    return ImportRefused(
        [Problem(f"line {line}", None, column, reason)],
        heading="import refused at the first unreadable value, nothing was changed (COPY stops there; --rejects"
        " FILE reads every row, imports the good ones and writes such rows to FILE)",
    )


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


def _mark_rows(session: Session, col: dict[str, str], mapping: Mapping_, skip_unlocated: bool) -> None:
    """Mark each bad row with its first problem (its column and reason), in a few set-based statements."""
    ident, lat, lon = col["id"], col["lat"], col["lon"]
    c = mapping.columns
    unlocated = "" if skip_unlocated else " (give --skip-unlocated to leave such rows out)"
    checks = [
        (f"{ident} IS NULL OR btrim({ident}) = ''", c["id"], "missing"),
        (f"length({ident}) > 100", c["id"], "longer than 100 characters"),
        (f"{col['created']} IS NULL", c["created"], "missing"),
        (f"{col['category']} IS NULL", c["category"], "missing"),
        (f"{lat} NOT BETWEEN -90 AND 90", c["lat"], "out of range (-90 to 90); are latitude and longitude swapped?"),
        (f"{lon} NOT BETWEEN -180 AND 180", c["lon"], "out of range (-180 to 180)"),
        (f"{lat} = 'NaN' OR {lon} = 'NaN'", c["lat"], "not a number"),
    ]
    if "closed" in col:  # none left when they were fixed
        checks.append((f"{col['closed']} < {col['created']}", c["closed"], f"before {c['created']}"))
    for name in ("address", "description"):
        if name in col:
            limit = 200 if name == "address" else 5000
            checks.append((f"length({col[name]}) > {limit}", c[name], f"longer than {limit} characters"))
    if not skip_unlocated:
        checks += [
            (f"{lat} IS NULL", c["lat"], f"missing{unlocated}"),
            (f"{lon} IS NULL", c["lon"], f"missing{unlocated}"),
            (f"NOT {located_sql(lat, lon)}", c["lat"], f"0, 0 is no location{unlocated}"),
        ]
    cases = " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in enumerate(checks, 1))
    scope = located_sql(lat, lon) if skip_unlocated else "true"  # rows left out are not checked
    session.execute(
        text(mark_checks_sql(cases, scope)), {"columns": [k[1] for k in checks], "reasons": [k[2] for k in checks]}
    )
    session.execute(text(mark_repeated_sql(ident, scope)), {"column": c["id"]})
    for name, (table, params, reason) in _lookups(col, mapping).items():
        session.execute(
            text(mark_unmapped_sql(col[name], table, scope)), {**params, "column": c[name], "reason": reason}
        )


def _refuse_if_any(session: Session, col: dict[str, str], rows: int) -> None:
    refused, kinds = session.execute(text(REJECT_COUNTS_SQL)).one()
    if not refused:
        return
    problems = []
    for column, reason, line, external, count in session.execute(text(reject_kinds_sql(col["id"]))):
        more = f" (and {count - 1:,} more rows)" if count > 1 else ""
        problems.append(Problem(f"line {line}", external, column, f"{reason}{more}"))
    raise RowsRefused(problems[:MAX_PROBLEMS], kinds, refused, rows)


def _lookups(col: dict[str, str], mapping: Mapping_) -> dict[str, tuple[str, dict[str, Any], str]]:
    """For category, department, status and source: the (value, target) table, its parameters, and the reason a
    value it does not map is refused."""
    out = {}
    for name, reason in (
        ("category", "no such category in the current taxonomy or the mapping's categories"),
        ("department", "no such department code and not in the mapping's departments"),
        ("status", "not in the mapping's statuses"),
        ("source", f"not a source ({', '.join(SOURCES)}) and not in the mapping's sources"),
    ):
        if name in col:
            out[name] = (lookup_table_sql(name), _table_params(name, mapping), reason)
    return out


def _table_params(name: str, mapping: Mapping_) -> dict[str, Any]:
    table = {
        "category": mapping.categories,
        "department": mapping.departments,
        "status": mapping.statuses,
        "source": mapping.sources,
    }[name]
    params: dict[str, Any] = {"keys": list(table), "targets": list(table.values())}
    if name == "source":
        params["sources"] = list(SOURCES)
    return params


def _match(
    session: Session, col: dict[str, str], system: str, snap_within: float | None, progress: Progress
) -> tuple[int, float, list[int]]:
    """Match the points of the good lines not imported before to their cells (grids.matching.match_cells: for a
    large file, in this process on the extent's cells; the smallest code wins on shared edges) into MATCHED; with
    `snap_within`, a point no cell covers goes to the nearest cell within that many metres. The points attached so,
    the farthest of them, and the lines whose points no cell took."""
    lon, lat, ident = col["lon"], col["lat"], col["id"]
    rows = driver(session).execute(unmatched_points_sql(lon, lat, ident), {"system": system}).fetchall()
    session.execute(text(DROP_MATCHED_SQL))
    session.execute(text(CREATE_MATCHED_SQL))
    if not rows:
        return 0, 0.0, []
    lines, lons, lats = zip(*rows, strict=True)
    started = time.perf_counter()
    cells = match_cells(session, lons, lats)
    progress(f"{len(cells):,} points matched to cells in {time.perf_counter() - started:.1f} s; writing cases")
    snapped: dict[int, tuple[str, float]] = {}
    outside = [i for i, cell in enumerate(cells) if cell is None]
    if snap_within is not None and outside:
        near = nearest_cells_within(session, [lons[i] for i in outside], [lats[i] for i in outside], snap_within)
        snapped = {i: found for i, found in zip(outside, near, strict=True) if found is not None}
    with driver(session).raw.cursor().copy(COPY_MATCHED_SQL) as copy:
        for i, (line, cell) in enumerate(zip(lines, cells, strict=True)):
            if cell is not None:
                copy.write_row((line, cell, None))
            elif i in snapped:
                copy.write_row((line, snapped[i][0], snapped[i][1]))
    session.execute(text(ANALYZE_MATCHED_SQL))
    unplaced = [int(lines[i]) for i in outside if i not in snapped]
    return len(snapped), max((m for _, m in snapped.values()), default=0.0), unplaced


def _insert(
    session: Session,
    col: dict[str, str],
    mapping: Mapping_,
    now: datetime,
    by: str,
    actor: int | None,
    file: str,
    exclusive: bool = False,
    closed_fixed: bool = False,
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
    source = ":source"
    if "source" in col:
        joins.append(
            f"LEFT JOIN ({lookup_table_sql('source')}) src ON src.value = n.{col['source']}".replace(
                ":keys", ":source_keys"
            ).replace(":targets", ":source_targets")
        )
        src = _table_params("source", mapping)
        params |= {"source_keys": src["keys"], "source_targets": src["targets"], "sources": src["sources"]}
        source = "coalesce(src.target, :source)"  # a blank value: the file's source
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
        located=located_sql(f"r.{col['lat']}", f"r.{col['lon']}"),
        lon=col["lon"],
        lat=col["lat"],
        id=col["id"],
        created=f"n.{col['created']}",
        category=col["category"],
        description=f"coalesce(n.{col['description']}, '')" if "description" in col else "''",
        address=f"left(n.{col['address']}, 200)" if "address" in col else "NULL",
        department=department,
        source=source,
        status=status,
        closed_at=f"CASE WHEN {status} IN ('closed', 'cancelled')"
        f" THEN coalesce({closed}, CAST(:now AS timestamptz)) END",
        categories=categories,
        joins="\n    ".join(joins),
        # Another import of the same system may be writing its cases meanwhile; it cannot when the tables are locked,
        # and the checks refused a file naming a case twice: no conflict to look for row by row, which costs a
        # speculative insertion (an index probe and a second WAL record) per case.
        on_conflict="" if exclusive else "ON CONFLICT ON CONSTRAINT uq_cases_external DO NOTHING",
        # Only a file with closed times set to the created time pays for finding their rows again.
        given=CLOSED_GIVEN_PAYLOAD if closed_fixed else "",
        given_join=closed_given_join(col["id"]) if closed_fixed else "",
    )
    return int(session.execute(text(sql), params).scalar_one())


def _write_rejects(session: Session, path: Path, rejects: Path, result: ImportResult) -> None:
    """The refused lines of `path`, as they were, with a reason column, into `rejects` (the header alone if none).
    Lines are counted as the staging counted them: records of the CSV, the header being line 1."""
    reasons = {line: f"{column}: {reason}" for line, column, reason in session.execute(text(REJECTED_LINES_SQL))}
    try:
        with (
            path.open(encoding="utf-8-sig", newline="") as source,
            rejects.open("w", encoding="utf-8", newline="") as out,
        ):
            reader, writer = csv.reader(source), csv.writer(out)
            header = next(reader)
            writer.writerow([*header, "import_reason" if REASON_COLUMN in header else REASON_COLUMN])
            for line, record in enumerate(reader, 2):
                if line in reasons:
                    writer.writerow([*record, reasons[line]])
    except OSError as exc:
        raise ValidationError(
            f"--rejects {rejects}: cannot write it ({exc.strerror}); nothing was imported",
            details={"rejects": str(rejects)},
        ) from None
