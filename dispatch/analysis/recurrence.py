"""Recurrence (高发/反复): places where the same category keeps coming back.

- recurring: a cell, community or registered component (部件) with at least `min_cases` cases of one category within
  `days` days (a sliding window started at each case), ranked by the most cases in one window;
- repeats: a case closed in the period followed, at the same cell or component, by a new case of the same category
  within `within_days` days of the closure (a fix that did not hold), ranked by the number of such repeats.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.errors import ValidationError
from dispatch.analysis.queries import recurring_sql, repeats_sql
from dispatch.analysis.rollups import answered_from
from dispatch.analysis.scope import Scope, area_names, category_names, iso

PLACES = ("cell", "community", "component")


def recurrence(
    session: Session,
    scope: Scope,
    settings: Settings,
    *,
    by: str = "cell",
    min_cases: int = 3,
    days: int = 30,
    within_days: int = 30,
    limit: int = 100,
    fresh: bool = False,
) -> dict[str, Any]:
    """The recurring places and the repeats after closure in the scope, each with its cases (codes, times, states:
    nothing of who reported them). The roll-up says which places can qualify; their cases are read (`fresh`: every
    case of the scope is)."""
    if by not in PLACES:
        raise ValidationError(f"by must be one of {', '.join(PLACES)}", details={"by": "unknown place"})
    if min_cases < 2:
        raise ValidationError("min_cases must be at least 2", details={"min_cases": "at least 2"})
    if not 1 <= days <= 366:
        raise ValidationError("days must be 1 to 366", details={"days": "out of range"})
    if not 1 <= within_days <= 366:
        raise ValidationError("within_days must be 1 to 366", details={"within_days": "out of range"})
    read_at_scale(session)  # planned for its family and category each time, not by a generic plan
    rolled, source = answered_from(session, fresh)
    reports_last = scope.period.last + timedelta(days=within_days + 2)
    params = scope.params(settings) | {"limit": limit, "reports_last": reports_last}
    area = scope.area_column
    # "within D days" of a case: up to, not including, D days after it.
    window = timedelta(days=days) - timedelta(microseconds=1)
    windows = params | {"window": window, "min_cases": min_cases}
    rows = session.execute(text(recurring_sql(by, area, rolled)), windows).all()
    recurring = [
        {
            "place": r.place,
            "category_code": r.category_code,
            "most_in_window": r.most,
            "cases": r.cases,
            "case_list": r.case_list,
        }
        for r in rows
    ]
    repeats_by_place: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in session.execute(text(repeats_sql(by, area, rolled)), params | {"window": timedelta(days=within_days)}):
        repeats_by_place.setdefault((r.place, r.category_code), []).append(
            {
                "closed_case": {"id": r.id, "code": r.code, "closed_at": iso(r.closed_at)},
                "next_case": {
                    "id": r.next_id,
                    "code": r.next_code,
                    "reported_at": iso(r.next_reported_at),
                    "status": r.next_status,
                },
                "days_after_closure": round((r.next_reported_at - r.closed_at).total_seconds() / 86400, 2),
            }
        )
    ranked = sorted(repeats_by_place.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
    repeats: list[dict[str, Any]] = [
        {"place": place, "category_code": category, "repeats": len(items), "pairs": items}
        for (place, category), items in ranked
    ]
    _name(session, by, recurring + repeats)
    return {
        **scope.describe(),
        "by": by,
        "min_cases": min_cases,
        "days": days,
        "within_days": within_days,
        "recurring": recurring,
        "repeats": repeats,
        **source,
    }


def _name(session: Session, by: str, groups: list[dict[str, Any]]) -> None:
    names = category_names(session, {g["category_code"] for g in groups})
    places = area_names(session, {g["place"] for g in groups}) if by == "community" else {}
    for g in groups:
        g["category_name"], g["category_name_en"] = names.get(g["category_code"], (None, None))
        g["place_name"] = places.get(g["place"])
