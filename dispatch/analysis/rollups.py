"""The analyses' roll-up (`analysis_days`): the cases of each local day and hour per cell, category and component,
reported and closed, which the analyses read instead of the cases (queries.py says how).

Kept current like the metrics' roll-ups, by the same mechanism (`refresh_build`, dispatch/metrics): the hourly job
`analysis-rollup` rebuilds the days that changed since its last build (`changed_days`: the days of every case with a
new event, its report and its closing among them), every day the first time; `citymgmt analysis rebuild --from --to`
rebuilds a range (after an import that wrote no events, say). The analyses answer as of the last build; with
`fresh` they count from the cases instead (the definition, and the benchmark's baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.periodic import periodic
from dispatch.analysis.queries import DELETE_DAYS_SQL, ROLLUP_SQL
from dispatch.metrics.operations import (
    MetricBuild,
    Period,
    days_since_first_report,
    lock_build,
    record_build,
    refresh_build,
)

# The build's name (in metric_builds), changed with the roll-up's definition: under a new name the next run rebuilds
# every day.
BUILD = "analysis-1"


class AnalysisDay(db.Model):  # type: ignore[name-defined]
    """The cases of one local day and hour, cell, category and component ('' for none): reported then, closed
    then, and the longest any of those closed had been open (local days from its report to its closing)."""

    __tablename__ = "analysis_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cell_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    category_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    component_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12))
    street_code: Mapped[str] = mapped_column(String(9))
    district_code: Mapped[str] = mapped_column(String(6))
    family: Mapped[str] = mapped_column(String(10))
    reported: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)
    longest_open_days: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_analysis_days_district", "district_code", "day"),
        Index("ix_analysis_days_street", "street_code", "day"),
        Index("ix_analysis_days_community", "community_code", "day"),
        Index("ix_analysis_days_cell", "cell_code", "day"),
        Index("ix_analysis_days_component", "component_id", "day", postgresql_where=text("component_id <> ''")),
    )


def rebuild_range(session: Session, first: date, last: date, now: datetime, settings: Settings) -> None:
    """Replace the roll-up of days first..last by what the cases say now (idempotent)."""
    session.execute(text(DELETE_DAYS_SQL), {"first": first, "last": last})
    start, end = Period(first, last).bounds(settings.zone)
    session.execute(text(ROLLUP_SQL), {"start": start, "end": end, "tz": settings.timezone})


def refresh(session: Session, now: datetime, settings: Settings) -> int:
    """Rebuild the days that changed since the last build (all of them the first time); the days rebuilt."""
    return refresh_build(session, BUILD, rebuild_range, now, settings)


def rebuild(
    session: Session,
    now: datetime,
    settings: Settings,
    period: Period | None = None,
    progress: Callable[[date, date], None] | None = None,
    days_a_step: int = 7,
) -> int:
    """Rebuild every day of the period, a week at a time (`progress` told of each week done); the days rebuilt.
    Without a period: every day since the first report, and the build is recorded as of `now` (the hourly job then
    rebuilds only what changed since)."""
    lock_build(session, BUILD)
    days = days_since_first_report(session, now, settings) if period is None else None
    if days is not None:
        if not days:
            record_build(session, BUILD, now, 0)
            return 0
        period = Period(days[0], days[-1])
    assert period is not None
    first = period.first
    while first <= period.last:
        last = min(period.last, first + timedelta(days=days_a_step - 1))
        rebuild_range(session, first, last, now, settings)
        if progress is not None:
            progress(first, last)
        first = last + timedelta(days=1)
    rebuilt = (period.last - period.first).days + 1
    if days is not None:
        record_build(session, BUILD, now, rebuilt)
    return rebuilt


def built_at(session: Session) -> datetime | None:
    """When the roll-up was last brought up to date (None: never)."""
    build = session.get(MetricBuild, BUILD)
    return build.built_at if build is not None else None


@periodic("analysis-rollup", every=3600, queue="low")
def refresh_periodically(session: Session, now: datetime, settings: Settings) -> dict[str, Any]:
    return {"days_rebuilt": refresh(session, now, settings)}


def answered_from(session: Session, fresh: bool) -> tuple[bool, dict[str, Any]]:
    """Whether an analysis reads the roll-up (unless asked `fresh`, or before its first build: then from the
    cases), and what its answer says of that: its source and, from the roll-up, as of when."""
    when = None if fresh else built_at(session)
    if when is None:
        return False, {"source": "direct", "as_of": None}
    return True, {"source": "rollups", "as_of": when.isoformat()}
