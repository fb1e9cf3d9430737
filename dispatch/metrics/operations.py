"""Evaluation (绩效评价, DOMAIN.md §6): the standard indicators, computed from cases and their event log in SQL.

Every figure is defined once, here and in its SQL (queries.py): `FACTS_SQL` turns cases and events into counted facts,
each on a day (the city's local date of the moment it counts at) and under a cell (with its community, street and
district), a department and/or a person (the inspector, shift leader or dispatcher who made the move); `RATES` turns the
counts into rates. A report over any date range is the sum of the facts on its days, either straight from cases and
events (`direct`) or from the roll-up tables `metric_days` and `metric_months` (`from_rollups`), which the periodic job
`metrics-rollup` keeps current by rebuilding only the days that changed. Both give the same numbers (tested on
randomised data); the roll-ups answer a year over millions of cases in about 100 ms.

The counts (each on the day given; "on time" = the move was made at or before the deadline of the step it was
made in, `case_events.step_due_at`, written by the workflow; events written before it was recorded have none and
count as on time):

- closed (结案数): cases closed, on their closing day; closed_on_time: of those, the last handling (处置) was on
  time (at or before the handling deadline with granted extensions and suspensions); a case closed with no
  handling recorded (imported history) is on time when it was closed by its handling deadline, or has none.
- overdue_open (超期未结案数): cases still open, not suspended, whose handling deadline (`disposal_due_at`) has
  passed, on the deadline's day; overdue_unhandled: of those, the ones the department never handled.
- handled (处置数): cases handled, counted once, at their first handling (its day, its department);
  handled_on_time: of those, the first handling was on time; reworked (返工数): of those, the cases with a failed
  check (once per case, however many checks failed). A later handling (after rework) counts no more.
- filed (立案数), filed_on_time: `file` moves (by the shift leader who filed); filed_cancelled: of those, the cases
  cancelled (作废) after filing, counted on the filing and charged to its leader.
- dispatched (派遣数), dispatched_on_time: `dispatch` moves (by the dispatcher); wrong_dispatches (错误派遣): of
  those, the dispatches the case was returned from and then dispatched to another department, counted on the wrong
  dispatch and charged to its dispatcher (not to the department that received the corrected one). Dispatches are
  the centre's work: they count under cells and dispatchers, not departments.
- reports (上报数) by inspectors, on the report's day, and valid_reports: those filed (立案), whenever, and not
  merged into another case as a duplicate.
- verifications, verifications_on_time: `verify` moves; checks, checks_on_time: `check` moves (by the inspector
  who made them).
- verified_public (监督举报核实数): public reports (public, hotline, open311) verified as real (`verify` pass, or
  `verify_by_phone` where the city allows it; the latter is no inspector's verification and not in theirs).
- received (接诉数): reports from the public (public, hotline, open311), on the report's day, under the case's cell;
  responded (响应数): of those, the centre's first answer (file, request_verification, verify_by_phone, cancel or
  merge) was made within the acceptance step's limit. Regions only: departments get a case after it is answered.
- callbacks (回访数): cases called back (回访), counted once by their latest call-back, on its day, under the case's
  cell and its department; callbacks_resolved: of those, the caller said the problem was solved (解决);
  callbacks_satisfied, callbacks_basically_satisfied: the caller was satisfied (满意), basically satisfied (基本满意).
- missed (漏报数): verified public reports in a cell that had an assigned inspector (grids.InspectorCell) when it was
  reported, of which no assigned inspector reported the same problem (a report of theirs merged into it or it into
  theirs), on the report's day: per region once, per inspector for each assigned inspector who missed it.
- reported_cases (案件数): cases reported, from any source, on the report's day, under the case's cell, leaving out a
  case merged into another as its duplicate (no second problem): what the big screen's density counts.
- filed for an inspector (their beat's 立案数): cases filed in the cells they were assigned when it was reported.

Department figures count under the department responsible at the move (for cases: the case's department). A case
reworked and then returned and re-dispatched counts as handled for the department of its first handling only. The
indicators (a rate is None when its denominator is 0):

- due (应结案数) = closed + overdue_open (suspended cases are left out)
- closing_rate (结案率) = closed / due; on_time_closing_rate (按期结案率) = closed_on_time / due
- due_for_handling (应处置数) = handled + overdue_unhandled; disposal_rate (处置率) = handled / due_for_handling;
  on_time_disposal_rate (按期处置率) = handled_on_time / due_for_handling; overdue_handled (超期处置数) = handled
  − handled_on_time
- rework_rate (返工率) = reworked / handled
- valid_report_rate (有效上报率) = valid_reports / reports; on_time_verification_rate (按时核实率) =
  verifications_on_time / verifications; on_time_check_rate (按时核查率) = checks_on_time / checks;
  missed_report_rate (漏报率) = missed / filed
- on_time_filing_rate (按时立案率) = filed_on_time / filed; accurate_filing_rate (准确立案率) = (filed −
  filed_cancelled) / filed
- on_time_dispatch_rate (按时派遣率) = dispatched_on_time / dispatched; accurate_dispatch_rate (准确派遣率) =
  (dispatched − wrong_dispatches) / dispatched
- public_report_rate (监督举报率) = verified_public / filed
- 接诉即办's three rates: response_rate (响应率) = responded / received; resolution_rate (解决率) =
  callbacks_resolved / callbacks; satisfaction_rate (满意率) = (callbacks_satisfied + callbacks_basically_satisfied)
  / callbacks

The composite score (综合指标值, 0–100) weighs components (rates, or volume_score = due / the largest due among
the groups reported) by configurable weights (`CITYMGMT_METRICS_WEIGHTS`, *local*), over the components that have
a value; grades by configurable bands (`CITYMGMT_METRICS_GRADES`, A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.errors import ValidationError
from citymgmt.core.periodic import periodic
from dispatch.metrics.queries import (
    AREA_NAMES_SQL,
    BUILD_LOCK_SQL,
    CHANGED_DAYS_SQL,
    COUNTS,
    DELETE_DAYS_SQL,
    DELETE_MONTHS_SQL,
    DEPARTMENT_NAMES_SQL,
    FIRST_REPORT_SQL,
    MONTHS_SQL,
    ROLLUP_SQL,
    USER_NAMES_SQL,
    direct_counts_sql,
    rollup_counts_sql,
)

GROUPS = ("cell", "community", "street", "district", "department", "inspector", "leader", "dispatcher")
PEOPLE = ("inspector", "leader", "dispatcher")  # groupings by person (the user id)
# Which roll-up dimension each grouping reads, and the column it groups on.
_DIM_OF = {
    "cell": ("cell", "key"),
    "community": ("community", "key"),
    "street": ("street", "key"),
    "district": ("district", "key"),
    "department": ("department", "key"),
    "inspector": ("inspector", "key"),
    "leader": ("leader", "key"),
    "dispatcher": ("dispatcher", "key"),
}
# The indicators: name -> (numerator, denominator) over the counts ("a-b" and "a+b" allowed in a numerator).
RATES: dict[str, tuple[str, str]] = {
    "closing_rate": ("closed", "due"),
    "on_time_closing_rate": ("closed_on_time", "due"),
    "disposal_rate": ("handled", "due_for_handling"),
    "on_time_disposal_rate": ("handled_on_time", "due_for_handling"),
    "rework_rate": ("reworked", "handled"),
    "valid_report_rate": ("valid_reports", "reports"),
    "on_time_verification_rate": ("verifications_on_time", "verifications"),
    "on_time_check_rate": ("checks_on_time", "checks"),
    "missed_report_rate": ("missed", "filed"),
    "on_time_filing_rate": ("filed_on_time", "filed"),
    "accurate_filing_rate": ("filed-filed_cancelled", "filed"),
    "on_time_dispatch_rate": ("dispatched_on_time", "dispatched"),
    "accurate_dispatch_rate": ("dispatched-wrong_dispatches", "dispatched"),
    "public_report_rate": ("verified_public", "filed"),
    "response_rate": ("responded", "received"),
    "resolution_rate": ("callbacks_resolved", "callbacks"),
    "satisfaction_rate": ("callbacks_satisfied+callbacks_basically_satisfied", "callbacks"),
}
# The figures that mean something for each kind of group.
REGION_INDICATORS = (
    "closing_rate",
    "on_time_closing_rate",
    "disposal_rate",
    "on_time_disposal_rate",
    "rework_rate",
    "on_time_filing_rate",
    "accurate_filing_rate",
    "on_time_dispatch_rate",
    "accurate_dispatch_rate",
    "public_report_rate",
    "missed_report_rate",
    "valid_report_rate",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
)
INDICATORS_FOR: dict[str, tuple[str, ...]] = {
    "region": REGION_INDICATORS,
    "department": (
        "closing_rate",
        "on_time_closing_rate",
        "disposal_rate",
        "on_time_disposal_rate",
        "rework_rate",
        "resolution_rate",
        "satisfaction_rate",
    ),
    "inspector": ("valid_report_rate", "on_time_verification_rate", "on_time_check_rate", "missed_report_rate"),
    "leader": ("on_time_filing_rate", "accurate_filing_rate"),
    "dispatcher": ("on_time_dispatch_rate", "accurate_dispatch_rate"),
}
# Composite score weights (DOMAIN.md §6, *local*); "1-x" scores 1 minus the rate x.
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "department": {"volume_score": 10, "closing_rate": 30, "on_time_disposal_rate": 30, "1-rework_rate": 30},
    "inspector": {
        "valid_report_rate": 40,
        "1-missed_report_rate": 20,
        "on_time_verification_rate": 20,
        "on_time_check_rate": 20,
    },
    "region": {"volume_score": 10, "closing_rate": 30, "on_time_disposal_rate": 30, "1-rework_rate": 30},
    # DOMAIN.md §6 names the shift leader's and the dispatcher's indicators but no weights: equal ones (*local*).
    "leader": {"on_time_filing_rate": 50, "accurate_filing_rate": 50},
    "dispatcher": {"on_time_dispatch_rate": 50, "accurate_dispatch_rate": 50},
}
DEFAULT_GRADES = "A:90,B:75,C:60,D:40,E:0"


def kind_of(group_by: str) -> str:
    return group_by if group_by == "department" or group_by in PEOPLE else "region"


# -- the roll-up tables ---------------------------------------------------------------------------------------


class _Counts:
    """The counts of one day (or month) under one cell, area (community, street, district: its cells added up),
    department or person (dim); cells and areas carry the areas they are in."""

    dim: Mapped[str] = mapped_column(String(10), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    community_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(9))
    district_code: Mapped[str | None] = mapped_column(String(6))
    closed: Mapped[int] = mapped_column(Integer)
    closed_on_time: Mapped[int] = mapped_column(Integer)
    overdue_open: Mapped[int] = mapped_column(Integer)
    overdue_unhandled: Mapped[int] = mapped_column(Integer)
    handled: Mapped[int] = mapped_column(Integer)
    handled_on_time: Mapped[int] = mapped_column(Integer)
    reworked: Mapped[int] = mapped_column(Integer)
    filed: Mapped[int] = mapped_column(Integer)
    filed_on_time: Mapped[int] = mapped_column(Integer)
    filed_cancelled: Mapped[int] = mapped_column(Integer)
    dispatched: Mapped[int] = mapped_column(Integer)
    dispatched_on_time: Mapped[int] = mapped_column(Integer)
    wrong_dispatches: Mapped[int] = mapped_column(Integer)
    reports: Mapped[int] = mapped_column(Integer)
    valid_reports: Mapped[int] = mapped_column(Integer)
    verifications: Mapped[int] = mapped_column(Integer)
    verifications_on_time: Mapped[int] = mapped_column(Integer)
    checks: Mapped[int] = mapped_column(Integer)
    checks_on_time: Mapped[int] = mapped_column(Integer)
    verified_public: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer)
    responded: Mapped[int] = mapped_column(Integer)
    callbacks: Mapped[int] = mapped_column(Integer)
    callbacks_resolved: Mapped[int] = mapped_column(Integer)
    callbacks_satisfied: Mapped[int] = mapped_column(Integer)
    callbacks_basically_satisfied: Mapped[int] = mapped_column(Integer)
    reported_cases: Mapped[int] = mapped_column(Integer)


class MetricDay(_Counts, db.Model):  # type: ignore[name-defined]
    __tablename__ = "metric_days"
    # A map's view reads its few thousand cells by key (rollup_counts_sql with cells), not the city's by day.
    __table_args__ = (Index("ix_metric_days_cell_key", "key", "day", postgresql_where=text("dim = 'cell'")),)


class MetricMonth(_Counts, db.Model):  # type: ignore[name-defined]
    """The days of a calendar month summed (day = the month's first day): a year is 12 rows per group."""

    __tablename__ = "metric_months"
    __table_args__ = (Index("ix_metric_months_cell_key", "key", "day", postgresql_where=text("dim = 'cell'")),)


# The build's name, changed with the definitions: under a new name the next run rebuilds every day (disposal and
# rework per case, wrong dispatches and cancelled filings charged to the move that was wrong: "daily-2"; the
# 接诉即办 response and the call-backs: "daily-3"; the cases reported and the areas' own rows: "daily-4").
BUILD = "daily-4"


class MetricBuild(db.Model):  # type: ignore[name-defined]
    """Up to when the roll-ups are built: the job rebuilds the days touched since (with an overlap)."""

    __tablename__ = "metric_builds"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    days_rebuilt: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True)
