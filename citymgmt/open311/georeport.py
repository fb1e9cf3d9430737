"""Cases and categories as GeoReport v2 sees them: services, service definitions, service requests, updates.

Only what the public may read leaves here: never the reporter, the caller's contact or staff notes. Status notes
and update descriptions are fixed texts per state, in the caller's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import Select, String, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from citymgmt.core.departments import Department
from citymgmt.core.errors import NotFound
from citymgmt.open311.keys import Open311Request
from citymgmt.open311.render import w3c
from dispatch.cases.models import OPEN_STATES, Case, CaseEvent
from dispatch.cases.photos import Attachment
from dispatch.taxonomy.operations import Category, current_version

# What the public is told of each state (zh-CN, English).
STATUS_NOTES = {
    "reported": ("已受理，等待处理", "Received, awaiting review"),
    "verifying": ("正在现场核实", "Being verified on site"),
    "filed": ("已立案，等待派遣", "Accepted, awaiting dispatch"),
    "dispatched": ("已派遣至处置部门", "Sent to the responsible department"),
    "handled": ("处置部门已处理，等待核查", "Handled by the department, awaiting inspection"),
    "checking": ("正在现场核查", "Being inspected on site"),
    "closed": ("已结案", "Resolved and closed"),
    "suspended": ("暂缓办理", "Deferred"),
    "cancelled": ("不予受理或已作废", "Not accepted or cancelled"),
}
MERGED_NOTE = ("与已有问题重复，已合并", "A duplicate of an earlier report, merged into it")

# The mySociety servicerequestupdates extension's statuses, as FixMyStreet reads them (its Open311 client maps
# CLOSED to "fixed" unless the body uses extended statuses): a cancelled case was not fixed, so it says
# NO_FURTHER_ACTION; a merged one DUPLICATE. README's Open311 section lists this mapping.
UPDATE_STATUS = {
    "reported": "OPEN",
    "verifying": "INVESTIGATING",
    "filed": "OPEN",
    "dispatched": "ACTION_SCHEDULED",
    "handled": "IN_PROGRESS",
    "checking": "IN_PROGRESS",
    "closed": "FIXED",
    "suspended": "ACTION_SCHEDULED",
    "cancelled": "NO_FURTHER_ACTION",
}
MERGED_STATUS = "DUPLICATE"
# What a client may send on POST servicerequestupdates (recorded with its comment, never applied to the case).
CLIENT_STATUSES = (
    "OPEN", "CLOSED", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "PLANNED", "INVESTIGATING", "DUPLICATE",
    "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "REOPEN", "FOR_TRIAGE",
)  # fmt: skip


def update_status(status: str, merged: bool, style: str) -> str:
    """A change of state as the updates feed says it: extended statuses, or plain OPEN/CLOSED."""
    if style == "plain":
        return "OPEN" if status in OPEN_STATES else "CLOSED"
    return MERGED_STATUS if merged else UPDATE_STATUS[status]


URGENCY_HELP = ("可选；默认按规则或一般", "Optional; by default from the rules, or normal")
URGENCY_NAMES = {"urgent": ("紧急", "Urgent"), "normal": ("一般", "Normal")}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def open_or_closed(status: str) -> str:
    return "open" if status in OPEN_STATES else "closed"


def _minor_categories(session: Session) -> tuple[list[Category], dict[str, Category]]:
    version = current_version(session)
    rows = list(
        session.execute(select(Category).where(Category.version_code == version).order_by(Category.code)).scalars()
    )
    return [c for c in rows if c.level == "minor"], {c.code: c for c in rows if c.level == "major"}


def service_list(session: Session, lang: str) -> list[dict[str, Any]]:
    minors, majors = _minor_categories(session)
    out = []
    for c in minors:
        major = majors.get(c.parent_code or "")
        out.append(
            {
                "service_code": c.code,
                "service_name": c.name_en if lang == "en" else c.name,
                "description": c.filing_criteria or (c.name_en if lang == "en" else c.name),
                "metadata": True,
                "type": "realtime",
                "keywords": ", ".join(c.keywords or []),
                "group": (major.name_en if lang == "en" else major.name) if major else c.family,
            }
        )
    return out


def category_for_service(session: Session, code: str) -> Category:
    version = current_version(session)
    category = session.execute(
        select(Category).where(Category.version_code == version, Category.code == code.strip().upper())
    ).scalar_one_or_none()
    if category is None or category.level != "minor":
        raise NotFound(f"service_code {code} not found", details={"service_code": "unknown"})
    return category


def urgencies_of(category: Category) -> list[str]:
    found = {limit["urgency"] for limit in category.time_limits}
    return [u for u in ("normal", "urgent") if u in found]


def service_definition(category: Category, lang: str) -> dict[str, Any]:
    attributes: list[dict[str, Any]] = [
        {
            "variable": True,
            "code": "urgency",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": _pick(URGENCY_HELP, lang),
            "order": 1,
            "description": _pick(("紧急程度", "Urgency"), lang),
            "values": [{"key": u, "name": _pick(URGENCY_NAMES[u], lang)} for u in urgencies_of(category)],
        }
    ]
    if category.filing_criteria:
        attributes.append(
            {
                "variable": False,
                "code": "filing_criteria",
                "datatype": "text",
                "required": False,
                "datatype_description": None,
                "order": 2,
                "description": category.filing_criteria,
                "values": [],
            }
        )
    return {"service_code": category.code, "attributes": attributes}


@dataclass(frozen=True)
class RequestFilter:
    codes: list[str] | None  # service_request_id: overrides everything else
    service_codes: list[str] | None
    start: datetime
    end: datetime
    statuses: list[str] | None  # open, closed
    offset: int
    limit: int


PHOTO_DIGEST_CHARS = 16  # of the photo's SHA-256 in its public name: nobody can list photos by counting ids


def photo_name(photo_id: int, sha256: str) -> str:
    """The public name of a report's photo: its id and enough of its digest that names cannot be guessed."""
    return f"{photo_id}-{sha256[:PHOTO_DIGEST_CHARS]}"


