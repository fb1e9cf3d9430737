"""Intake: a report becomes a case in its cell, with its first event, in the caller's one transaction.

A repeated Idempotency-Key (per reporter) returns the first case, never a second one, also when two requests
with the same key race: the unique key decides, and the loser reads the winner's case.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from geoalchemy2 import WKBElement
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import select
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import driver, loaded_instance
from citymgmt.core.errors import Conflict, DomainError, Forbidden, Kind, ValidationError
from citymgmt.core.identity import INTAKE_STAFF, Role, User
from citymgmt.core.revisions import remember as remember_revisions
from dispatch.cases.duplicates import Candidate, find_candidates
from dispatch.cases.models import Case, CaseEvent
from dispatch.components.operations import CaseComponent, case_component, named_component, report_point
from dispatch.intake.queries import INSERT_ONCE_SQL, INSERT_SQL, INSERT_WORK_ORDER_SQL, PRELUDE_SQL
from dispatch.routing.match import Facts, facts_for, route
from dispatch.routing.rules import rule_cache
from dispatch.taxonomy.operations import Category, minor_category, minor_category_of_row
from dispatch.workflow.moves import start_clock, system_move
from grids.matching import CellMatch, match_cell

# The accounts of Open311 clients (one per API key) are named so; only they report as "open311".
OPEN311_USER_PREFIX = "open311-"


@dataclass(frozen=True)
class Report:
    category_code: str
    lon: Any
    lat: Any
    crs: str = "wgs84"
    description: str = ""
    address: str | None = None
    urgency: str | None = None
    source: str | None = None
    contact: dict[str, str] | None = None  # a member of the public's name / phone / email
    component_id: str | None = None  # the asset (部件) reported, by its 16-digit id; then lon/lat may be left out
    work_order: str | None = None  # a hotline or public report's work-order number (工单号), one case per source
    request_kind: str | None = None  # what the caller asks for (REQUEST_KINDS: 投诉, 求助, 咨询, 建议)

    def fingerprint(self) -> str:
        """A digest of the report as sent, to tell a retry (the same) from another report under the same key."""
        fields = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}  # as asdict, without its deep copy
        for later in ("work_order", "request_kind"):  # added later: left out when not given, as before them
            if fields[later] is None:
                del fields[later]
        canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeyReused(DomainError):
    kind = Kind.invalid
    code = "idempotency_key_reused"


def _same_report(existing: Case, report: Report) -> Case:
    """The case a repeated Idempotency-Key names, if the report is the one it was first used for."""
    if existing.idempotency_fingerprint is not None and existing.idempotency_fingerprint != report.fingerprint():
        raise IdempotencyKeyReused(
            f"this Idempotency-Key was used for another report (case {existing.code}): use a new key for a new report",
            details={"Idempotency-Key": "used for another report"},
        )
    return existing


class WorkOrderExists(Conflict):
    code = "work_order_exists"


def _work_order_case(session: Session, source: str, work_order: str) -> WorkOrderExists:
    """The refusal of a second report of a work order: it names the case the first one made."""
    code = session.execute(
        select(Case.code).where(Case.external_system == source, Case.external_id == work_order)
    ).scalar_one()
    return WorkOrderExists(
        f"{source} work order {work_order} is already case {code}",
        details={"work_order": "already reported", "case": code},
    )


class Placed(NamedTuple):
    match: CellMatch
    component: CaseComponent | None


def place_report(
    session: Session, category: Category, lon: Any, lat: Any, crs: str, component_id: Any, radius_m: float
) -> Placed:
    """Where a report is and the asset it concerns: the asset it names (whose registered point stands for a point
    left out), or for a component category the nearest live one of its class within the radius, or none. Intake
    and `rules explain` both place a report here, so that the explanation is the routing a report gets."""
    named = named_component(session, component_id, category) if component_id else None
    match = match_cell(session, *report_point(session, lon, lat, crs, named))
    return Placed(match, case_component(session, named, category, match.lon, match.lat, radius_m))


def report_facts(
    session: Session,
    category: Category,
    placed: Placed,
    *,
    urgency: str | None,
    description: str,
    source: str,
    at: datetime,
    zone_info: ZoneInfo,
) -> Facts:
    """What the routing rules look at for a placed report: its asset's owner among them."""
    component = placed.component
    return facts_for(
        session,
        category,
        placed.match,
        urgency=urgency,
        description=description,
        source=source,
        at=at,
        zone_info=zone_info,
        component_id=component.component.id if component else None,
        component_owner=component.component.owner_department_code if component else None,
    )


