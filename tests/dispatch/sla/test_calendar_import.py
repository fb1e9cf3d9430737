"""A city's own calendar: `citymgmt calendar import` (iCalendar or CSV, all or nothing, audited) and
CITYMGMT_HOLIDAYS (cn: China's holidays built in; none: weekends and what the city imports)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.audit import AuditEntry
from citymgmt.core.config import Settings
from citymgmt.core.errors import ValidationError
from dispatch.sla.calendar import calendar_cache, import_days, seed_years
from dispatch.sla.calendar_files import read_days
from dispatch.sla.workcalendar import working_deadline

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "calendar" / "us-federal-holidays-2017.ics"
LA = ZoneInfo("America/Los_Angeles")


def run(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["calendar", *args])


def ics(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\nUID:{n}@test\r\n{e.strip()}\r\nEND:VEVENT\r\n" for n, e in enumerate(events))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n".encode()


def settings_of(app: Flask, **overrides: Any) -> Settings:
    settings: Settings = app.extensions["citymgmt.settings"]
    return settings.with_overrides(overrides)


def test_the_us_federal_holidays_file_imports_and_moves_deadlines_in_los_angeles(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    la = settings_of(app, timezone="America/Los_Angeles", holidays="none")
    wednesday = datetime(2017, 11, 22, 9, 0, tzinfo=LA)  # the day before Thanksgiving
    before = working_deadline(wednesday, 2, "working_days", calendar_cache.get(db_session, la))
    assert before == datetime(2017, 11, 24, 9, 0, tzinfo=LA)  # Friday: Thursday counted as a working day

    done = run(app, monkeypatch, "import", str(FIXTURE))
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "calendar 2016–2018: 30 days from 30 entries (30 holidays, 0 working days); 30 written, 0 unchanged\n"
    )
    after = working_deadline(wednesday, 2, "working_days", calendar_cache.get(db_session, la))
    assert after == datetime(2017, 11, 27, 9, 0, tzinfo=LA)  # Thanksgiving off, then the weekend: Monday

    entry = db_session.execute(select(AuditEntry).where(AuditEntry.action == "calendar.import")).scalar_one()
    assert entry.target == str(FIXTURE) and entry.details["years"] == [2016, 2017, 2018]
    shown = run(app, monkeypatch, "show", "2017").stdout
    assert "2017-01-02 Mon day off      import            New Year's Day (observed)" in shown
    assert "2017-11-10 Fri day off" in shown  # Veterans Day, observed on the Friday before
    again = run(app, monkeypatch, "import", str(FIXTURE))
    assert again.stdout.endswith("0 written, 30 unchanged\n")


def test_holidays_none_leaves_only_weekends_and_what_the_city_imports(app: Flask, db_session: Session) -> None:
    national_day = date(2026, 10, 1)  # a Thursday, China's National Day
    cn = calendar_cache.get(db_session, settings_of(app, holidays="cn"))
    none = calendar_cache.get(db_session, settings_of(app, holidays="none"))
    assert not cn.is_workday(national_day)
    assert none.is_workday(national_day)
    assert not none.is_workday(date(2026, 10, 3))  # a Saturday is a weekend whatever the setting

    found = read_days(b"date,kind,name\n2026-12-24,holiday,Christmas Eve\n2026-12-26,workday,make-up day\n", "csv")
    import_days(db_session, found.days, None, datetime(2026, 11, 23, tzinfo=LA))
    none = calendar_cache.get(db_session, settings_of(app, holidays="none"))
    assert not none.is_workday(date(2026, 12, 24))
    assert none.is_workday(date(2026, 12, 26))  # a Saturday made a working day
    assert none.is_workday(national_day)


def test_seeding_chinas_days_is_refused_when_holidays_are_none(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_years(db_session, range(2026, 2027), datetime(2026, 11, 23, tzinfo=LA))
    assert "2026-10-01 Thu day off      chinese-calendar" in run(app, monkeypatch, "show", "2026").stdout
    monkeypatch.setitem(app.extensions, "citymgmt.settings", settings_of(app, holidays="none"))
    done = run(app, monkeypatch, "seed")
    assert done.exit_code == 1
    assert "CITYMGMT_HOLIDAYS=none: China's holidays are not used here" in done.stderr
    shown = run(app, monkeypatch, "show", "2026")
    assert shown.exit_code == 0 and "chinese-calendar" not in shown.stdout  # seeded, but not counted


def test_bad_csv_rows_are_named_and_nothing_is_written(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "days.csv"
    path.write_text(
        "date,kind,name\n"
        "2030-01-01,holiday,New Year\n"
        "2030-02-30,holiday,no such day\n"  # line 3
        "2030-03-01,vacation,\n"  # line 4
        "2030-01-01,workday,the opposite\n"  # line 5
        "1890-01-01,holiday,too early\n",  # line 6
        encoding="utf-8",
    )
    before = db_session.execute(text("SELECT count(*) FROM calendar_days")).scalar_one()
    done = run(app, monkeypatch, "import", str(path))
    assert done.exit_code == 1
    assert "error: 4 of 5 rows refused (4 problems); nothing was written" in done.stderr
    assert "line 3: date: '2030-02-30': expected YYYY-MM-DD" in done.stderr
    assert "line 4: kind: 'vacation': expected holiday or workday" in done.stderr
    assert "line 5: date: 2030-01-01 is a holiday at line 2" in done.stderr
    assert "line 6: date: 1890-01-01 is outside 1990–2100" in done.stderr
    assert db_session.execute(text("SELECT count(*) FROM calendar_days")).scalar_one() == before
    assert db_session.execute(select(AuditEntry.id).where(AuditEntry.action == "calendar.import")).first() is None


def test_ics_events_are_expanded_and_what_cannot_be_a_holiday_is_refused_by_line() -> None:
    found = read_days(
        ics(
            "DTSTART;VALUE=DATE:20300204\r\nDTEND;VALUE=DATE:20300207\r\nSUMMARY:Spring Festival",  # three days
            "DTSTART;VALUE=DATE:20300101\r\nRRULE:FREQ=YEARLY;COUNT=3\r\nEXDATE;VALUE=DATE:20310101\r\nSUMMARY:NY",
            "DTSTART;VALUE=DATE:20300501\r\nDURATION:P2D\r\nSUMMARY:Labour Day",
            "DTSTART;VALUE=DATE:20300601\r\nSTATUS:CANCELLED\r\nSUMMARY:called off",
        ),
        "ics",
    )
    assert sorted(found.days) == [
        date(2030, 1, 1),
        date(2030, 2, 4),
        date(2030, 2, 5),
        date(2030, 2, 6),
        date(2030, 5, 1),
        date(2030, 5, 2),
        date(2032, 1, 1),
    ]
    assert found.days[date(2030, 2, 5)] == (False, "Spring Festival")

    with pytest.raises(ValidationError) as refused:
        read_days(
            ics(
                "DTSTART;VALUE=DATE:20300101\r\nSUMMARY:fine",
                "DTSTART;VALUE=DATE:20300101\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:for ever",
                "DTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nSUMMARY:a meeting",
                "DTSTART;VALUE=DATE:20300401\r\nDTEND;VALUE=DATE:20300401\r\nSUMMARY:no length",
            ),
            "ics",
        )
    assert refused.value.message == "3 of 4 events refused (3 problems); nothing was written"
    assert refused.value.details == {
        "line 9 (for ever): event": "RRULE without COUNT or UNTIL repeats for ever: give one of them",
        "line 15 (a meeting): event": "DTSTART has a time of day: only all-day events (VALUE=DATE) are holidays",
        "line 21 (no length): event": "the event must last 1 to 366 days (DTEND is the day after the last)",
    }
    with pytest.raises(ValidationError, match="not an iCalendar file"):
        read_days(b"this is not a calendar", "ics")
