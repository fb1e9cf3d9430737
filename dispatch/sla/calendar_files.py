"""A city's own holidays from a file (`citymgmt calendar import`): iCalendar (RFC 5545, read with the icalendar
library) or CSV, checked whole before anything is written, every problem named by line.

iCalendar: every all-day VEVENT is a holiday (a day off) on each of its days: DTSTART;VALUE=DATE up to DTEND
(exclusive), or for DURATION days, or one day. A recurring event (RRULE with COUNT or UNTIL, EXDATE, RDATE) is
expanded with dateutil; an endless RRULE is refused, as are events with a time of day (a holiday is whole days) and
cancelled ones are skipped. CSV: a header `date,kind,name`; `kind` is `holiday` or `workday` (a make-up working
day on a weekend, 调休).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from citymgmt.core.errors import ValidationError

FORMATS = ("ics", "csv")
KINDS = {"holiday": False, "workday": True}  # kind → is a working day
FIRST_YEAR, LAST_YEAR = 1990, 2100  # as an admin's override (calendar.set_day)
MAX_EVENT_DAYS = 366
MAX_OCCURRENCES = 1000


@dataclass(frozen=True)
class Days:
    """What a file says: day → (a working day?, its name), and how many events or rows said it."""

    days: dict[date, tuple[bool, str | None]]
    entries: int


def detect_format(name: str, given: str | None) -> str:
    if given:
        return given
    lowered = name.lower()
    if lowered.endswith((".ics", ".ical", ".ifb", ".icalendar")):
        return "ics"
    if lowered.endswith(".csv"):
        return "csv"
    raise ValidationError(
        f"cannot tell the format of {name}: name it .ics or .csv, or give --format", details={"file": "unknown format"}
    )


def read_days(data: bytes, fmt: str) -> Days:
    """The file's days, or ValidationError naming every bad event or row (nothing is to be written then)."""
    days, problems, entries = _ics(data) if fmt == "ics" else _csv(data)
    if problems:
        kind = "events" if fmt == "ics" else "rows"
        raise ValidationError(
            f"{len({k.partition(':')[0] for k in problems})} of {entries} {kind} refused ({len(problems)} problems);"
            " nothing was written",
            details=problems,
        )
    if not days:
        raise ValidationError("the file holds no days", details={"file": "empty"})
    return Days(days, entries)


def _in_range(day: date) -> bool:
    return FIRST_YEAR <= day.year <= LAST_YEAR


def _add(
    days: dict[date, tuple[bool, str | None]],
    origin: dict[date, str],
    day: date,
    workday: bool,
    name: str | None,
    where: str,
) -> str | None:
    """Record one day; a problem if the file already said the opposite of it."""
    if day in days and days[day][0] != workday:
        return f"{day} is a {'working day' if days[day][0] else 'holiday'} at {origin[day]}"
    if day not in days:
        days[day] = (workday, name)
        origin[day] = where
    return None


# -- iCalendar ----------------------------------------------------------------------------------------------------


def _ics(data: bytes) -> tuple[dict[date, tuple[bool, str | None]], dict[str, str], int]:
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValidationError(f"not an iCalendar file: {exc}"[:300], details={"file": "iCalendar"}) from None
    if isinstance(calendar, list):  # several VCALENDARs in one file
        events = [e for c in calendar for e in c.walk("VEVENT")]
    else:
        events = list(calendar.walk("VEVENT"))
    text = data.decode("utf-8", errors="replace")
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip().upper() == "BEGIN:VEVENT"]
    days: dict[date, tuple[bool, str | None]] = {}
    origin: dict[date, str] = {}
    problems: dict[str, str] = {}
    for index, event in enumerate(events):
        line = lines[index] if index < len(lines) else 0
        summary = str(event.get("SUMMARY", "") or "").strip() or None
        where = f"line {line}" + (f" ({summary})" if summary else "")
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        try:
            for day in _event_days(event):
                if not _in_range(day):
                    raise ValueError(f"{day} is outside {FIRST_YEAR}–{LAST_YEAR}")
                clash = _add(days, origin, day, False, summary, where)
                if clash:
                    raise ValueError(clash)
        except ValueError as exc:
            problems[f"{where}: event"] = str(exc)
    return days, problems, len(events)


