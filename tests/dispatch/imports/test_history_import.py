"""`citymgmt cases import`: case history in the LA 311 shape, in bulk through COPY, onto the demo city's cells."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.errors import ValidationError
from dispatch.components.importer import ImportRefused
from dispatch.imports.history import ImportOptions, import_history, read_mapping
from grids.matching import match_cell

pytestmark = pytest.mark.usefixtures("beijing")

HEADER = ["SRNumber", "CreatedDate", "ClosedDate", "Owner", "RequestType", "Status", "Address", "Latitude", "Longitude"]
FORBIDDEN_CITY = (116.3972, 39.9169)  # Dongcheng
RAILWAY_STATION = (116.4270, 39.9030)  # Dongcheng
BEIHAI = (116.3830, 39.9250)  # Xicheng
MAPPING = """
system: {system}
time_zone: Asia/Shanghai
columns: {{id: SRNumber, created: CreatedDate, closed: ClosedDate, category: RequestType, lat: Latitude,
          lon: Longitude, address: Address, status: Status, department: Owner}}
categories: {{Sewer cover: C0102}}
departments: {{WATER: bj-water}}
statuses: {{Closed: closed, Cancelled: cancelled, Open: dispatched}}
"""


def rows(system: str) -> list[list[str]]:
    lon1, lat1 = FORBIDDEN_CITY
    lon2, lat2 = RAILWAY_STATION
    lon3, lat3 = BEIHAI
    return [
        [f"{system}-1", "11/20/2026 09:15:00 AM", "11/21/2026 10:00:00 AM", "WATER", "Sewer cover", "Closed",
         "景山前街4号", str(lat1), str(lon1)],
        [f"{system}-2", "11/21/2026 11:59:58 PM", "", "bj-water", "C0101", "Open", "", str(lat2), str(lon2)],
        [f"{system}-3", "2026-11-22 08:00", "", "", "雨水井盖", "", "文津街", str(lat3), str(lon3)],
    ]  # fmt: skip


def write(path: Path, data: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(data)
    return path


def mapping(tmp_path: Path, system: str) -> Any:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING.format(system=system), encoding="utf-8")
    return read_mapping(path, {}, "Asia/Shanghai")


def run(db_session: Session, tmp_path: Path, file: Path, system: str, **kwargs: Any) -> Any:
    lines: list[str] = []
    result = import_history(
        db_session, file, mapping(tmp_path, system), datetime(2026, 11, 23, 1, 30, tzinfo=UTC), "t-importer",
        progress=lines.append, **kwargs,
    )  # fmt: skip
    return result, lines


def imported(db_session: Session, system: str) -> list[Any]:
    return db_session.execute(
        text(
            "SELECT external_id, status, category_code, cell_code, district_code, department_code, reported_at,"
            " closed_at, address, source, code FROM cases WHERE external_system = :s ORDER BY external_id"
        ),
        {"s": system},
    ).all()


def test_imports_cases_matched_to_cells_with_an_event_each(db_session: Session, tmp_path: Path) -> None:
    file = write(tmp_path / "history.csv", rows("t-happy"))
    result, lines = run(db_session, tmp_path, file, "t-happy")

    assert (result.rows, result.imported, result.already) == (3, 3, 0)
    assert lines[-2:] == ["matching cells", "3 points matched to cells in 0.0 s; writing cases"]
    got = imported(db_session, "t-happy")
    assert [(g.external_id, g.status, g.category_code, g.district_code, g.department_code) for g in got] == [
        ("t-happy-1", "closed", "C0102", "110101", "bj-water"),
        ("t-happy-2", "dispatched", "C0101", "110101", "bj-water"),
        ("t-happy-3", "reported", "C0103", "110102", None),
    ]
    for g, point in zip(got, (FORBIDDEN_CITY, RAILWAY_STATION, BEIHAI), strict=True):
        assert g.cell_code == match_cell(db_session, *point).cell_code
        assert g.source == "hotline" and g.code.startswith("202611")
    # Times without an offset are in the mapping's zone (Beijing: UTC+8).
    assert got[0].reported_at == datetime(2026, 11, 20, 1, 15, tzinfo=UTC)
    assert got[0].closed_at == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert got[1].reported_at == datetime(2026, 11, 21, 15, 59, 58, tzinfo=UTC)
    assert got[1].closed_at is None and got[0].address == "景山前街4号" and got[1].address is None
    events = db_session.execute(
        text(
            "SELECT e.action, e.to_status, e.at, e.payload FROM case_events e JOIN cases c ON c.id = e.case_id"
            " WHERE c.external_system = 't-happy' ORDER BY c.external_id"
        )
    ).all()
    assert [(e.action, e.to_status) for e in events] == [("import", "closed"), ("import", "dispatched"),
                                                         ("import", "reported")]  # fmt: skip
    assert events[0].at == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert events[0].payload == {"system": "t-happy", "external_id": "t-happy-1", "file": "history.csv",
                                 "by": "t-importer"}  # fmt: skip
    # The session's own time zone is as it was.
    assert db_session.execute(text("SELECT current_setting('TimeZone')")).scalar_one() != "Asia/Shanghai"


def test_importing_again_adds_only_what_is_new(db_session: Session, tmp_path: Path) -> None:
    data = rows("t-again")
    file = write(tmp_path / "history.csv", data[:2])
    run(db_session, tmp_path, file, "t-again")
    before = imported(db_session, "t-again")

    again, _ = run(db_session, tmp_path, file, "t-again")
    assert (again.imported, again.already) == (0, 2)
    assert imported(db_session, "t-again") == before

    longer = write(tmp_path / "longer.csv", data)
    third, _ = run(db_session, tmp_path, longer, "t-again")
    assert (third.imported, third.already) == (1, 2)
    assert len(imported(db_session, "t-again")) == 3
    events = db_session.execute(
        text("SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id WHERE c.external_system = 't-again'")
    ).scalar_one()
    assert events == 3


def refused(db_session: Session, tmp_path: Path, data: list[list[str]], system: str, **kwargs: Any) -> Any:
    file = write(tmp_path / "bad.csv", data, kwargs.pop("header", HEADER))
    with pytest.raises(ValidationError) as info:
        run(db_session, tmp_path, file, system, **kwargs)
    assert imported(db_session, system) == []  # nothing changed
    return info.value


def test_a_missing_column_is_named_on_line_1(db_session: Session, tmp_path: Path) -> None:
    header = [h if h != "CreatedDate" else "Created" for h in HEADER]
    error = refused(db_session, tmp_path, rows("t-nocol"), "t-nocol", header=header)
    assert "line 1: CreatedDate (no such column (mapped as created))" in error.message
    assert error.details["columns"] == {"CreatedDate": "no such column (mapped as created)"}


NOT_A_TIME = "is not a date and time (read with the date order MDY)"


@pytest.mark.parametrize(
    ("line", "column", "value", "reason"),
    [
        (3, "CreatedDate", "31/31/2026 10:00", f"'31/31/2026 10:00' {NOT_A_TIME}"),
        (4, "ClosedDate", "yesterday-ish", f"'yesterday-ish' {NOT_A_TIME}"),
        (2, "Latitude", "39,9169", "'39,9169' is not a number"),
        (4, "Longitude", "east", "'east' is not a number"),
    ],
)  # fmt: skip
def test_an_unreadable_value_names_its_line_and_column(
    db_session: Session, tmp_path: Path, line: int, column: str, value: str, reason: str
) -> None:
    data = rows("t-unreadable")
    data[line - 2][HEADER.index(column)] = value
    error = refused(db_session, tmp_path, data, "t-unreadable")
    assert isinstance(error, ImportRefused)
    assert [(p.where, p.field, p.message) for p in error.problems] == [(f"line {line}", column, reason)]


NO_CATEGORY = "no such category in the current taxonomy or the mapping's categories"


@pytest.mark.parametrize(
    ("line", "column", "value", "reason"),
    [
        (2, "Latitude", "116.4", "out of range (-90 to 90); are latitude and longitude swapped?"),
        (3, "Longitude", "-200", "out of range (-180 to 180)"),
        (4, "Latitude", "", "missing (give --skip-unlocated to leave such rows out)"),
        (3, "Latitude", "0", "0, 0 is no location (give --skip-unlocated to leave such rows out)"),
        (3, "Latitude", "10", "the point is outside every grid cell"),
        (2, "SRNumber", "", "missing"),
        (3, "SRNumber", "t-checked-1", "repeated (first at line 2)"),
        (4, "CreatedDate", "", "missing"),
        (2, "ClosedDate", "11/19/2026 09:00", "before CreatedDate"),
        (3, "RequestType", "Potholes", "'Potholes': " + NO_CATEGORY),
        (4, "Owner", "LADWP", "'LADWP': no such department code and not in the mapping's departments"),
        (2, "Status", "Pending", "'Pending': not in the mapping's statuses"),
    ],
)  # fmt: skip
def test_a_bad_row_names_its_line_and_column_and_changes_nothing(
    db_session: Session, tmp_path: Path, line: int, column: str, value: str, reason: str
) -> None:
    data = rows("t-checked")
    data[line - 2][HEADER.index(column)] = value
    if value == "0":
        data[line - 2][HEADER.index("Longitude")] = "0"
    refuse_closed = ImportOptions(closed_before_created="refuse")  # the default sets it to the created time
    error = refused(db_session, tmp_path, data, "t-checked", options=refuse_closed)
    assert isinstance(error, ImportRefused)
    assert [(p.where, p.field, p.message) for p in error.problems] == [(f"line {line}", column, reason)]
    assert f"line {line}" in error.message and column in error.message
    assert "import refused, nothing was changed: 1 of 3 rows have a problem" in error.message


def test_unlocated_rows_can_be_left_out(db_session: Session, tmp_path: Path) -> None:
    data = rows("t-unlocated")
    data[1][HEADER.index("Latitude")] = data[1][HEADER.index("Longitude")] = ""
    result, _ = run(db_session, tmp_path, write(tmp_path / "h.csv", data), "t-unlocated", skip_unlocated=True)
    assert (result.rows, result.imported, result.skipped_unlocated) == (3, 2, 1)
    assert "1 without coordinates skipped" in result.summary()


def test_the_mapping_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        read_mapping(None, {"id": "SRNumber", "created": "CreatedDate"}, "Asia/Shanghai", "x")
    assert info.value.details == {"map": {"category": "required", "lat": "required", "lon": "required"}}
    with pytest.raises(ValidationError) as info:
        read_mapping(None, {"colour": "Paint"}, "Asia/Shanghai", "x")
    assert "unknown mapped field colour" in info.value.message
    with pytest.raises(ValidationError) as info:
        read_mapping(
            None, {"id": "a", "created": "b", "category": "c", "lat": "d", "lon": "e"}, "Asia/Shanghai", "bad name!"
        )
    assert "system" in info.value.details


def test_the_command_imports_with_map_options(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    file = write(tmp_path / "history.csv", [r[:5] + r[6:] for r in rows("t-cli")], HEADER[:5] + HEADER[6:])
    maps = ["id=SRNumber", "created=CreatedDate", "closed=ClosedDate", "lat=Latitude", "lon=Longitude"]
    args = ["cases", "import", str(file), "--system", "t-cli", "--map", "category=RequestType"]
    for m in maps:
        args += ["--map", m]
    result = app.test_cli_runner().invoke(cli, [*args, "--map", "department=Owner"])
    assert result.exit_code == 1
    # Each row is refused for its first problem: line 2's category (its Owner WATER is unmapped too).
    assert "nothing was changed: 1 of 3 rows have a problem" in result.stderr
    assert "line 2 (id t-cli-1): RequestType: 'Sewer cover': no such category" in result.stderr
    assert imported(db_session, "t-cli") == []

    result = app.test_cli_runner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "line 2 (id t-cli-1): RequestType: 'Sewer cover': no such category" in result.stderr

    data = rows("t-cli")
    data[0][HEADER.index("RequestType")] = "C0102"
    write(file, [r[:5] + r[6:] for r in data], HEADER[:5] + HEADER[6:])
    result = app.test_cli_runner().invoke(cli, [*args, "--exclusive"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("3 rows: 3 cases imported, 0 imported before")
    assert "3 rows read; checking" in result.stderr and "built again" in result.stderr
    assert [g.status for g in imported(db_session, "t-cli")] == ["closed", "reported", "reported"]


def schema(db_session: Session) -> list[str]:
    """The case tables' indexes and keys. A rebuilt index's predicate is printed with its casts elsewhere (the same
    test on the same types), so casts and brackets are left out of the comparison."""
    found = db_session.execute(text(SCHEMA_SQL)).scalars().all()
    return [re.sub(r"::[a-z ]+|[()\[\]]|ARRAY", "", s) for s in found]


SCHEMA_SQL = """
SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid IN ('cases'::regclass, 'case_events'::regclass)
UNION ALL
SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid IN ('cases'::regclass, 'case_events'::regclass)
ORDER BY 1
"""


def test_an_exclusive_import_writes_the_same_and_builds_every_index_and_key_again(
    db_session: Session, tmp_path: Path
) -> None:
    before = schema(db_session)
    assert any("USING gist point" in s for s in before) and any("FOREIGN KEY case_id" in s for s in before)
    assert db_session.execute(text("SHOW maintenance_work_mem")).scalar_one() == "256MB"
    online, _ = run(db_session, tmp_path, write(tmp_path / "a.csv", rows("t-online")), "t-online")
    result, lines = run(db_session, tmp_path, write(tmp_path / "b.csv", rows("t-excl")), "t-excl", exclusive=True)
    assert (result.imported, online.imported) == (3, 3)
    # The builds had the memory to sort in (for the rest of the import's transaction only).
    assert db_session.execute(text("SHOW maintenance_work_mem")).scalar_one() == "1GB"
    # Again, locked, nothing is written twice (no conflict clause: the cases already there are left out before).
    again, _ = run(db_session, tmp_path, tmp_path / "b.csv", "t-excl", exclusive=True)
    assert (again.imported, again.already) == (0, 3)
    assert [r[1:-1] for r in imported(db_session, "t-excl")] == [r[1:-1] for r in imported(db_session, "t-online")]
    assert schema(db_session) == before
    dropped = [line for line in lines if "built again" in line]
    assert dropped and dropped[-1].startswith(f"index or key {len(dropped)}/{len(dropped)} ")
    # The rebuilt indexes are valid and used: the cases are found by their point again.
    near = db_session.execute(
        text(
            "SELECT count(*) FROM cases WHERE external_system = 't-excl'"
            " AND ST_DWithin(point, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 0.0001)"
        ),
        {"lon": FORBIDDEN_CITY[0], "lat": FORBIDDEN_CITY[1]},
    ).scalar_one()
    assert near == 1


def test_a_refused_exclusive_import_leaves_the_tables_as_they_were(db_session: Session, tmp_path: Path) -> None:
    before = schema(db_session)
    data = rows("t-excl-bad")
    data[2][HEADER.index("Longitude")], data[2][HEADER.index("Latitude")] = "121.47", "31.23"  # Shanghai: no cell
    with pytest.raises(ImportRefused) as refusal:
        run(db_session, tmp_path, write(tmp_path / "bad.csv", data), "t-excl-bad", exclusive=True)
    assert [(p.where, p.message) for p in refusal.value.problems] == [
        ("line 4", "the point is outside every grid cell")
    ]
    assert imported(db_session, "t-excl-bad") == []
    assert schema(db_session) == before


def test_imported_closed_cases_count_in_the_rollups_and_the_fresh_report(
    app: Flask, db_session: Session, tmp_path: Path, client, token_for
) -> None:  # type: ignore[no-untyped-def]
    """Closed cases imported with no handling recorded: the roll-up job and `fresh=true` count them as closed
    (on time: they have no handling deadline), instead of failing on a NULL."""
    from datetime import date

    from dispatch.metrics.operations import Period, direct, from_rollups, refresh

    file = write(tmp_path / "history.csv", rows("t-rollup"))
    run(db_session, tmp_path, file, "t-rollup")
    settings = app.extensions["citymgmt.settings"]
    refresh(db_session, datetime(2026, 11, 23, 1, 30, tzinfo=UTC), settings)
    period = Period(date(2026, 11, 21), date(2026, 11, 21))
    rolled = {k: v for k, v in from_rollups(db_session, "department", period).items() if k == "bj-water"}
    assert rolled["bj-water"]["closed"] >= 1 and rolled["bj-water"]["closed_on_time"] >= 1
    fresh = client.get(
        "/api/v1/metrics?group_by=department&from=2026-11-21&to=2026-11-21&fresh=true", headers=token_for("supervisor")
    )
    assert fresh.status_code == 200, fresh.get_json()
    water = next(g for g in fresh.get_json()["groups"] if g["key"] == "bj-water")
    assert water["counts"]["closed"] == rolled["bj-water"]["closed"]
    assert direct(db_session, "department", period, datetime(2026, 11, 23, 1, 30, tzinfo=UTC), settings)


def test_with_rejects_the_good_rows_go_in_and_the_others_out_with_their_reason(
    db_session: Session, tmp_path: Path
) -> None:
    header = [*HEADER, "Channel", "reason"]  # a column named like the one added: the rejects file says import_reason
    good = [[*r, channel, "x"] for r, channel in zip(rows("t-rej"), ("Call", "", "inspector"), strict=True)]
    bad = [[*r, "Call", "y"] for r in rows("t-rej")]
    bad[0][0], bad[0][HEADER.index("Latitude")] = "t-rej-4", "39,9"  # not a number
    bad[1][0], bad[1][HEADER.index("ClosedDate")] = "t-rej-5", "someday"  # not a time
    bad[2][0] = "t-rej-1"  # given again
    odd = [*rows("t-rej")[0], "Carrier pigeon", "z"]
    odd[0] = "t-rej-6"
    file = write(tmp_path / "history.csv", [*good, *bad, odd], header)
    chosen = mapping(tmp_path, "t-rej")
    chosen.columns["source"] = "Channel"
    chosen.sources = {"Call": "hotline"}
    rejects = tmp_path / "refused.csv"
    result = import_history(
        db_session, file, chosen, datetime(2026, 11, 23, 1, 30, tzinfo=UTC), "t-importer", progress=lambda m: None,
        options=ImportOptions(rejects=rejects),
    )  # fmt: skip

    assert (result.rows, result.imported, result.rejected, result.already) == (7, 3, 4, 0)
    assert result.summary().startswith("7 rows: 3 cases imported, 0 imported before, 4 refused, written to ")
    assert [(g.external_id, g.source) for g in imported(db_session, "t-rej")] == [
        ("t-rej-1", "hotline"),  # Call, through the mapping's sources
        ("t-rej-2", "hotline"),  # empty: the mapping's source
        ("t-rej-3", "inspector"),  # a source by its own name
    ]
    with rejects.open(encoding="utf-8", newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == [*header, "import_reason"]
    assert [line[:-1] for line in written[1:]] == [*bad, odd]  # as they were, in file order
    assert [line[-1] for line in written[1:]] == [
        "Latitude: '39,9' is not a number",
        "ClosedDate: 'someday' is not a date and time (read with the date order MDY)",
        "SRNumber: repeated (first at line 2)",
        "Channel: 'Carrier pigeon': not a source (inspector, public, hotline, open311) and not in the mapping's"
        " sources",
    ]

    # All or nothing (the default) refuses the same file whole at its first unreadable value, and says so.
    with pytest.raises(ImportRefused) as refusal:
        import_history(
            db_session, file, chosen, datetime(2026, 11, 23, 1, 30, tzinfo=UTC), "t-importer", progress=lambda m: None
        )
    assert refusal.value.message.startswith("import refused at the first unreadable value, nothing was changed")


def test_zero_zero_is_no_location_and_a_closed_time_before_the_created_one_is_fixed(
    db_session: Session, tmp_path: Path
) -> None:
    data = rows("t-fix")
    data[1][HEADER.index("Latitude")] = data[1][HEADER.index("Longitude")] = "0"
    data[0][HEADER.index("ClosedDate")] = "11/19/2026 09:00:00 AM"  # before its 11/20 creation
    result, _ = run(db_session, tmp_path, write(tmp_path / "h.csv", data), "t-fix", skip_unlocated=True)
    assert (result.imported, result.skipped_unlocated, result.skipped_at_zero, result.closed_fixed) == (2, 1, 1, 1)
    assert "1 without coordinates skipped (1 at 0, 0), 1 closed before created: closed set to created" in (
        result.summary()
    )
    case = imported(db_session, "t-fix")[0]
    assert case.closed_at == case.reported_at == datetime(2026, 11, 20, 1, 15, tzinfo=UTC)
    payload = db_session.execute(
        text("SELECT e.payload FROM case_events e JOIN cases c ON c.id = e.case_id WHERE c.external_id = 't-fix-1'")
    ).scalar_one()
    assert datetime.fromisoformat(payload["closed_given"]) == datetime(2026, 11, 19, 1, 0, tzinfo=UTC)
