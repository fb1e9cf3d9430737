"""A case as the shell shows it, and who may see which cases: the one place each of these is written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.errors import NotFound
from citymgmt.core.identity import OVERSEERS, Role, User
from dispatch.cases.models import Case, CaseEvent
from dispatch.cases.photos import Attachment
from dispatch.components.operations import case_component_view
from dispatch.workflow.moves import allowed_actions
from grids.models import InspectorCell


def case_view(
    session: Session,
    case: Case,
    viewer: User,
    settings: Settings,
    written: tuple[tuple[float, float], list[CaseEvent]] | None = None,
) -> dict[str, Any]:
    """A case as the API shows it to centre staff (the caller's contact included: they may call back). `written`:
    the point and the events of the report that just wrote it, without photos (nothing is read back)."""
    if written is not None:
        (lon, lat), events = written
        photos: list[Attachment] = []
    else:
        lon, lat = session.execute(
            text("SELECT ST_X(point), ST_Y(point) FROM cases WHERE id = :id"), {"id": case.id}
        ).one()
        events = list(
            session.execute(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
            ).scalars()
        )
        photos = list(
            session.execute(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)).scalars()
        )
    reported = next((e for e in events if e.action == "report"), None)
    return {
        **case_summary(case),
        "description": case.description,
        "address": case.address,
        "lon": lon,
        "lat": lat,
        "community_code": case.community_code,
        "street_code": case.street_code,
        "contact": case.reporter_contact,
        "photos": [
            {
                "id": p.id,
                "url": f"/api/v1/cases/{case.id}/photos/{p.id}",
                "thumb_url": f"/api/v1/cases/{case.id}/photos/{p.id}?size=thumb",
                "width": p.width,
                "height": p.height,
                "event_id": p.event_id,
            }
            for p in photos
        ],
        "duplicate_candidates": (reported.payload.get("duplicate_candidates", []) if reported else []),
        "duplicate_of": case.duplicate_of,
        "component": case_component_view(session, case, reported.payload if reported else {}),
        "disposal_due_at": case.disposal_due_at,
        "warn_at": case.warn_at,
        "pending_request": case.pending_request,
        "extensions_granted": case.extensions_granted,
        "escalated": case.escalated,
        "check_passed": case.check_passed,
        "allowed_actions": allowed_actions(case, viewer, settings),
        "events": [
            {
                "id": e.id,  # photos name the event they came with (event_id)
                "action": e.action,
                "at": e.at,
                "actor_id": e.actor_id,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "payload": e.payload,
            }
            for e in events
        ],
    }


def visible_to(viewer: User) -> ColumnElement[bool] | None:
    """Which cases the viewer may see, as a condition (None: all). The one place this rule is written: centre
    staff and supervisors see every case, handlers their department's, inspectors the ones they reported and
    those in their cells (where they verify and check), and the originals their reports were merged into."""
    if viewer.has_role(*OVERSEERS):
        return None
    mine: list[ColumnElement[bool]] = []
    if viewer.has_role(Role.handler) and viewer.department_code:
        mine.append(Case.department_code == viewer.department_code)
    if viewer.has_role(Role.inspector):
        mine.append(Case.reporter_id == viewer.id)
        beat = select(InspectorCell.cell_code).where(
            InspectorCell.user_id == viewer.id, InspectorCell.unassigned_at.is_(None)
        )
        mine.append(Case.cell_code.in_(beat))
        # The originals their reports were merged into: the reporter is linked to the original.
        merged = select(Case.duplicate_of).where(Case.reporter_id == viewer.id, Case.duplicate_of.is_not(None))
        mine.append(Case.id.in_(merged.scalar_subquery()))
    return or_(*mine) if mine else false()


def visible_case(session: Session, viewer: User, case_id: int) -> Case:
    """The case if the viewer may see it; NotFound otherwise (a case one may not see looks like a missing one)."""
    rule = visible_to(viewer)
    query = select(Case).where(Case.id == case_id)
    case = session.execute(query if rule is None else query.where(rule)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def list_cases(
    session: Session,
    viewer: User,
    filters: dict[str, Any],
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """The cases the viewer may see, newest first, filtered; with the total count for paging.

    Visibility is `visible_to`'s."""
    rule = visible_to(viewer)
    query = select(Case) if rule is None else select(Case).where(rule)
    for name, column in (
        ("status", Case.status),
        ("department", Case.department_code),
        ("light", Case.light),
        ("category", Case.category_code),
    ):
        if filters.get(name):
            query = query.where(column == filters[name])
    if filters.get("cell"):  # a cell, community, street or district code
        query = query.where(Case.cell_code.startswith(filters["cell"], autoescape=True))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(Case.reported_at.desc(), Case.id.desc()).offset(offset).limit(limit)
    ).scalars()
    return [case_summary(c) for c in rows], total


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "code": case.code,
        "status": case.status,
        "source": case.source,
        "category_code": case.category_code,
        "urgency": case.urgency,
        "cell_code": case.cell_code,
        "district_code": case.district_code,
        "department_code": case.department_code,
        "suggested_department_code": case.suggested_department_code,
        "reported_at": case.reported_at,
        "due_at": case.due_at,
        "light": case.light,
        "suspected_duplicate": case.suspected_duplicate,
        "version": case.version,
    }
