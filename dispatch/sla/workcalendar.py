"""Working time (工作时): the one place deadlines and elapsed times are computed, as pure functions.

Four limit types (DOMAIN.md §5): `urgent_hours` and `natural_days` run continuously (nights, weekends, holidays);
`working_hours` count only time inside the working periods of working days; `working_days` count whole working
days as one day's working time each (with 08:00–12:00 and 14:00–18:00, one working day is 8 working hours, so a
case reported Monday 09:00 with one working day is due Tuesday 09:00). Working days are Monday to Friday, except
statutory holidays, plus make-up working days (调休), from chinese-calendar, with the city's own overrides on top.

All arithmetic is done in UTC instants; periods are the city's wall-clock times in its zone, so the functions are
right in any configured zone, offset changes included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LIMIT_TYPES = ("urgent_hours", "working_hours", "working_days", "natural_days")
DEFAULT_PERIODS = ((time(8), time(12)), (time(14), time(18)))
MAX_DAYS = 3 * 366  # a limit that would run past three years of calendar is refused


@dataclass(frozen=True)
class WorkingCalendar:
    zone: ZoneInfo
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    # Days that differ from "Monday to Friday": True = a working day (make-up), False = not (holiday).
    overrides: Mapping[date, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        previous = time(0)
        for start, end in self.periods:
            if not previous <= start < end:
                raise ValueError("working periods must be increasing and non-overlapping, each start before its end")
            previous = end
        if not self.periods:
            raise ValueError("at least one working period is needed")

    def is_workday(self, day: date) -> bool:
        return self.overrides.get(day, day.weekday() < 5)

    @property
    def day_seconds(self) -> float:
        return sum((_seconds(e) - _seconds(s)) for s, e in self.periods)

    def working_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working periods as UTC instants (none on a day off)."""
        if not self.is_workday(day):
            return []
        return [
            (
                datetime.combine(day, s, tzinfo=self.zone).astimezone(UTC),
                datetime.combine(day, e, tzinfo=self.zone).astimezone(UTC),
            )
            for s, e in self.periods
        ]


def _seconds(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second


def chinese_overrides(years: Iterable[int]) -> dict[date, bool]:
    """China's statutory holidays on weekdays and make-up working days on weekends, for the years chinese-calendar
    knows (the others are left to the city's own overrides)."""
    import chinese_calendar

    out: dict[date, bool] = {}
    for year in years:
        day = date(year, 1, 1)
        try:
            chinese_calendar.is_workday(day)
        except NotImplementedError:
            continue
        while day.year == year:
            workday = chinese_calendar.is_workday(day)
            if workday != (day.weekday() < 5):
                out[day] = workday
            day += timedelta(days=1)
    return out


def _check(start: datetime, amount: float, limit_type: str) -> None:
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    if limit_type not in LIMIT_TYPES:
        raise ValueError(f"limit type must be one of {', '.join(LIMIT_TYPES)}")
    if not math.isfinite(amount) or amount < 0:
        raise ValueError("amount must be a finite number, at least 0")


def working_deadline(start: datetime, amount: float, limit_type: str, calendar: WorkingCalendar) -> datetime:
    """The instant (UTC) at which `amount` of the limit type has passed since `start`."""
    _check(start, amount, limit_type)
    start = start.astimezone(UTC)
    if limit_type == "urgent_hours":
        return start + timedelta(hours=amount)
    if limit_type == "natural_days":
        return start + timedelta(days=amount)
    # Whole microseconds, exactly: float seconds would leave residues that push a deadline into the next period.
    seconds = amount * 3600 if limit_type == "working_hours" else amount * calendar.day_seconds
    remaining = timedelta(microseconds=round(seconds * 1_000_000))
    if not remaining:
        return start
    day = start.astimezone(calendar.zone).date()
    for _ in range(MAX_DAYS):
        for begin, end in calendar.working_intervals(day):
            s = max(begin, start)
            if s >= end:
                continue
            available = end - s
            if remaining <= available:
                return s + remaining
            remaining -= available
        day += timedelta(days=1)
    raise ValueError(f"{amount} {limit_type} from {start.isoformat()} runs past {MAX_DAYS} days of calendar")


def in_hours(amount: float, limit_type: str, calendar: WorkingCalendar) -> tuple[float, str]:
    """A limit as hours of the clock it runs on: working days as the working hours they hold (urgent hours and
    working hours as they are, natural days as 24 hours each)."""
    _check(datetime.now(UTC), amount, limit_type)
    if limit_type == "working_days":
        return amount * calendar.day_seconds / 3600, "working_hours"
    if limit_type == "natural_days":
        return amount * 24, "urgent_hours"
    return amount, limit_type


def working_elapsed(start: datetime, end: datetime, limit_type: str, calendar: WorkingCalendar) -> float:
    """How much of the limit type has passed between two instants (negative if `end` is before `start`):
    hours for the hour types, days for the day types."""
    _check(start, 0, limit_type)
    if end.tzinfo is None:
        raise ValueError("end must be an aware datetime")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end < start:
        return -working_elapsed(end, start, limit_type, calendar)
    seconds = (end - start).total_seconds()
    if limit_type == "urgent_hours":
        return seconds / 3600
    if limit_type == "natural_days":
        return seconds / 86400
    worked = timedelta(0)
    day = start.astimezone(calendar.zone).date()
    last = end.astimezone(calendar.zone).date()
    while day <= last:
        for begin, finish in calendar.working_intervals(day):
            overlap = min(finish, end) - max(begin, start)
            if overlap > timedelta(0):
                worked += overlap
        day += timedelta(days=1)
    total = worked.total_seconds()
    return total / 3600 if limit_type == "working_hours" else total / calendar.day_seconds
