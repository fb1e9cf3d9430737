"""Time patterns (时间规律): when in the week each kind of problem is reported, in the city's zone.

For each category (or all together), the scope's cases counted by weekday (Monday first) and hour: a 7 × 24 matrix,
with the busiest hour of the week. It shows when problems are reported, which follows patrols and office hours as
much as when problems arise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.errors import ValidationError
from dispatch.analysis.queries import hour_of_week_sql
from dispatch.analysis.rollups import answered_from
from dispatch.analysis.scope import Scope, category_names

GROUPINGS = ("category", "all")
ALL = "*"


def patterns(
    session: Session, scope: Scope, settings: Settings, *, group_by: str = "category", fresh: bool = False
) -> dict[str, Any]:
    """The hour-of-week profile of each category (group_by=category) or of all cases (all), busiest first: summed
    from the roll-up's hours (`fresh`: counted from the cases)."""
    if group_by not in GROUPINGS:
        raise ValidationError("group_by must be category or all", details={"group_by": "unknown grouping"})
    read_at_scale(session)
    rolled, source = answered_from(session, fresh)
    profiles: dict[str, list[list[int]]] = {}
    for r in session.execute(text(hour_of_week_sql(scope.area_column, rolled)), scope.params(settings)):
        key = r.category_code if group_by == "category" else ALL
        matrix = profiles.setdefault(key, [[0] * 24 for _ in range(7)])
        matrix[r.weekday - 1][r.hour] += int(r.cases)
    names = category_names(session, set(profiles) - {ALL})
    groups: list[dict[str, Any]] = []
    for key, matrix in profiles.items():
        total = sum(map(sum, matrix))
        weekday, hour = max(((d, h) for d in range(7) for h in range(24)), key=lambda dh: matrix[dh[0]][dh[1]])
        name, name_en = names.get(key, (None, None))
        groups.append(
            {
                "category_code": None if key == ALL else key,
                "category_name": name,
                "category_name_en": name_en,
                "cases": total,
                "peak": {"weekday": weekday + 1, "hour": hour, "cases": matrix[weekday][hour]},
                "by_weekday": [sum(row) for row in matrix],
                "by_hour": [sum(matrix[d][h] for d in range(7)) for h in range(24)],
                "matrix": matrix,
            }
        )
    groups.sort(key=lambda g: (-g["cases"], g["category_code"] or ""))
    return {**scope.describe(), "group_by": group_by, "timezone": settings.timezone, "groups": groups, **source}
