"""A case as the shell shows it, and who may see which cases: the one place each of these is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.errors import NotFound
from citymgmt.core.identity import OVERSEERS, Role, User
from dispatch.cases.models import Case, CaseClock, CaseEvent, State
from dispatch.cases.photos import Attachment
from dispatch.components.operations import case_component_view
from dispatch.workflow.moves import allowed_actions
from dispatch.workflow.queries import CASE_POINT_SQL
from grids.models import InspectorCell


class ReadsAsItsCase:
    """What is not its own is its case's (`self.case`): the API's case schemas dump it as they dump a case."""

    case: Case

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.case, name)


@dataclass
class CaseFile(ReadsAsItsCase):
    """A case with what its page shows beside the row: the point, photos, events, the component and what the
    viewer may do now. Anything else is read from the case itself (`case_file.code` is `case_file.case.code`). The
    JSON of it is written by the API's case schema alone (citymgmt.api.cases)."""

    case: Case
    lon: float
    lat: float
    photos: list[Attachment]
    events: list[CaseEvent]
    duplicate_candidates: list[dict[str, Any]]
    component: dict[str, Any] | None
    allowed_actions: list[str]
    actors: list[User]  # who made the events (their names and roles show who acted)

    @property
    def contact(self) -> dict[str, Any] | None:
        return self.case.reporter_contact


def case_file(
    session: Session,
    case: Case,
    viewer: User,
    settings: Settings,
    written: tuple[tuple[float, float], list[CaseEvent]] | None = None,
) -> CaseFile:
    """The case as the API shows it to the viewer (centre staff get the caller's contact: they may call back).
    `written`: the point and the events of the report that just wrote it, without photos (nothing is read back)."""
    if written is not None:
        (lon, lat), events = written
        photos: list[Attachment] = []
    else:
        lon, lat = session.execute(text(CASE_POINT_SQL), {"id": case.id}).one()
        events = list(
            session.execute(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
            ).scalars()
        )
        photos = list(
            session.execute(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)).scalars()
        )
    reported = next((e for e in events if e.action == "report"), None)
    payload = reported.payload if reported else {}
    candidates = payload.get("duplicate_candidates", [])
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    if written is not None:  # the report just written: its one actor is the viewer
        actors = [viewer] if viewer.id in actor_ids else []
    else:
        actors = list(session.execute(select(User).where(User.id.in_(actor_ids)).order_by(User.id)).scalars())
        if candidates:  # only those still live may be originals: not merged into another case, not cancelled
            live = set(
                session.execute(
                    select(Case.id).where(
                        Case.id.in_([d["id"] for d in candidates]),
                        Case.duplicate_of.is_(None),
                        Case.status != State.cancelled,
                    )
                ).scalars()
            )
            candidates = [d for d in candidates if d["id"] in live]
    return CaseFile(
        case=case,
        lon=lon,
        lat=lat,
        photos=photos,
        events=events,
        duplicate_candidates=candidates,
        component=case_component_view(session, case, payload),
        allowed_actions=allowed_actions(case, viewer, settings),
        actors=actors,
    )


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


# The level column a cell filter of that many digits is (DB11: a case's codes are its cell's code's prefixes).
_LEVEL_OF_PREFIX = {6: Case.district_code, 9: Case.street_code, 12: Case.community_code}


def _in_area(prefix: str) -> ColumnElement[bool]:
    """The cases whose cell code begins with `prefix` (6 to 15 digits): the prefix match, narrowed by the equality
    of the widest level column it covers (the district's, street's or community's code, indexed with reported_at),
    or the cell itself, so that no list scans every case for a LIKE."""
    if len(prefix) == 15:
        return Case.cell_code == prefix
    match = Case.cell_code.startswith(prefix, autoescape=True)
    covered = max((n for n in _LEVEL_OF_PREFIX if n <= len(prefix)), default=None)
    return match if covered is None else and_(_LEVEL_OF_PREFIX[covered] == prefix[:covered], match)


def list_cases(
    session: Session,
    viewer: User,
    filters: dict[str, Any],
    offset: int,
    limit: int,
    count_ahead: int | None = None,
) -> tuple[list[Case], int, bool]:
    """The cases the viewer may see, newest first, filtered; with the total for paging and whether it is exact.

    Visibility is `visible_to`'s. With `count_ahead`, the cases are counted no further than `count_ahead` past the
    page's last one: a larger total is given as that bound, not exact (a count of every case of a city is seconds
    at millions); the bound is always past the page, so a next page is seen.

    By light, the cases are found through their clocks (`case_clocks`, the light's copy that the same transaction
    keeps, indexed by light and report time there, since no index of cases may hold the light); with no other
    condition the page and the count are the clocks' alone, and only the page's cases are read."""
    rule = visible_to(viewer)
    conditions: list[ColumnElement[bool]] = [] if rule is None else [rule]
    for name, column in (
        ("status", Case.status),
        ("department", Case.department_code),
        ("category", Case.category_code),
    ):
        if filters.get(name):
            conditions.append(column == filters[name])
    if filters.get("mine"):  # the cases the viewer reported (an inspector's "my reports")
        conditions.append(Case.reporter_id == viewer.id)
    if filters.get("escalated"):  # escalated (督办), the department's reply still owed
        conditions.append(Case.escalated.is_(True))
    if filters.get("cell"):  # a cell, community, street or district code
        conditions.append(_in_area(filters["cell"]))
    bound = None if count_ahead is None else offset + limit + count_ahead
    light = filters.get("light")
    if light and not conditions:  # the clocks alone: their index pages and counts, then the page's cases are read
        lit = CaseClock.light == light
        counted = select(CaseClock.case_id).where(lit)
        page = select(CaseClock.case_id, CaseClock.reported_at).where(lit)
        paged = page.order_by(CaseClock.reported_at.desc(), CaseClock.case_id.desc()).offset(offset).limit(limit)
        on = paged.subquery()
        listed = select(Case).join(on, on.c.case_id == Case.id).order_by(on.c.reported_at.desc(), on.c.case_id.desc())
    else:
        newest: tuple[ColumnElement[Any], ...] = (Case.reported_at.desc(), Case.id.desc())
        counted, listed = select(Case.id), select(Case)
        if light:  # the clock's report time is the case's: its index gives the order
            counted = counted.join(CaseClock, CaseClock.case_id == Case.id)
            listed = listed.join(CaseClock, CaseClock.case_id == Case.id)
            conditions.append(CaseClock.light == light)
            newest = (CaseClock.reported_at.desc(), CaseClock.case_id.desc())
        counted = counted.where(*conditions)
        listed = listed.where(*conditions).order_by(*newest).offset(offset).limit(limit)
    if bound is not None:
        counted = counted.limit(bound + 1)
    read_at_scale(session)
    total = session.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
    rows = session.execute(listed).scalars()
    if bound is not None and total > bound:
        return list(rows), bound, False
    return list(rows), total, True
