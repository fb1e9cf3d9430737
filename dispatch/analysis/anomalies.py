"""Anomalies (异常): what is unusual in a day compared with the place's own normal, not only where most.

For each place (cell, community, street or district) and category: the cases of the day against the same weekday in
each of the `weeks` weeks before (the same hours of those days, when the day is today and not over yet), by the
exact conditional test of stats.excess_p, corrected for the number of places tested (those with a case in the day
or its baseline) by Benjamini–Hochberg at `alpha`. Flagged: q ≤ alpha.

A day that was over when the roll-up was last built is counted from the roll-up's days; a later one (today, whose
windows end at the same hour of each day) from the cases, one indexed day of the area per window.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.errors import ValidationError
from dispatch.analysis.queries import anomaly_counts_sql, rolled_anomaly_counts_sql
from dispatch.analysis.rollups import built_at
from dispatch.analysis.scope import Scope, area_names, category_names
from dispatch.analysis.stats import benjamini_hochberg, excess_p
from dispatch.metrics.operations import Period

PLACES = ("cell", "community", "street", "district")


def windows(day: date, weeks: int, now: datetime, settings: Settings) -> tuple[list[datetime], list[datetime]]:
    """The day's window (0) and the same weekday's in each of the `weeks` weeks before (1..weeks), each as long as
    the day has run by `now` (a whole day once it is over)."""
    zone = settings.zone
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    run = min(end, max(start, now)) - start
    if run <= timedelta(0):
        raise ValidationError("the day has not begun", details={"day": "in the future"})
    starts, ends = [], []
    for w in range(weeks + 1):
        s = datetime.combine(day - timedelta(weeks=w), time(0), zone)
        starts.append(s)
        ends.append(s + run)
    return starts, ends


def anomalies(
    session: Session,
    scope: Scope,
    settings: Settings,
    now: datetime,
    *,
    by: str = "cell",
    weeks: int = 8,
    alpha: float = 0.05,
    limit: int = 100,
    fresh: bool = False,
) -> dict[str, Any]:
    """The places and categories whose count in the scope's day (its period must be one day) is significantly above
    their baseline, most significant first, with the number of places tested."""
    if by not in PLACES:
        raise ValidationError(f"by must be one of {', '.join(PLACES)}", details={"by": "unknown place"})
    if not 2 <= weeks <= 52:
        raise ValidationError("weeks must be 2 to 52", details={"weeks": "out of range"})
    if not 0 < alpha < 1:
        raise ValidationError("alpha must be between 0 and 1", details={"alpha": "out of range"})
    if scope.period.first != scope.period.last:
        raise ValidationError("anomalies are for one day: give day", details={"day": "one day"})
    starts, ends = windows(scope.period.first, weeks, now, settings)
    day_over = scope.period.bounds(settings.zone)[1]
    read_at_scale(session)
    when = None if fresh else built_at(session)
    rolled = when is not None and ends[0] >= day_over and when >= day_over  # the day was over at the last build
    source = {"source": "direct", "as_of": None}
    if rolled and when is not None:
        source = {"source": "rollups", "as_of": when.isoformat()}
    params = scope.params(settings) | {"starts": starts, "ends": ends, "weeks": list(range(weeks + 1))}
    if rolled:
        days = [scope.period.first - timedelta(weeks=w) for w in range(weeks + 1)]
        sql = rolled_anomaly_counts_sql(by, scope.area_column)
        rows = session.execute(text(sql), params | {"day": scope.period.first, "days": days}).all()
    else:
        rows = session.execute(text(anomaly_counts_sql(by, scope.area_column)), params).all()
    counts = np.array([r.count for r in rows], dtype=np.float64)
    baselines = np.array([r.baseline for r in rows], dtype=np.float64)
    p = excess_p(counts, baselines, weeks)
    q = benjamini_hochberg(p)
    found = [
        {
            "place": rows[i].place,
            "category_code": rows[i].category_code,
            "count": int(counts[i]),
            "baseline_mean": round(float(baselines[i]) / weeks, 3),
            "p": float(p[i]),
            "q": float(q[i]),
        }
        for i in np.flatnonzero(q <= alpha).tolist()
    ]
    found.sort(key=lambda a: (a["q"], -a["count"], a["place"], a["category_code"]))
    found = found[:limit]
    names = category_names(session, {a["category_code"] for a in found})
    places = area_names(session, {a["place"] for a in found}) if by != "cell" else {}
    for a in found:
        a["category_name"], a["category_name_en"] = names.get(a["category_code"], (None, None))
        a["place_name"] = places.get(a["place"])
    return {
        **scope.describe(),
        "day": scope.period.first.isoformat(),
        "until": ends[0].isoformat(),
        "by": by,
        "weeks": weeks,
        "alpha": alpha,
        "places_tested": len(rows),
        "anomalies": found,
        **source,
    }


def day_scope(day: date | None, now: datetime, settings: Settings, **filters: Any) -> Scope:
    """The scope of one day (today in the city's zone by default)."""
    the_day = day or now.astimezone(settings.zone).date()
    try:
        return Scope(Period(the_day, the_day), **filters)
    except ValidationError as error:
        raise ValidationError(error.message.replace("from", "day"), details={"day": "out of range"}) from None
