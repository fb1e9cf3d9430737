"""Where a report like this would go, and why: every rule considered, for a report placed as intake places it
(`place_report`: the named or nearest asset too, whose owner comes before the rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from dispatch.intake.operations import place_report, report_facts
from dispatch.routing.match import route
from dispatch.routing.rules import RuleBook
from dispatch.taxonomy.operations import minor_category


def explain_report(
    session: Session,
    book: RuleBook,
    *,
    category_code: str,
    lon: Any,
    lat: Any,
    crs: str,
    at: datetime,
    settings: Settings,
    urgency: str | None = None,
    description: str = "",
    source: str = "inspector",
    component_id: str | None = None,
) -> dict[str, Any]:
    category = minor_category(session, category_code)
    placed = place_report(session, category, lon, lat, crs, component_id, settings.component_search_radius_m)
    facts = report_facts(
        session,
        category,
        placed,
        urgency=urgency,
        description=description,
        source=source,
        at=at,
        zone_info=settings.zone,
    )
    decision = route(session, book, facts, explain_all=True)
    return {
        "category_code": category.code,
        "family": category.family,
        "cell_code": placed.match.cell_code,
        "lon": placed.match.lon,
        "lat": placed.match.lat,
        "at": at,
        "component": placed.component.payload() if placed.component is not None else None,
        "zones": [z.__dict__ for z in facts.zones] if book.uses_zones else [],
        **decision.explanation,
        "manual": decision.department_code is None,
    }