class Period:
    """Days first..last (inclusive) in the city's zone."""

    first: date
    last: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(0), zone)
        end = datetime.combine(self.last + timedelta(days=1), time(0), zone)
        return start, end


def parse_period(first: str | date | None, last: str | date | None) -> Period:
    def parse(name: str, value: str | date | None) -> date:
        if isinstance(value, date):
            return value
        if not value:
            raise ValidationError(f"give {name} as a date (YYYY-MM-DD)", details={name: "required"})
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{name}={value!r} is not a date (YYYY-MM-DD)", details={name: "not a date"}
            ) from None

    period = Period(parse("from", first), parse("to", last))
    if period.last < period.first:
        raise ValidationError("to is before from", details={"to": "before from"})
    if (period.last - period.first).days > 366 * 5:
        raise ValidationError("a period of at most five years", details={"to": "more than five years after from"})
    return period


def check_group(group_by: str | None) -> str:
    if group_by not in GROUPS:
        raise ValidationError(
            f"group_by must be one of {', '.join(GROUPS)}", details={"group_by": f"one of {', '.join(GROUPS)}"}
        )
    return group_by


# -- computing ------------------------------------------------------------------------------------------------


def counts_sql(
    group_by: str, period: Period, now: datetime, settings: Settings, fresh: bool, keys: list[str] | None = None
) -> tuple[str, dict]:
    """The SQL (and its parameters) of the counts per group (columns key, *COUNTS): directly from cases and events
    (fresh) or from the roll-ups; other queries (the dashboard's map) join it as a subquery. With `keys` (cells
    only), the groups of those keys alone: the cells of a map's view, read by key."""
    if keys is not None and group_by != "cell":
        raise ValueError("keys are cell codes")
    sql, params = _direct_sql(group_by, period, now, settings, keys) if fresh else _rollups_sql(group_by, period, keys)
    return sql, params if keys is None else {**params, "keys": keys}


