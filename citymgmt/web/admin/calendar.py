"""/admin/calendar: the working calendar a month at a time (工作日历): holidays, make-up working days and overrides;
an admin sets a day (a working day or a day off, with a note) or clears an override."""

from __future__ import annotations

import calendar as months
from datetime import date, timedelta
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from citymgmt.core.access import current_user
from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.web.admin import FLASHED, Refused, admin_only, attempt, bp, render
from dispatch.sla.calendar import ADMIN, IMPORTED, SEEDED, calendar_cache, clear_day, days_of_year, set_day

NOTE_MAX = 200


def _settings() -> Settings:
    settings: Settings = current_app.extensions["citymgmt.settings"]
    return settings


def _month(raw: str | None, today: date) -> date | None:
    """The first day of `YYYY-MM` (None when it is not one, or outside 1990–2100); this month when not given."""
    if not raw:
        return today.replace(day=1)
    try:
        year, month = (int(part) for part in raw.split("-"))
        first = date(year, month, 1)
    except ValueError:
        return None
    return first if 1990 <= first.year <= 2100 else None


def _day(raw: str | None) -> date | None:
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return day if 1990 <= day.year <= 2100 else None


def _weeks(first: date) -> list[list[dict[str, Any]]]:
    """The month's weeks, Monday first: each day with whether it is worked and why (its stored row, if any)."""
    session = db.session()
    settings = _settings()
    working = calendar_cache.get(session, settings)
    stored = {d.day: d for d in days_of_year(session, first.year, settings.holidays)}
    weeks = []
    for week in months.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        days = []
        for day in week:
            row = stored.get(day)
            days.append(
                {
                    "day": day,
                    "in_month": day.month == first.month,
                    "workday": working.is_workday(day),
                    "weekend": day.weekday() >= 5,
                    "source": row.source if row is not None else None,
                    "note": row.note if row is not None else None,
                    "override": row is not None and row.source in (ADMIN, IMPORTED),
                }
            )
        weeks.append(days)
    return weeks


def _page(first: date, status: int = 200, **context: Any) -> Any:
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return render(
        "admin/calendar.html",
        status,
        first=first,
        weeks=_weeks(first),
        previous=previous if previous.year >= 1990 else None,
        following=following if following.year <= 2100 else None,
        sources={"seeded": SEEDED, "admin": ADMIN, "imported": IMPORTED},
        **context,
    )


@bp.get("/calendar")
@admin_only
def calendar() -> Any:
    today = utcnow().astimezone(_settings().zone).date()
    first = _month(request.args.get("month"), today)
    form = {"day": request.args.get("day", "")[:10], "workday": "", "note": ""}
    if first is None:
        message = _("The month must be given as YYYY-MM, between 1990 and 2100.")
        return _page(today.replace(day=1), 400, form=form, error=message)
    return _page(first, form=form)


@bp.post("/calendar")
@admin_only
def set_calendar_day() -> Any:
    today = utcnow().astimezone(_settings().zone).date()
    form = {
        "day": request.form.get("day", "")[:10],
        "workday": request.form.get("workday", ""),
        "note": request.form.get("note", "").strip(),
    }
    day = _day(form["day"])
    first = (day or today).replace(day=1)
    problems = {}
    if day is None:
        problems["day"] = _("Give the day as YYYY-MM-DD, between 1990 and 2100.")
    if form["workday"] not in ("yes", "no"):
        problems["workday"] = _("Choose a working day or a day off.")
    if len(form["note"]) > NOTE_MAX:
        problems["note"] = _("At most %(n)s characters.", n=NOTE_MAX)
    if problems or day is None:
        return _page(first, 422, form=form, problems=problems)
    session = db.session()
    user = current_user()
    is_workday = form["workday"] == "yes"
    note = form["note"] or None
    try:
        with attempt(session):
            set_day(session, day, is_workday, note, user.id if user else None, utcnow())
            record(session, "calendar.set", day.isoformat(), utcnow(), is_workday=is_workday, note=note)
    except Refused as refused:
        return _page(first, refused.status, form=form, error=refused.message)
    if is_workday:
        flash(_("%(day)s is now a working day.", day=day.isoformat()), FLASHED)
    else:
        flash(_("%(day)s is now a day off.", day=day.isoformat()), FLASHED)
    return redirect(url_for("admin.calendar", month=f"{day:%Y-%m}", lang=request.args.get("lang")))


@bp.post("/calendar/<string:day>/clear")
@admin_only
def clear_calendar_day(day: str) -> Any:
    parsed = _day(day)
    today = utcnow().astimezone(_settings().zone).date()
    if parsed is None:
        message = _("Give the day as YYYY-MM-DD, between 1990 and 2100.")
        return _page(today.replace(day=1), 404, form={}, error=message)
    session = db.session()
    user = current_user()
    cleared = clear_day(session, parsed, user.id if user else None, utcnow())
    if cleared:
        record(session, "calendar.clear", parsed.isoformat(), utcnow())
        flash(_("The override of %(day)s is cleared.", day=parsed.isoformat()), FLASHED)
    else:
        flash(_("%(day)s had no override to clear.", day=parsed.isoformat()), FLASHED)
    return redirect(url_for("admin.calendar", month=f"{parsed:%Y-%m}", lang=request.args.get("lang")))
