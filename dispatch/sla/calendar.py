"""The city's working calendar as data: `calendar_days` holds the days that differ from Monday–Friday (China's
statutory holidays and make-up working days, seeded from chinese-calendar), the days a city imports from its own
file (`calendar_import`) and the admins' own overrides; imported and admin days always win over seeds. The
arithmetic is in `dispatch.sla.workcalendar`; this module only supplies its calendar.

With CITYMGMT_HOLIDAYS=cn (the default), the years chinese-calendar knows are covered even before seeding (the seed
only makes them visible and editable); later years are Monday–Friday until an admin enters their holidays. With
none, China's days count nowhere, seeded or not: weekends and the city's own days alone.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Sequence, String, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings
from citymgmt.core.db import db, forget_memo, transaction_memo
from citymgmt.core.errors import ValidationError
from citymgmt.core.revisions import forget as forget_revisions
from citymgmt.core.revisions import revisions
from dispatch.sla.workcalendar import WorkingCalendar, chinese_overrides

calendar_revision = Sequence("calendar_day_revision_seq", start=1)
SEEDED = "chinese-calendar"  # China's days, written by `calendar seed` (CITYMGMT_HOLIDAYS=cn)
IMPORTED = "import"  # the city's own, from `calendar import` (an iCalendar or CSV file)
ADMIN = "admin"  # an admin's override (`calendar set`, PUT /api/v1/calendar/{day}, the admin's calendar page)
DEFAULT = "default"  # an override cleared: the day is Monday–Friday again (not a special day: never listed)
SOURCES = (SEEDED, ADMIN, IMPORTED, DEFAULT)


class CalendarDay(db.Model):  # type: ignore[name-defined]
    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revision: Mapped[int] = mapped_column(BigInteger, calendar_revision, server_default=calendar_revision.next_value())

    __table_args__ = (Index("ix_calendar_days_revision", "revision"),)


def seed_years(session: Session, years: range, now: datetime) -> tuple[int, list[int]]:
    """Store chinese-calendar's holidays and make-up days for the years; admin overrides are kept. Returns the
    number of days written and the years chinese-calendar does not know."""
    overrides = chinese_overrides(years)
    known = {d.year for d in overrides}
    unknown = [y for y in years if y not in known]
    if not overrides:
        return 0, unknown
    forget_memo(session, CALENDAR_MEMO)
    forget_revisions(session)
    rows = [{"day": d, "is_workday": w, "source": "chinese-calendar", "updated_at": now} for d, w in overrides.items()]
    statement = insert(CalendarDay).values(rows)
    written = session.execute(
        statement.on_conflict_do_update(
            index_elements=[CalendarDay.day],
            set_={
                "is_workday": statement.excluded.is_workday,
                "updated_at": now,
                "revision": calendar_revision.next_value(),
            },
            where=((CalendarDay.source == SEEDED) & (CalendarDay.is_workday != statement.excluded.is_workday))
            | (CalendarDay.source == DEFAULT),
        ).returning(CalendarDay.day)
    ).all()
    return len(written), unknown


def set_day(
    session: Session, day: date, is_workday: bool, note: str | None, user_id: int | None, now: datetime
) -> None:
    """An admin's override: this day is (or is not) a working day, whatever the seed says."""
    if not 1990 <= day.year <= 2100:
        raise ValidationError("the day must be between 1990 and 2100", details={"day": day.isoformat()})
    values: dict[str, Any] = {
        "day": day,
        "is_workday": is_workday,
        "source": ADMIN,
        "note": (note or "").strip()[:200] or None,
        "updated_by": user_id,
        "updated_at": now,
    }
    forget_memo(session, CALENDAR_MEMO)
    forget_revisions(session)
    statement = insert(CalendarDay).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CalendarDay.day],
            set_={
                **{k: statement.excluded[k] for k in values if k != "day"},
                "revision": calendar_revision.next_value(),
            },
        )
    )