def _direct_sql(
    group_by: str, period: Period, now: datetime, settings: Settings, keys: list[str] | None = None
) -> tuple[str, dict]:
    dim, column = _DIM_OF[check_group(group_by)]
    key = {
        "cell": "cell_code",
        "community": "community_code",
        "street": "street_code",
        "district": "district_code",
        "department": "department_code",
        "inspector": "inspector_id",
        "leader": "leader_id",
        "dispatcher": "dispatcher_id",
    }[dim]
    group_col = key if column == "key" else column
    sql = direct_counts_sql(group_col, key, keys is not None)
    start, end = period.bounds(settings.zone)
    return sql, {"start": start, "end": end, "now": now, "tz": settings.timezone}


def direct(session: Session, group_by: str, period: Period, now: datetime, settings: Settings) -> dict[str, dict]:
    """The counts per group, computed from cases and events (the definition; slow over millions)."""
    sql, params = _direct_sql(group_by, period, now, settings)
    rows = session.execute(text(sql), params)
    return {r.key: {c: getattr(r, c) for c in COUNTS} for r in rows}


def _month_after(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _rollups_sql(group_by: str, period: Period, keys: list[str] | None = None) -> tuple[str, dict]:
    dim, column = _DIM_OF[check_group(group_by)]
    months_from = period.first if period.first.day == 1 else _month_after(period.first)
    last_whole = (period.last + timedelta(days=1)).day == 1
    months_to = _month_after(period.last) if last_whole else period.last.replace(day=1)
    if months_to <= months_from:  # no whole month: every day from the daily roll-ups
        months_from = months_to = period.last + timedelta(days=1)
    sql = rollup_counts_sql(column, cells=keys is not None)
    params = {
        "dim": dim,
        "first": period.first,
        "last": period.last,
        "months_from": months_from,
        "months_to": months_to,
    }
    return sql, params


def from_rollups(session: Session, group_by: str, period: Period) -> dict[str, dict]:
    """The counts per group, summed from the roll-ups (as of their last build): the whole months of the period
    from the monthly ones, the days before and after them from the daily ones."""
    sql, params = _rollups_sql(group_by, period)
    rows = session.execute(text(sql), params)
    return {r.key: {c: getattr(r, c) for c in COUNTS} for r in rows}


def rebuild_range(session: Session, first: date, last: date, now: datetime, settings: Settings) -> None:
    """Replace the roll-ups of days first..last by what the events say as of `now` (idempotent)."""
    session.execute(text(DELETE_DAYS_SQL), {"first": first, "last": last})
    start, end = Period(first, last).bounds(settings.zone)
    session.execute(text(ROLLUP_SQL), {"start": start, "end": end, "now": now, "tz": settings.timezone})
    months = {"first": first.replace(day=1), "end": _month_after(last)}
    session.execute(text(DELETE_MONTHS_SQL), months)
    session.execute(text(MONTHS_SQL), months)


RebuildDays = Callable[[Session, date, date, datetime, Settings], None]


def changed_days(session: Session, since: datetime, now: datetime, settings: Settings) -> list[date]:
    """The days (city's zone) whose facts may have changed since `since`: those of every case with an event since
    then (its events, their deadlines, its report, closing and handling deadline) and those whose handling deadlines
    passed since then. Other roll-ups of cases (the analyses') rebuild the same days."""
    params = {"since": since, "now": now, "tz": settings.timezone}
    return list(session.execute(text(CHANGED_DAYS_SQL), params).scalars())


def lock_build(session: Session, name: str) -> None:
    """One build of a name at a time: a transaction lock, released at the commit."""
    session.execute(text(BUILD_LOCK_SQL), {"lock": f"citymgmt.{name}"})


def days_since_first_report(session: Session, now: datetime, settings: Settings) -> list[date]:
    """Every day (city's zone) from the first report's to now's: what a first build covers."""
    first = session.execute(text(FIRST_REPORT_SQL)).scalar_one_or_none()
    if first is None:
        return []
    first_day, last_day = first.astimezone(settings.zone).date(), now.astimezone(settings.zone).date()
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def record_build(session: Session, name: str, now: datetime, days: int) -> None:
    """Remember that the build `name` is up to date as of `now` (with the number of days it rebuilt)."""
    build = session.get(MetricBuild, name, with_for_update=True)
    if build is None:
        session.add(MetricBuild(name=name, built_at=now, days_rebuilt=days))
    else:
        build.built_at, build.days_rebuilt = now, days
    session.flush()


def refresh_build(
    session: Session,
    name: str,
    rebuild: RebuildDays,
    now: datetime,
    settings: Settings,
    overlap: timedelta = timedelta(hours=1),
) -> int:
    """Rebuild, with `rebuild(session, first, last, now, settings)`, the days that changed since the build `name`
    last ran (every day since the first report the first time); the days rebuilt. One build of a name at a time;
    moves committed late are caught by re-reading an hour back."""
    lock_build(session, name)
    build = session.get(MetricBuild, name, with_for_update=True)
    if build is None:
        days = days_since_first_report(session, now, settings)
    else:
        days = changed_days(session, min(build.built_at, now) - overlap, now, settings)
    for first_day, last_day in day_runs(days):
        rebuild(session, first_day, last_day, now, settings)
    record_build(session, name, now, len(days))
    return len(days)


def refresh(session: Session, now: datetime, settings: Settings, overlap: timedelta = timedelta(hours=1)) -> int:
    """Rebuild the metrics' roll-ups of the days that changed since their last build; the days rebuilt."""
    return refresh_build(session, BUILD, rebuild_range, now, settings, overlap)


def rebuild_all(session: Session, first: date, last: date, now: datetime, settings: Settings) -> None:
    lock_build(session, BUILD)
    rebuild_range(session, first, last, now, settings)


def day_runs(days: list[date]) -> list[tuple[date, date]]:
    """The days as runs of consecutive days (first, last), each rebuilt by one statement."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][1] <= timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


@periodic("metrics-rollup", every=3600, queue="low")
def refresh_periodically(session: Session, now: datetime, settings: Settings) -> dict[str, Any]:
    return {"days_rebuilt": refresh(session, now, settings)}


# -- indicators and scores ------------------------------------------------------------------------------------


def weights_from(settings: Settings) -> dict[str, dict[str, float]]:
    weights = {kind: dict(w) for kind, w in DEFAULT_WEIGHTS.items()}
    if settings.metrics_weights:
        for kind, w in json.loads(settings.metrics_weights).items():
            weights[kind] = {k: float(v) for k, v in w.items()}
    return weights


def grades_from(settings: Settings) -> list[tuple[str, float]]:
    bands = []
    for part in (settings.metrics_grades or DEFAULT_GRADES).split(","):
        grade, _, bound = part.strip().partition(":")
        bands.append((grade.strip(), float(bound)))
    return sorted(bands, key=lambda b: -b[1])


def _value(expr: str, counts: dict[str, int]) -> int:
    total = 0
    for sign, name in re.findall(r"([+-]?)([a-z_]+)", expr):
        total += -counts[name] if sign == "-" else counts[name]
    return total


def indicators(counts: dict[str, int], kind: str) -> dict[str, Any]:
    """The derived counts and the rates (None when nothing is due) of one group."""
    full = dict(counts)
    full["due"] = counts["closed"] + counts["overdue_open"]
    full["due_for_handling"] = counts["handled"] + counts["overdue_unhandled"]
    full["overdue_handled"] = counts["handled"] - counts["handled_on_time"]
    rates = {}
    for name in INDICATORS_FOR[kind]:
        numerator, denominator = RATES[name]
        below = _value(denominator, full)
        rates[name] = None if below == 0 else round(_value(numerator, full) / below, 6)
    return {"counts": full, "rates": rates}


def score(rates: dict[str, float | None], volume: float | None, weights: dict[str, float]) -> float | None:
    """The weighted score (0–100) over the components that have a value."""
    total = weighed = 0.0
    for component, weight in weights.items():
        if component == "volume_score":
            value = volume
        elif component.startswith("1-"):
            rate = rates.get(component[2:])
            value = None if rate is None else 1 - rate
        else:
            value = rates.get(component)
        if value is None or weight <= 0:
            continue
        total += weight * value
        weighed += weight
    return None if weighed == 0 else round(100 * total / weighed, 2)


def group_score(kind: str, figures: dict[str, Any], largest_due: int, weights: dict[str, float]) -> float | None:
    """A group's composite score. A department or region with nothing due (应结案数 0) has none: it is not rated
    (shown "—"), rather than scored 0 on its case volume alone."""
    due = figures["counts"]["due"]
    if kind in ("department", "region") and due == 0:
        return None
    volume = None if largest_due == 0 else due / largest_due
    return score(figures["rates"], volume, weights)


def grade(value: float | None, bands: list[tuple[str, float]]) -> str | None:
    if value is None:
        return None
    return next((g for g, bound in bands if value >= bound), bands[-1][0] if bands else None)


NAMES_SQL = {
    "community": AREA_NAMES_SQL,
    "street": AREA_NAMES_SQL,
    "district": AREA_NAMES_SQL,
    "department": DEPARTMENT_NAMES_SQL,
    **dict.fromkeys(PEOPLE, USER_NAMES_SQL),
}


def names(session: Session, group_by: str, keys: list[str]) -> dict[str, str]:
    """What people call the groups (cells have only their codes)."""
    if group_by not in NAMES_SQL or not keys:
        return {}
    return {k: n for k, n in session.execute(text(NAMES_SQL[group_by]), {"keys": keys})}


def report(
    session: Session,
    group_by: str,
    period: Period,
    now: datetime,
    settings: Settings,
    fresh: bool = False,
) -> dict[str, Any]:
    """The report: per group its counts, rates, score and grade, best score first."""
    kind = kind_of(check_group(group_by))
    counts = direct(session, group_by, period, now, settings) if fresh else from_rollups(session, group_by, period)
    weights, bands = weights_from(settings).get(kind, {}), grades_from(settings)
    largest = max((c["closed"] + c["overdue_open"] for c in counts.values()), default=0)
    rows = []
    called = names(session, group_by, list(counts))
    for key, c in counts.items():
        figures = indicators(c, kind)
        value = group_score(kind, figures, largest, weights)
        rows.append({"key": key, "name": called.get(key), **figures, "score": value, "grade": grade(value, bands)})
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0), r["key"]))
    build = None if fresh else session.get(MetricBuild, BUILD)
    return {
        "group_by": group_by,
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "source": "direct" if fresh else "rollups",
        "as_of": (now if fresh else (build.built_at if build else None)),
        "weights": weights,
        "groups": rows,
    }
