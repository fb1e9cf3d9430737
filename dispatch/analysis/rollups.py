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

from sqlalchemy import Date, Float, Index, Integer, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.periodic import periodic
from dispatch.analysis.queries import (
    ADJACENCY_SQL,
    ANALYZE_DAYS_SQL,
    ANALYZE_KEPT_SQL,
    CELLS_KEPT_SQL,
    DELETE_ADJACENCY_SQL,
    DELETE_CELLS_SQL,
    DELETE_DAYS_SQL,
    DELETE_NEIGHBOURS_SQL,
    GRID_STATE_SQL,
    NEIGHBOURS_SQL,
    ROLLUP_SQL,
)
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
# The kept neighbourhoods' row in metric_builds: built_at is the grid's last change they were built from, and
# days_rebuilt its live cells (a retirement changes the count).
GRID_BUILD = "analysis-grid"


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
        Index("ix_analysis_days_component", "component_id", "day", postgresql_where=text("component_id <> ''")),
    )


class AnalysisCell(db.Model):  # type: ignore[name-defined]
    """A live cell's area and its neighbourhood's (itself and the live cells touching it) size and area, among the
    cells of its district, street, community and everywhere: what hot spots' statistics need of the grid, kept so
    that a district's tens of thousands of outlines need not be read and intersected at every question."""

    __tablename__ = "analysis_cells"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    area_m2: Mapped[float] = mapped_column(Float)
    k_city: Mapped[int] = mapped_column(Integer)
    area_city: Mapped[float] = mapped_column(Float)
    k_district: Mapped[int] = mapped_column(Integer)
    area_district: Mapped[float] = mapped_column(Float)
    k_street: Mapped[int] = mapped_column(Integer)
    area_street: Mapped[float] = mapped_column(Float)
    k_community: Mapped[int] = mapped_column(Integer)
    area_community: Mapped[float] = mapped_column(Float)


class AnalysisNeighbour(db.Model):  # type: ignore[name-defined]
    """A live cell (cell_code) and one of its neighbours, itself included: a cell's cases are added to its
    neighbours' neighbourhood counts through it."""

    __tablename__ = "analysis_neighbours"

    neighbour_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    cell_code: Mapped[str] = mapped_column(String(15), primary_key=True)


class AnalysisAdjacency(db.Model):  # type: ignore[name-defined]
    """A district's neighbourhoods among its own live cells, as one sparse matrix (compressed rows, the cells
    numbered in code order; see ADJACENCY_SQL): what hot spots of a district read instead of a row a neighbour."""

    __tablename__ = "analysis_adjacency"

    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    cells: Mapped[int] = mapped_column(Integer)
    indptr: Mapped[bytes] = mapped_column(LargeBinary)
    indices: Mapped[bytes] = mapped_column(LargeBinary)


def keep_grid(session: Session, force: bool = False) -> bool:
    """Rebuild the kept neighbourhoods when the grid changed since they were built (or `force`); whether it did."""
    state = session.execute(text(GRID_STATE_SQL)).one()
    build = session.get(MetricBuild, GRID_BUILD, with_for_update=True)
    if state.changed is None:
        return False
    if not force and build is not None and build.built_at == state.changed and build.days_rebuilt == state.live:
        return False
    session.execute(text(DELETE_ADJACENCY_SQL))
    session.execute(text(DELETE_CELLS_SQL))
    session.execute(text(DELETE_NEIGHBOURS_SQL))
    session.execute(text(NEIGHBOURS_SQL))
    session.execute(text(CELLS_KEPT_SQL))
    session.execute(text(ADJACENCY_SQL))
    for statement in ANALYZE_KEPT_SQL:
        session.execute(text(statement))
    record_build(session, GRID_BUILD, state.changed, state.live)
    return True


def grid_kept(session: Session) -> bool:
    return session.get(MetricBuild, GRID_BUILD) is not None


def rebuild_range(session: Session, first: date, last: date, now: datetime, settings: Settings) -> None:
    """Replace the roll-up of days first..last by what the cases say now (idempotent)."""
    session.execute(text(DELETE_DAYS_SQL), {"first": first, "last": last})
    start, end = Period(first, last).bounds(settings.zone)
    session.execute(text(ROLLUP_SQL), {"start": start, "end": end, "tz": settings.timezone})


def refresh(session: Session, now: datetime, settings: Settings) -> int:
    """Rebuild the days that changed since the last build (all of them the first time), and the kept
    neighbourhoods if the grid changed; the days rebuilt."""
    days = refresh_build(session, BUILD, rebuild_range, now, settings)
    keep_grid(session)
    return days


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
            keep_grid(session, force=True)
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
    session.execute(text(ANALYZE_DAYS_SQL))
    if days is not None:
        keep_grid(session, force=True)
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