def clear_day(session: Session, day: date, user_id: int | None, now: datetime) -> bool:
    """Undo an admin's or an imported override: the day is again what China's calendar says (a seeded day, counted
    under CITYMGMT_HOLIDAYS=cn only) or, when it says nothing, Monday–Friday. The row is rewritten, never deleted,
    so that the calendar's revision moves and every process rebuilds its calendar. False when there was no
    override to clear."""
    if not 1990 <= day.year <= 2100:
        raise ValidationError("the day must be between 1990 and 2100", details={"day": day.isoformat()})
    row = session.get(CalendarDay, day)
    if row is None or row.source not in (ADMIN, IMPORTED):
        return False
    china = chinese_overrides(range(day.year, day.year + 1)).get(day)
    row.is_workday = china if china is not None else day.weekday() < 5
    row.source = SEEDED if china is not None else DEFAULT
    row.note = None
    row.updated_by = user_id
    row.updated_at = now
    row.revision = calendar_revision.next_value()
    forget_memo(session, CALENDAR_MEMO)
    forget_revisions(session)
    session.flush()
    return True


def import_days(
    session: Session, days: dict[date, tuple[bool, str | None]], user_id: int | None, now: datetime
) -> tuple[int, int]:
    """Store a city's own days (day → working or not, and its name), as an admin's override is stored: they win
    over China's seeded days. Returns how many were written and how many were already so."""
    if not days:
        return 0, 0
    forget_memo(session, CALENDAR_MEMO)
    forget_revisions(session)
    rows = [
        {
            "day": day,
            "is_workday": is_workday,
            "source": IMPORTED,
            "note": (name or "").strip()[:200] or None,
            "updated_by": user_id,
            "updated_at": now,
        }
        for day, (is_workday, name) in sorted(days.items())
    ]
    written = 0
    for start in range(0, len(rows), 1000):
        statement = insert(CalendarDay).values(rows[start : start + 1000])
        written += len(
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[CalendarDay.day],
                    set_={
                        **{k: statement.excluded[k] for k in rows[0] if k != "day"},
                        "revision": calendar_revision.next_value(),
                    },
                    where=(CalendarDay.is_workday != statement.excluded.is_workday)
                    | (CalendarDay.source != statement.excluded.source)
                    | CalendarDay.note.is_distinct_from(statement.excluded.note),
                ).returning(CalendarDay.day)
            ).all()
        )
    return written, len(rows) - written


def days_of_year(session: Session, year: int, holidays: str) -> list[CalendarDay]:
    """The stored days of the year that count under CITYMGMT_HOLIDAYS (with none, China's seeded ones do not)."""
    query = select(CalendarDay).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31), CalendarDay.source != DEFAULT
    )
    if holidays != "cn":
        query = query.where(CalendarDay.source != SEEDED)
    return list(session.execute(query.order_by(CalendarDay.day)).scalars())


CALENDAR_MEMO = "citymgmt.calendar"


@lru_cache(maxsize=1)
def _chinese_defaults(first: int, last: int) -> dict[date, bool]:
    return chinese_overrides(range(first, last + 1))


class CalendarCache:
    """The WorkingCalendar of one process, rebuilt when the stored days change (one indexed query to know)."""

    def __init__(self) -> None:
        self._cached: tuple[tuple[int, str, str, str], WorkingCalendar] | None = None
        self._lock = threading.Lock()

    def get(self, session: Session, settings: Settings) -> WorkingCalendar:
        # Checked once per transaction: the steps of one request share one calendar.
        return transaction_memo(
            session,
            CALENDAR_MEMO,
            lambda: self._get(session, settings),
            (settings.timezone, settings.working_periods, settings.holidays),
        )

    def _get(self, session: Session, settings: Settings) -> WorkingCalendar:
        from zoneinfo import ZoneInfo

        key = (revisions(session).calendar, settings.timezone, settings.working_periods, settings.holidays)
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached[1]
        days = select(CalendarDay.day, CalendarDay.is_workday)
        if settings.holidays == "cn":
            this_year = datetime.now().year
            overrides = dict(_chinese_defaults(this_year - 3, this_year + 3))
        else:  # none: weekends, and the days the city entered or imported (not China's, even if seeded before)
            overrides = {}
            days = days.where(CalendarDay.source != SEEDED)
        for day, is_workday in session.execute(days):
            overrides[day] = is_workday
        calendar = WorkingCalendar(ZoneInfo(settings.timezone), settings.periods(), overrides)
        with self._lock:
            self._cached = (key, calendar)
        return calendar


calendar_cache = CalendarCache()