def _first_report_photo() -> Any:
    """The public name of the first photo sent with the report itself (not the handler's or checker's photos)."""
    return (
        select(func.concat(Attachment.id, "-", func.left(Attachment.sha256, PHOTO_DIGEST_CHARS)))
        .join(CaseEvent, CaseEvent.id == Attachment.event_id)
        .where(Attachment.case_id == Case.id, CaseEvent.action == "report")
        .order_by(Attachment.id)
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )


def report_photo(session: Session, photo_id: int, digest: str) -> Attachment:
    """A photo that came with a report, by its public name; NotFound for anything else."""
    photo = session.execute(
        select(Attachment)
        .join(CaseEvent, CaseEvent.id == Attachment.event_id)
        .where(Attachment.id == photo_id, CaseEvent.action == "report")
    ).scalar_one_or_none()
    if photo is None or len(digest) != PHOTO_DIGEST_CHARS or not photo.sha256.startswith(digest):
        raise NotFound("no such media")
    return photo


def _request_query(publish_photos: bool = False) -> Select[Any]:
    category = aliased(Category)
    photo = _first_report_photo() if publish_photos else literal(None, String)
    return (
        select(
            Case,
            func.ST_X(Case.point),
            func.ST_Y(Case.point),
            Department.name,
            Department.name_en,
            category.name,
            category.name_en,
            Open311Request.media_url,
            Open311Request.address_id,
            photo,
        )
        .join(category, category.id == Case.category_id)
        .outerjoin(Department, Department.code == Case.department_code)
        .outerjoin(Open311Request, Open311Request.case_id == Case.id)
    )