def _date_of(prop: Any, name: str) -> date:
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime):
        raise ValueError(f"{name} has a time of day: only all-day events (VALUE=DATE) are holidays")
    if not isinstance(value, date):
        raise ValueError(f"{name} is not a date")
    return value


def _event_days(event: Any) -> list[date]:
    if event.get("DTSTART") is None:
        raise ValueError("no DTSTART")
    start = _date_of(event.get("DTSTART"), "DTSTART")
    if event.get("DTEND") is not None:
        length = (_date_of(event.get("DTEND"), "DTEND") - start).days
    elif event.get("DURATION") is not None:
        duration = event.get("DURATION").dt
        if not isinstance(duration, timedelta) or duration.seconds or duration.microseconds:
            raise ValueError("DURATION must be whole days (e.g. P3D)")
        length = duration.days
    else:
        length = 1
    if not 1 <= length <= MAX_EVENT_DAYS:
        raise ValueError(f"the event must last 1 to {MAX_EVENT_DAYS} days (DTEND is the day after the last)")
    return [first + timedelta(days=d) for first in _occurrences(event, start) for d in range(length)]


def _occurrences(event: Any, start: date) -> list[date]:
    """The start day of each occurrence: DTSTART, RRULE's (bounded), RDATE's, less EXDATE's."""
    rule = event.get("RRULE")
    firsts = {start}
    if rule is not None:
        if isinstance(rule, list):
            raise ValueError("more than one RRULE: give one rule per event")
        if "COUNT" not in rule and "UNTIL" not in rule:
            raise ValueError("RRULE without COUNT or UNTIL repeats for ever: give one of them")
        from dateutil.rrule import rrulestr

        try:
            expanded = rrulestr(rule.to_ical().decode(), dtstart=datetime.combine(start, datetime.min.time()))
            occurrences = []
            for moment in expanded:
                occurrences.append(moment.date())
                if len(occurrences) > MAX_OCCURRENCES:
                    raise ValueError(f"RRULE gives more than {MAX_OCCURRENCES} occurrences")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"RRULE {rule.to_ical().decode()} is not understood: {exc}") from None
        firsts.update(occurrences)
    for name, add in (("RDATE", True), ("EXDATE", False)):
        values = event.get(name)
        for entry in values if isinstance(values, list) else [values] if values is not None else []:
            for item in entry.dts:
                day = _date_of(item, name)
                if add:
                    firsts.add(day)
                else:
                    firsts.discard(day)
    return sorted(firsts)


# -- CSV -------------------------------------------------------------------------------------------------------------


def _csv(data: bytes) -> tuple[dict[date, tuple[bool, str | None]], dict[str, str], int]:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ValidationError("the CSV file must be UTF-8", details={"file": "not UTF-8"}) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "date" not in header or "kind" not in header:
        raise ValidationError(
            "the CSV header must name date and kind (and may name name)", details={"columns": ", ".join(header)}
        )
    reader.fieldnames = header
    days: dict[date, tuple[bool, str | None]] = {}
    origin: dict[date, str] = {}
    problems: dict[str, str] = {}
    entries = 0
    try:
        for row in reader:
            values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str) and isinstance(v, str)}
            if not any(values.values()):
                continue
            entries += 1
            where = f"line {reader.line_num}"
            kind = values.get("kind", "").lower()
            if kind not in KINDS:
                problems[f"{where}: kind"] = f"{values.get('kind')!r}: expected holiday or workday"
            try:
                day = date.fromisoformat(values.get("date", ""))
            except ValueError:
                problems[f"{where}: date"] = f"{values.get('date')!r}: expected YYYY-MM-DD"
                continue
            if not _in_range(day):
                problems[f"{where}: date"] = f"{day} is outside {FIRST_YEAR}–{LAST_YEAR}"
            elif kind in KINDS:
                clash = _add(days, origin, day, KINDS[kind], values.get("name") or None, where)
                if clash:
                    problems[f"{where}: date"] = clash
    except csv.Error as exc:
        raise ValidationError(f"not valid CSV at line {reader.line_num}: {exc}", details={"file": "CSV"}) from None
    return days, problems, entries