def suspected_duplicates(
    session: Session, category_code: str, lon: Any, lat: Any, crs: str, now: datetime, settings: Settings
) -> list[Candidate]:
    """The open cases a report of this category at this point would be linked to as a suspected duplicate, as
    intake would find them: for the desk to show before a report is sent. A point outside every cell is refused
    as intake refuses it."""
    category = minor_category(session, category_code)
    match = match_cell(session, lon, lat, crs)
    window = timedelta(hours=settings.duplicate_window_hours)
    return find_candidates(session, category.code, match.lon, match.lat, now, settings.duplicate_radius_m, window)


def source_for(user: User, asked: str | None) -> str:
    if asked in (None, "inspector") and user.has_role(Role.inspector):
        return "inspector"
    if asked in ("hotline", "public") and user.has_role(*INTAKE_STAFF):
        return asked
    if asked == "open311" and user.username.startswith(OPEN311_USER_PREFIX) and user.has_role(*INTAKE_STAFF):
        return asked  # an Open311 client's account (citymgmt.open311.keys)
    if asked is None and user.has_role(*INTAKE_STAFF):
        return "hotline"
    raise Forbidden(
        f"your role may not report as {asked or 'this source'}",
        details={"source": asked, "your_roles": user.roles},
    )


def public_code(number: int, now: datetime, zone: Any) -> str:
    return f"{now.astimezone(zone):%Y%m%d}{number:05d}"


class Reported(NamedTuple):
    case: Case
    created: bool  # False: the Idempotency-Key was seen before, and `case` is the first report's
    events: list[CaseEvent]  # what this report wrote, in order (none when not created)
    point: tuple[float, float] | None  # the stored point (lon, lat) when created

    def written(self) -> tuple[tuple[float, float], list[CaseEvent]] | None:
        """The point and events this report wrote (for `case_view`, which then reads nothing back), if it wrote."""
        return (self.point, self.events) if self.created and self.point is not None else None


def report_case(
    session: Session, reporter: User, report: Report, idempotency_key: str | None, now: datetime, settings: Settings
) -> Reported:
    """The case for this report, whether it is new, and the events it wrote.

    A repeated key costs nothing on the way in: the unique key on insert finds it (the common case, a first report,
    pays no look-up), and a retry the checks would refuse today (a category retired since) still gets its case."""
    try:
        return _report(session, reporter, report, idempotency_key, now, settings)
    except DomainError:
        if idempotency_key is not None:
            existing = _by_key(session, reporter, idempotency_key)
            if existing is not None:
                return Reported(_same_report(existing, report), False, [], None)
        raise