def _request_view(row: Any, zone: Any, lang: str) -> dict[str, Any]:
    case, lon, lat, dept, dept_en, name, name_en, media_url, address_id, photo = row
    if media_url is None and photo is not None:
        media_url = url_for("open311.media", name=photo, _external=True)
    en = lang == "en"
    notes = MERGED_NOTE if case.duplicate_of is not None and case.status == "cancelled" else STATUS_NOTES[case.status]
    expected = case.disposal_due_at or case.due_at
    return {
        "service_request_id": case.code,
        "status": open_or_closed(case.status),
        "status_notes": _pick(notes, lang),
        "service_name": name_en if en else name,
        "service_code": case.category_code,
        "description": case.description,
        "agency_responsible": (dept_en if en else dept) if dept else None,
        "service_notice": None,
        "requested_datetime": w3c(case.reported_at, zone),
        "updated_datetime": w3c(case.updated_at, zone),
        "expected_datetime": w3c(expected, zone) if case.status in OPEN_STATES else None,
        "address": case.address,
        "address_id": address_id,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url,
    }


def list_requests(
    session: Session, flt: RequestFilter, zone: Any, lang: str, publish_photos: bool = False
) -> list[dict[str, Any]]:
    query = _request_query(publish_photos)
    if flt.codes is not None:
        query = query.where(Case.code.in_(flt.codes))
    else:
        query = query.where(Case.reported_at >= flt.start, Case.reported_at <= flt.end)
        if flt.service_codes:
            query = query.where(Case.category_code.in_(flt.service_codes))
        if flt.statuses and len(set(flt.statuses)) == 1:
            is_open = Case.status.in_(OPEN_STATES)
            query = query.where(is_open if flt.statuses[0] == "open" else ~is_open)
    rows = session.execute(query.order_by(Case.reported_at.desc(), Case.id.desc()).offset(flt.offset).limit(flt.limit))
    return [_request_view(row, zone, lang) for row in rows]


def get_request(session: Session, code: str, zone: Any, lang: str, publish_photos: bool = False) -> dict[str, Any]:
    row = session.execute(_request_query(publish_photos).where(Case.code == code)).first()
    if row is None:
        raise NotFound(f"service_request_id {code} not found", details={"service_request_id": "unknown"})
    return _request_view(row, zone, lang)


def case_by_code(session: Session, code: str, lock: bool = False) -> Case:
    query = select(Case).where(Case.code == code)
    case = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if case is None:
        raise NotFound(f"service_request_id {code} not found", details={"service_request_id": "unknown"})
    return case


def client_update(session: Session, case_id: int, client: str, update_id: str) -> int | None:
    """The comment an Open311 client's update with this update_id already made on the case, if any."""
    found = session.execute(
        select(CaseEvent.id)
        .where(
            CaseEvent.case_id == case_id,
            CaseEvent.action == "comment",
            CaseEvent.payload["open311"]["client"].astext == client,
            CaseEvent.payload["open311"]["update_id"].astext == update_id,
        )
        .order_by(CaseEvent.id)
        .limit(1)
    ).scalar_one_or_none()
    return found


def list_updates(
    session: Session,
    start: datetime,
    end: datetime,
    offset: int,
    limit: int,
    zone: Any,
    lang: str,
    style: str = "extended",
) -> list[dict[str, Any]]:
    """Changes of state in the window (the mySociety servicerequestupdates extension), oldest first (by time, then
    id: a stable order to page through); `limit` rows from `offset`."""
    changed = or_(CaseEvent.from_status.is_(None), CaseEvent.from_status != CaseEvent.to_status)
    rows = session.execute(
        select(CaseEvent.id, CaseEvent.action, CaseEvent.at, CaseEvent.to_status, Case.code, Open311Request.media_url)
        .join(Case, Case.id == CaseEvent.case_id)
        .outerjoin(Open311Request, Open311Request.case_id == Case.id)
        .where(CaseEvent.at >= start, CaseEvent.at <= end, CaseEvent.to_status.is_not(None))
        .where(or_(changed, CaseEvent.action == "merge"))
        .order_by(CaseEvent.at, CaseEvent.id)
        .offset(offset)
        .limit(limit)
    )
    out = []
    for event_id, action, at, to_status, code, media_url in rows:
        merged = action == "merge"
        out.append(
            {
                "update_id": str(event_id),
                "service_request_id": code,
                "status": update_status(str(to_status), merged, style),
                "updated_datetime": w3c(at, zone),
                "description": _pick(MERGED_NOTE if merged else STATUS_NOTES[str(to_status)], lang),
                "media_url": media_url if action == "report" else None,
            }
        )
    return out
