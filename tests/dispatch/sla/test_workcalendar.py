"""Working time: the deadline and elapsed functions, property-tested over China's 2025-2026 calendar and other zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dispatch.sla.workcalendar import LIMIT_TYPES, WorkingCalendar, chinese_overrides, working_deadline, working_elapsed

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHINA = WorkingCalendar(SHANGHAI, overrides=chinese_overrides([2025, 2026]))


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# Instants in 2025-2026, to the minute, and amounts in whole minutes (so sums are exact).
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 11, 30)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
)
hours = st.integers(min_value=0, max_value=60 * 200).map(lambda m: m / 60)
types = st.sampled_from(LIMIT_TYPES)


def amount_for(limit_type: str, h: float) -> float:
    return h / 8 if limit_type == "working_days" else (h / 24 if limit_type == "natural_days" else h)


@settings(max_examples=300, deadline=None)
@given(start=instants, a=hours, b=hours, limit_type=types)
def test_monotonic_and_additive(start: datetime, a: float, b: float, limit_type: str) -> None:
    a, b = amount_for(limit_type, a), amount_for(limit_type, b)
    first = working_deadline(start, a, limit_type, CHINA)
    both = working_deadline(start, a + b, limit_type, CHINA)
    assert first <= both
    assert abs((working_deadline(first, b, limit_type, CHINA) - both).total_seconds()) < 1e-3


@settings(max_examples=300, deadline=None)
@given(start=instants, a=hours, limit_type=types)
def test_elapsed_is_the_inverse_of_deadline(start: datetime, a: float, limit_type: str) -> None:
    a = amount_for(limit_type, a)
    due = working_deadline(start, a, limit_type, CHINA)
    assert working_elapsed(start, due, limit_type, CHINA) == pytest.approx(a, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(start=instants, end=instants)
@example(start=datetime(2025, 10, 10, 0, 0, tzinfo=UTC), end=datetime(2025, 10, 12, 0, 0, tzinfo=UTC))  # found by CI
def test_deadline_of_elapsed_gives_back_the_end_when_it_is_working_time(start: datetime, end: datetime) -> None:
    if end < start:
        start, end = end, start
    worked = working_elapsed(start, end, "working_hours", CHINA)
    due = working_deadline(start, worked, "working_hours", CHINA)
    assert due <= end
    # Only non-working time lies between the two.
    assert working_elapsed(due, end, "working_hours", CHINA) == pytest.approx(0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(start=instants, a=st.integers(min_value=1, max_value=60 * 80).map(lambda m: m / 60))
def test_a_working_deadline_falls_in_working_time(start: datetime, a: float) -> None:
    local = working_deadline(start, a, "working_hours", CHINA).astimezone(SHANGHAI)
    assert CHINA.is_workday(local.date())
    assert time(8) < local.time() <= time(12) or time(14) < local.time() <= time(18)


def test_a_weekday_in_working_hours() -> None:
    assert working_deadline(bj(2026, 11, 23, 9, 30), 4, "working_hours", CHINA) == bj(2026, 11, 23, 15, 30)
    assert working_deadline(bj(2026, 11, 23, 9, 30), 1, "working_days", CHINA) == bj(2026, 11, 24, 9, 30)
    assert working_deadline(bj(2026, 11, 23, 20, 0), 2, "working_hours", CHINA) == bj(2026, 11, 24, 10, 0)
    assert working_deadline(bj(2026, 11, 27, 17, 0), 2, "working_hours", CHINA) == bj(2026, 11, 30, 9, 0)  # Fri → Mon
    assert working_deadline(bj(2026, 11, 28, 23, 0), 2, "urgent_hours", CHINA) == bj(2026, 11, 29, 1, 0)
    assert working_deadline(bj(2026, 11, 23, 9, 30), 2, "natural_days", CHINA) == bj(2026, 11, 25, 9, 30)


def test_statutory_holidays_are_skipped() -> None:
    # National Day 2026: Thursday 1 October to Wednesday 7 October are holidays.
    due = working_deadline(bj(2026, 9, 30, 16, 0), 4, "working_hours", CHINA).astimezone(SHANGHAI)
    assert due.date() == date(2026, 10, 8) and due.time() == time(10, 0)
    assert working_elapsed(bj(2026, 10, 1, 0, 0), bj(2026, 10, 8, 0, 0), "working_hours", CHINA) == 0


def test_make_up_working_days_are_counted() -> None:
    # Saturday 14 February 2026 is a make-up working day (调休) before the Spring Festival.
    assert CHINA.is_workday(date(2026, 2, 14)) and not CHINA.is_workday(date(2026, 2, 16))
    assert working_elapsed(bj(2026, 2, 14, 0, 0), bj(2026, 2, 15, 0, 0), "working_hours", CHINA) == 8
    assert working_elapsed(bj(2026, 2, 21, 0, 0), bj(2026, 2, 22, 0, 0), "working_hours", CHINA) == 0  # plain Saturday


def test_city_overrides_and_periods_are_configuration() -> None:
    shifts = WorkingCalendar(SHANGHAI, periods=((time(9), time(17, 30)),), overrides={date(2026, 11, 23): False})
    assert shifts.day_seconds == 8.5 * 3600
    assert working_deadline(bj(2026, 11, 23, 10, 0), 1, "working_hours", shifts) == bj(2026, 11, 24, 10, 0)
    with pytest.raises(ValueError, match="increasing and non-overlapping"):
        WorkingCalendar(SHANGHAI, periods=((time(14), time(18)), (time(8), time(12))))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((datetime(2026, 1, 5, 9), 1, "working_hours"), "aware datetime"),
        ((bj(2026, 1, 5, 9), -1, "working_hours"), "at least 0"),
        ((bj(2026, 1, 5, 9), float("nan"), "working_hours"), "finite"),
        ((bj(2026, 1, 5, 9), 1, "fortnights"), "limit type must be one of"),
        ((bj(2026, 1, 5, 9), 10_000, "working_days"), "runs past"),
    ],
)
def test_bad_arguments(args, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        working_deadline(*args, CHINA)


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Europe/London", "Australia/Sydney"])
@settings(max_examples=100, deadline=None)
@given(start=instants, a=hours)
def test_other_zones_daylight_saving_included(zone: str, start: datetime, a: float) -> None:
    calendar = WorkingCalendar(ZoneInfo(zone))
    due = working_deadline(start, a, "working_hours", calendar)
    assert working_elapsed(start, due, "working_hours", calendar) == pytest.approx(a, abs=1e-6)
    if a > 0:
        local = due.astimezone(ZoneInfo(zone))
        assert local.weekday() < 5 and (time(8) < local.time() <= time(12) or time(14) < local.time() <= time(18))


def test_a_working_day_across_a_daylight_saving_change_is_still_eight_working_hours() -> None:
    la = ZoneInfo("America/Los_Angeles")
    calendar = WorkingCalendar(la)
    # Clocks go back on Sunday 1 November 2026: Friday 9:00 + 1 working day is Monday 9:00, 72 real hours + 1.
    friday = datetime(2026, 10, 30, 9, 0, tzinfo=la)
    due = working_deadline(friday, 1, "working_days", calendar)
    assert due.astimezone(la) == datetime(2026, 11, 2, 9, 0, tzinfo=la)
    assert (due - friday.astimezone(UTC)).total_seconds() == 73 * 3600