def _report(
    session: Session, reporter: User, report: Report, idempotency_key: str | None, now: datetime, settings: Settings
) -> Reported:
    source = source_for(reporter, report.source)
    # One round trip: the category, the next case number, and the revisions of the rules' and calendar's caches.
    code = report.category_code.strip().upper()
    first = driver(session).execute(PRELUDE_SQL, {"category_code": code}, prepare=True, row_factory=dict_row)
    row = first.fetchone()
    category = minor_category_of_row(session, code, row)
    assert row is not None
    number = int(row["case_number"])
    remember_revisions(session, row)
    urgencies = {limit["urgency"] for limit in category.time_limits}
    if report.urgency is not None and report.urgency not in urgencies:
        raise ValidationError(
            f"{category.code} has no {report.urgency} time limit (it has: {', '.join(sorted(urgencies))})",
            details={"urgency": report.urgency},
        )
    if source == "inspector":
        given = [name for name in ("contact", "work_order", "request_kind") if getattr(report, name)]
        if given:
            raise ValidationError(
                f"an inspector's report carries no {', '.join(given)}: only hotline and public reports do",
                details=dict.fromkeys(given, "not allowed"),
            )
    work_order = (report.work_order or "").strip() or None
    placed = place_report(
        session, category, report.lon, report.lat, report.crs, report.component_id, settings.component_search_radius_m
    )
    match, component = placed
    candidates = find_candidates(
        session,
        category.code,
        match.lon,
        match.lat,
        now,
        settings.duplicate_radius_m,
        timedelta(hours=settings.duplicate_window_hours),
    )
    facts = report_facts(
        session,
        category,
        placed,
        urgency=report.urgency,
        description=report.description,
        source=source,
        at=now,
        zone_info=settings.zone,
    )
    decision = route(session, rule_cache.book(session), facts)
    urgency = report.urgency or (decision.urgency if decision.urgency in urgencies else None) or "normal"
    if urgency not in urgencies:
        raise ValidationError(
            f"{category.code} has no {urgency} time limit: give the urgency ({', '.join(sorted(urgencies))})",
            details={"urgency": "required for this category"},
        )
    values = {
        "code": public_code(number, now, settings.zone),
        "source": source,
        "reporter_id": reporter.id,
        "reporter_contact": Jsonb(report.contact) if report.contact else None,
        "idempotency_key": idempotency_key,
        "idempotency_fingerprint": report.fingerprint() if idempotency_key is not None else None,
        "external_system": source if work_order else None,
        "external_id": work_order,
        "request_kind": report.request_kind,
        "category_id": category.id,
        "category_code": category.code,
        "urgency": urgency,
        "description": report.description.strip(),
        "address": (report.address or "").strip() or None,
        "cell_code": match.cell_code,
        "community_code": match.community_code,
        "street_code": match.street_code,
        "district_code": match.district_code,
        "status": "reported",
        "suspected_duplicate": bool(candidates),
        "component_id": component.component.id if component else None,
        "component_source": component.source if component else None,
        "suggested_department_code": decision.department_code,
        "reported_at": now,
        "updated_at": now,
    }
    # The first step's clock, computed before the insert so that the row is written once.
    clock = Case(status="reported", urgency=urgency)
    start_clock(session, clock, now, settings)
    values.update(step_started_at=clock.step_started_at, due_at=clock.due_at, warn_at=clock.warn_at, light=clock.light)
    report_payload = {
        "source": source,
        "category_code": category.code,
        "cell_code": match.cell_code,
        "duplicate_candidates": [{"id": c.id, "code": c.code, "distance_m": c.distance_m} for c in candidates],
        **({"component": component.payload()} if component else {}),
    }
    params = values | {
        "lon": match.lon,
        "lat": match.lat,
        "report_payload": Jsonb(report_payload),
        "route_payload": Jsonb(decision.explanation),
    }
    sql = INSERT_WORK_ORDER_SQL if work_order else INSERT_SQL if idempotency_key is None else INSERT_ONCE_SQL
    row = driver(session).execute(sql, params, prepare=True, row_factory=dict_row).fetchone()
    if row is None:
        # The key was seen before (a retry), or a concurrent request with the same key won; else the work order
        # was reported before.
        existing = _by_key(session, reporter, idempotency_key) if idempotency_key is not None else None
        if existing is not None:
            return Reported(_same_report(existing, report), False, [], None)
        assert work_order is not None
        raise _work_order_case(session, source, work_order)
    report_id, route_id = row.pop("event_ids")
    # As if loaded: whatever changes it next (moves, callers) goes through the session.
    case = loaded_instance(Case, {**row, "point": _point(match.lon, match.lat)})
    reported = CaseEvent(
        id=report_id,
        case_id=case.id,
        action="report",
        actor_id=reporter.id,
        at=now,
        from_status=None,
        to_status="reported",
        payload=report_payload,
    )
    routed = CaseEvent(
        id=route_id,
        case_id=case.id,
        action="route",
        actor_id=None,
        at=now,
        from_status="reported",
        to_status="reported",
        payload=decision.explanation,
    )
    events = [reported, routed]
    session.add(case)
    auto_file = decision.auto_file if decision.auto_file is not None else source in settings.auto_file_sources
    if not auto_file:
        return Reported(case, True, events, (match.lon, match.lat))
    if auto_file:
        why = {"rule": decision.rule_code} if decision.rule_code else {}
        events.append(system_move(session, case, "file", now, settings, {}, why))
    # A suspected duplicate is not dispatched on its own: someone links it to the original or confirms it (DOMAIN §3).
    if case.status == "filed" and decision.department_code and decision.auto_dispatch and not candidates:
        body = {"department": decision.department_code}
        events.append(system_move(session, case, "dispatch", now, settings, body, {"rule": decision.rule_code}))
    session.flush()  # the events' ids, and the automatic moves in one UPDATE
    return Reported(case, True, events, (match.lon, match.lat))


def _point(lon: float, lat: float) -> WKBElement:
    """The case's point as the ORM holds it: the WKB of a WGS-84 point (little-endian, type 1, x and y), written
    directly; through Shapely and geoalchemy2's from_shape the same bytes cost some 20 times more."""
    return WKBElement(memoryview(struct.pack("<BIdd", 1, 1, lon, lat)), srid=4326)


def _by_key(session: Session, reporter: User, key: str) -> Case | None:
    return session.execute(
        select(Case).where(Case.reporter_id == reporter.id, Case.idempotency_key == key)
    ).scalar_one_or_none()
