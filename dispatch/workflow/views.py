"""A case as the shell shows it, and who may see which cases: the one place each of these is written."""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    SQLColumnExpression,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.errors import NotFound, ValidationError
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
    or the cell itself, so that no list scans every case for a LIKE. A whole district's, street's or community's
    code is that column's equality alone (the prefix match says nothing more of a case): its index then counts the
    list without reading the table, where the prefix match read every case counted."""
    if len(prefix) == 15:
        return Case.cell_code == prefix
    if len(prefix) in _LEVEL_OF_PREFIX:
        return _LEVEL_OF_PREFIX[len(prefix)] == prefix
    match = Case.cell_code.startswith(prefix, autoescape=True)
    covered = max((n for n in _LEVEL_OF_PREFIX if n <= len(prefix)), default=None)
    return match if covered is None else and_(_LEVEL_OF_PREFIX[covered] == prefix[:covered], match)


class Position(NamedTuple):
    """A place in the case list's order, newest first: the report time and id of a case (the last of a page). The
    list after it is the cases strictly older in that order, ties in time by the lower id, whatever the filters."""

    reported_at: datetime
    id: int


# A position as text for a client to send back (the API's `after`, the pages' links): opaque, a version byte and the
# two numbers, base64url. Another version (an older order) is refused, never read as something else.
_CURSOR = struct.Struct(">Bqq")
_CURSOR_VERSION = 1
_CURSOR_TEXT = re.compile(f"[A-Za-z0-9_-]{{{-(-_CURSOR.size * 4 // 3)}}}")  # its length, unpadded
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cursor_of(position: Position) -> str:
    """The cursor a client sends back to read the list after this position."""
    micros = (position.reported_at - _EPOCH) // timedelta(microseconds=1)
    packed = _CURSOR.pack(_CURSOR_VERSION, micros, position.id)
    return base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def position_of(cursor: str, field: str) -> Position:
    """The position a cursor of `cursor_of` names; anything else is refused naming `field`."""
    if not _CURSOR_TEXT.fullmatch(cursor):
        raise ValidationError(
            f"{field} must be a cursor as the list gave it for its next page", details={field: "not a cursor"}
        )
    version, micros, case_id = _CURSOR.unpack(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if version != _CURSOR_VERSION:
        raise ValidationError(
            f"{field} is a cursor of another version of the list: start again from its first page",
            details={field: "cursor of another version"},
        )
    try:
        return Position(_EPOCH + timedelta(microseconds=micros), case_id)
    except OverflowError:
        raise ValidationError(
            f"{field} must be a cursor as the list gave it for its next page",
            details={field: "not a time the list holds"},
        ) from None


class CaseList(NamedTuple):
    """A page of the case list: its cases; the total for paging and whether it is exact; where the next page begins
    (None: this is the last)."""

    cases: list[Case]
    total: int
    exact: bool
    next: Position | None


def list_cases(
    session: Session,
    viewer: User,
    filters: dict[str, Any],
    offset: int,
    limit: int,
    count_ahead: int | None = None,
    after: Position | None = None,
) -> CaseList:
    """The cases the viewer may see, newest first, filtered; with the total for paging, whether it is exact, and the
    position the next page begins after.

    Visibility is `visible_to`'s. With `after` (keyset paging), the list is the cases strictly after that position,
    `offset` and the total count from there: the page is read on the same index as the first page, never past the
    cases before it. With `count_ahead`, the cases are counted no further than `count_ahead` past the page's last
    one: a larger total is given as that bound, not exact (a count of every case of a city is seconds at millions);
    the bound is always past the page, so a next page is seen.

    By light or escalation, the cases are found through their clocks (`case_clocks`, the copy that the same
    transaction keeps, indexed by light or escalation and report time there, since no index of cases may hold what
    the sweep writes); with no other condition the page and the count are the clocks' alone, and only the page's
    cases are read. The clock's report time is the case's, so a position is the same either way."""
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
    if filters.get("cell"):  # a cell, community, street or district code
        conditions.append(_in_area(filters["cell"]))
    bound = None if count_ahead is None else offset + limit + count_ahead
    # On the clocks (which copy a case's light and escalation as they are while it has either): by light, escalated
    # (督办, the department's reply still owed).
    on_clock: list[ColumnElement[bool]] = []
    if filters.get("light"):
        on_clock.append(CaseClock.light == filters["light"])
    if filters.get("escalated"):
        on_clock.append(CaseClock.escalated.is_(True))
    # One row past the page says whether there is a next one.
    if on_clock and not conditions:  # the clocks alone: their index pages and counts, then the page's cases are read
        key: tuple[SQLColumnExpression[datetime], SQLColumnExpression[int]] = (CaseClock.reported_at, CaseClock.case_id)
        counted = select(literal(1)).select_from(CaseClock).where(*on_clock)
        page = select(CaseClock.case_id, CaseClock.reported_at).where(*on_clock, *_after(after, *key))
        paged = page.order_by(CaseClock.reported_at.desc(), CaseClock.case_id.desc()).offset(offset).limit(limit + 1)
        on = paged.subquery()
        listed = select(Case).join(on, on.c.case_id == Case.id).order_by(on.c.reported_at.desc(), on.c.case_id.desc())
    else:
        key = (Case.reported_at, Case.id)
        counted, listed = select(literal(1)).select_from(Case), select(Case)
        if on_clock:  # the clock's report time is the case's: its index gives the order
            key = (CaseClock.reported_at, CaseClock.case_id)
            counted = counted.join(CaseClock, CaseClock.case_id == Case.id)
            listed = listed.join(CaseClock, CaseClock.case_id == Case.id)
            conditions.extend(on_clock)
        counted = counted.where(*conditions)
        listed = listed.where(*conditions, *_after(after, *key))
        listed = listed.order_by(key[0].desc(), key[1].desc()).offset(offset).limit(limit + 1)
    counting = _counted_after(counted, after, *key)
    if bound is not None:
        counting = counting.limit(bound + 1)
    read_at_scale(session)
    total = session.execute(select(func.count()).select_from(counting.subquery())).scalar_one()
    rows = list(session.execute(listed).scalars())
    cases, more = rows[:limit], len(rows) > limit
    following = Position(cases[-1].reported_at, cases[-1].id) if more else None
    if bound is not None and total > bound:
        return CaseList(cases, bound, False, following)
    return CaseList(cases, total, True, following)


def _counted_after(
    counted: Select[Any],
    position: Position | None,
    reported_at: SQLColumnExpression[datetime],
    case_id: SQLColumnExpression[int],
) -> Select[Any] | CompoundSelect:
    """The cases to count after the position, in two parts: those reported before its time, and those of its very
    time with a lower id. Each part is then a range of an index of (…, reported_at) alone, which counts it without
    reading the table (a state's, a department's, a category's index); `_after`'s row comparison needs each case's
    id, which those indexes do not hold, and so read every case counted from the table. Each part selects a
    constant: a part of a UNION that selected the id would read it from the table too."""
    if position is None:
        return counted
    return union_all(
        counted.where(reported_at < position.reported_at),
        counted.where(reported_at == position.reported_at, case_id < position.id),
    )


def _after(
    position: Position | None, reported_at: SQLColumnExpression[datetime], case_id: SQLColumnExpression[int]
) -> list[ColumnElement[bool]]:
    """The cases strictly after the position in the list's order (report time, then id, both descending), as a row
    comparison: PostgreSQL reads it on an index of (…, reported_at) from the position's time on even where the id is
    not in the index (a state's, a department's, a category's, an area's), and tests the id on the rows it reads."""
    if position is None:
        return []
    return [tuple_(reported_at, case_id) < tuple_(position.reported_at, position.id)]
