"""/api/v1/cases: reports in (intake), cases out."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, current_app, request, send_file, url_for

from citymgmt.api.fields import StrictFloat, StrictInteger
from citymgmt.api.openapi import JsonOrFormBlueprint, header, multipart_body
from citymgmt.core.access import allow, current_user
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.errors import DomainError, NotFound, PreconditionRequired, ValidationError
from citymgmt.core.identity import INTAKE_STAFF, OVERSEERS
from dispatch.cases.models import CALLBACK_RESULTS, REQUEST_KINDS, SOURCES, STATES, URGENCIES
from dispatch.cases.photos import MAX_PHOTOS, Attachment, Photo, attach_photos, process_photos
from dispatch.intake.operations import Report, report_case, suspected_duplicates
from dispatch.workflow.moves import ACTIONS, act
from dispatch.workflow.views import case_file, cursor_of, list_cases, position_of, visible_case

blp = JsonOrFormBlueprint("cases", __name__, description="Cases (案件): intake and reading")

KEY = re.compile(r"^[A-Za-z0-9._:-]{8,200}$")
VERSION = re.compile(r"^[0-9]{1,18}$")  # ASCII digits only; a bigint at most
IDEMPOTENCY_KEY = header(
    "Idempotency-Key",
    "Makes a retry safe: the same key with the same report returns the first case (201) instead of making a second;"
    " with another report, 422",
    {"type": "string", "pattern": KEY.pattern},
)
IF_MATCH = header(
    "If-Match",
    "The version of the case you saw (its ETag, or the `version` in its JSON); a stale one is answered 409",
    {"type": "string", "pattern": r'^(W/)?"?[0-9]{1,18}"?$', "example": '"3"'},
    required=True,
)
ACTION = {"in": "path", "name": "action", "required": True, "schema": {"type": "string", "enum": list(ACTIONS)}}
ETAG = {"ETag": {"description": "The case's version, to send back as If-Match", "schema": {"type": "string"}}}
REPORTERS = ("inspector", "operator", "leader", "dispatcher", "admin")
READERS = tuple(str(r) for r in OVERSEERS)


class ContactSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(max=100))
    phone = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9+() -]{3,30}$"))
    email = ma.fields.Email()


class ContactField(ma.fields.Nested):
    """The caller's contact: a JSON object, or in a multipart form (a report with photos) that object as JSON text."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, partial: Any = None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ma.ValidationError("must be an object {name, phone, email}, in a form as JSON text") from None
        return super()._deserialize(value, attr, data, partial, **kwargs)


class ReportSchema(ma.Schema):
    category_code = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=10))
    lon = ma.fields.Raw(
        load_default=None,
        metadata={"description": "Longitude (number); required unless component_id is given", "example": 116.3906},
    )
    lat = ma.fields.Raw(
        load_default=None,
        metadata={"description": "Latitude (number); required unless component_id is given", "example": 39.9158},
    )
    crs = ma.fields.String(load_default="wgs84", metadata={"description": "wgs84, gcj02, bd09 or EPSG:n"})
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    address = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))
    urgency = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(URGENCIES))
    source = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(SOURCES[:3]))
    contact = ContactField(
        ContactSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "Hotline and public reports: the caller's name, phone, e-mail; never published"},
    )
    work_order = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Regexp(r"^[^\s\x00]{1,100}$"),
        metadata={
            "description": "Hotline and public reports: the work-order number (工单号) of the source's own system; a"
            " second report of the same number from the same source is refused (409) naming the first one's case",
            "example": "12345-20261206-0001",
        },
    )
    request_kind = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.OneOf(REQUEST_KINDS),
        metadata={"description": "Hotline and public reports: complaint, help, consultation or suggestion"},
    )
    component_id = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=40),
        metadata={
            "description": "The asset (部件) reported, by its 16-digit registry id: registered, in service and of the"
            " category's class. Without lon/lat the asset's registered point is the case's.",
            "example": "1101010102000001",
        },
    )


# The case's JSON: these schemas alone write it, from the case (dispatch.cases.models.Case) and its file
# (dispatch.workflow.views.CaseFile), with links made by url_for.
class EventSchema(ma.Schema):
    id = ma.fields.Integer()
    action = ma.fields.String()
    at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    payload = ma.fields.Dict()


class ActorSchema(ma.Schema):
    id = ma.fields.Integer()
    display_name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    department_code = ma.fields.String(allow_none=True)


class PhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.Method("_url", metadata={"type": "string", "description": "The photo (JPEG)"})
    thumb_url = ma.fields.Method("_thumb_url", metadata={"type": "string", "description": "Its thumbnail"})
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    event_id = ma.fields.Integer(metadata={"description": "The event it came with"})

    def _url(self, photo: Attachment) -> str:
        return url_for("cases.get_photo", case_id=photo.case_id, photo_id=photo.id)

    def _thumb_url(self, photo: Attachment) -> str:
        return url_for("cases.get_photo", case_id=photo.case_id, photo_id=photo.id, size="thumb")


class CaseSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    status = ma.fields.String()
    source = ma.fields.String()
    category_code = ma.fields.String()
    urgency = ma.fields.String()
    cell_code = ma.fields.String()
    district_code = ma.fields.String()
    department_code = ma.fields.String(allow_none=True)
    suggested_department_code = ma.fields.String(
        allow_none=True, metadata={"description": "Where routing proposes to send it, for the dispatcher to confirm"}
    )
    reported_at = ma.fields.DateTime()
    due_at = ma.fields.DateTime(allow_none=True)
    light = ma.fields.String(allow_none=True)
    suspected_duplicate = ma.fields.Boolean()
    duplicate_of = ma.fields.Integer(allow_none=True, metadata={"description": "Merged into this case (its id)"})
    version = ma.fields.Integer()


class CaseComponentSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "16-digit asset id"})
    class_code = ma.fields.String()
    owner_department_code = ma.fields.String(allow_none=True, metadata={"description": "As registered now"})
    name = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    distance_m = ma.fields.Float(allow_none=True, metadata={"description": "From the case's point, at intake"})
    source = ma.fields.String(metadata={"description": "named (by the reporter) or suggested (nearest of its class)"})


class CaseSchema(CaseSummarySchema):
    description = ma.fields.String()
    request_kind = ma.fields.String(allow_none=True, metadata={"description": "complaint, help, consultation, ..."})
    work_order = ma.fields.Method(
        "_work_order", metadata={"type": "string", "nullable": True, "description": "The source's work-order number"}
    )
    address = ma.fields.String(allow_none=True)
    lon = ma.fields.Float()
    lat = ma.fields.Float()
    community_code = ma.fields.String()
    street_code = ma.fields.String()
    contact = ma.fields.Dict(allow_none=True)
    photos = ma.fields.List(ma.fields.Nested(PhotoSchema))
    duplicate_candidates = ma.fields.List(
        ma.fields.Dict(), metadata={"description": "Open cases of the same category nearby: id, code, distance_m"}
    )
    component = ma.fields.Nested(CaseComponentSchema, allow_none=True)
    disposal_due_at = ma.fields.DateTime(allow_none=True, metadata={"description": "The handling deadline"})
    warn_at = ma.fields.DateTime(allow_none=True)
    pending_request = ma.fields.Dict(
        allow_none=True,
        metadata={"description": "A return, extension or suspension request waiting for the dispatcher"},
    )
    extensions_granted = ma.fields.Integer()
    escalated = ma.fields.Boolean()
    escalation_due_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "When the department's reply to the escalation (督办) is due"}
    )
    escalation_reply_overdue = ma.fields.Boolean(metadata={"description": "The reply to the escalation is late"})
    check_passed = ma.fields.Boolean(allow_none=True)
    callback_pending = ma.fields.Boolean(metadata={"description": "Closed, waiting for the call-back (回访)"})
    allowed_actions = ma.fields.List(ma.fields.String(), metadata={"description": "What the caller may do now"})
    events = ma.fields.List(ma.fields.Nested(EventSchema))
    actors = ma.fields.List(
        ma.fields.Nested(ActorSchema), metadata={"description": "Who made the events (actor_id): name and roles"}
    )

    def _work_order(self, case: Any) -> str | None:
        return case.external_id if case.external_system == case.source else None


def _uploaded_photos() -> list[Photo]:
    """The request's `photos`, every one checked and re-encoded before anything is written; uploads closed."""
    if request.mimetype != "multipart/form-data":
        return []  # only a multipart body carries files (a JSON report's form is then never parsed)
    uploads = request.files.getlist("photos")
    unknown = sorted(set(request.files) - {"photos"})
    if unknown:  # a file sent under another name would be dropped without a word
        for name in unknown:
            for upload in request.files.getlist(name):
                upload.close()
        raise DomainError(
            f"files are sent as photos, not as {', '.join(unknown)}",
            details=dict.fromkeys(unknown, "unknown file field"),
            code="unknown_file_field",
        )
    if len(uploads) > MAX_PHOTOS:
        raise ValidationError(f"at most {MAX_PHOTOS} photos", details={"photos": len(uploads)})
    try:
        return process_photos([upload.stream for upload in uploads])
    finally:
        for upload in uploads:
            upload.close()


@blp.post("")
@blp.arguments(ReportSchema(), location="json_or_form")  # an instance: a class would be instantiated per request
@blp.doc(
    requestBody={
        "content": multipart_body(
            {
                "category_code": "",
                "lon": "A number, required unless component_id is given",
                "lat": "A number, required unless component_id is given",
                "crs": "",
                "description": "",
                "address": "",
                "urgency": "",
                "component_id": "",
                "contact": 'The caller\'s contact as JSON text: {"name": ..., "phone": ...}',
                "work_order": "",
                "request_kind": "",
            },
            ("category_code",),
            MAX_PHOTOS,
        )
    },
    parameters=[IDEMPOTENCY_KEY],
)
@blp.response(201, CaseSchema)
@blp.alt_response(
    400, description="Impossible coordinates, a malformed Idempotency-Key, or a file under another name than photos"
)
@blp.alt_response(409, description="The work order was reported before: details name its case")
@blp.alt_response(
    422,
    description="A field not acceptable (named in details), a point outside every cell, or an Idempotency-Key already"
    " used for another report",
)
@allow(*REPORTERS)
def report(body: dict[str, Any]) -> Any:
    """Report a problem: it becomes a case in its grid cell. JSON, or multipart with up to 9 `photos` (JPEG, PNG
    or WebP; re-encoded, without EXIF). Send an `Idempotency-Key` header (8-200 of letters, digits, `._:-`) so
    that a retry returns the first case instead of making a second."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not KEY.match(key):
        raise DomainError(
            "Idempotency-Key must be 8-200 letters, digits, '.', '_', ':' or '-'", details={"Idempotency-Key": key}
        )
    photos = _uploaded_photos()
    session = db.session()
    user = current_user()
    assert user is not None
    settings = current_app.extensions["citymgmt.settings"]
    now = utcnow()
    reported = report_case(session, user, Report(**body), key, now, settings)
    case = reported.case
    if reported.created and photos:
        attach_photos(session, settings.photos, case.id, reported.events[0].id, user.id, photos, now)
    return case_file(session, case, user, settings, None if photos else reported.written())


class DuplicatesQuery(ma.Schema):
    category_code = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=10))
    lon = StrictFloat(required=True, allow_nan=False)
    lat = StrictFloat(required=True, allow_nan=False)
    crs = ma.fields.String(load_default="wgs84", metadata={"description": "wgs84, gcj02, bd09 or EPSG:n"})


class CandidateSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    distance_m = ma.fields.Float()
    reported_at = ma.fields.DateTime()


@blp.get("/duplicates")
@blp.arguments(DuplicatesQuery, location="query", error_status_code=400)
@blp.response(200, CandidateSchema(many=True))
@blp.alt_response(422, description="An unknown category, or a point outside every cell")
@allow(*INTAKE_STAFF)  # the centre's: an inspector sees only the cases of their reports and cells
def duplicates(query: dict[str, Any]) -> Any:
    """Before reporting: the open cases of this category near this point that the report would be linked to as a
    suspected duplicate (CITYMGMT_DUPLICATE_RADIUS_M, CITYMGMT_DUPLICATE_WINDOW_HOURS), nearest first."""
    settings = current_app.extensions["citymgmt.settings"]
    return suspected_duplicates(
        db.session(), query["category_code"], query["lon"], query["lat"], query["crs"], utcnow(), settings
    )


class CaseListQuery(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATES))
    department = ma.fields.String(validate=ma.validate.Length(max=40))
    cell = ma.fields.String(
        validate=ma.validate.Regexp(r"^[0-9]{6,15}$"),
        metadata={"description": "A cell, community, street or district code (prefix match)"},
    )
    light = ma.fields.String(validate=ma.validate.OneOf(("green", "yellow", "red")))
    category = ma.fields.String(validate=ma.validate.Length(max=10))
    mine = ma.fields.Boolean(metadata={"description": "Only the cases the caller reported (true)"})
    after = ma.fields.String(
        metadata={
            "description": "Keyset paging: the cases after this cursor (X-Next-Cursor, or the Link to the next page,"
            " of the previous page). Opaque; it names a place in the list's order, not the filters, so with other"
            " filters it gives their cases after that place. A cursor the list did not give is refused (422)."
        }
    )


# The list counts its cases no further than this past the page's last one (X-Pagination's total is then a lower
# bound and X-Total-Exact says false): an exact count of a city's millions of cases is seconds on every page.
COUNT_AHEAD = 10_000
TOTAL_EXACT = {
    "X-Total-Exact": {
        "description": f"false when more than {COUNT_AHEAD:,} cases follow the page: X-Pagination's total (and"
        " last page) is then the page's last case and that many more, a lower bound; true otherwise",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}
NEXT_PAGE = {
    "X-Next-Cursor": {
        "description": "The cursor of the next page (send it as `after`); absent on the last page",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'The next page, `<...>; rel="next"`: the same filters and page size, with `after`; absent on'
        " the last page",
        "schema": {"type": "string"},
    },
}
# The query parameters the next page's link carries over (`page` and `after` are its own).
_CARRIED = (*CaseListQuery().fields, "page_size")


@blp.get("")
@blp.arguments(CaseListQuery, location="query", error_status_code=400)
@blp.response(200, CaseSummarySchema(many=True), headers={**TOTAL_EXACT, **NEXT_PAGE})
@blp.alt_response(422, description="`after` is not a cursor the list gave (details name it)")
@blp.paginate(page_size=50, max_page_size=500)
@allow(*READERS, "inspector", "handler")
def list_cases_view(query: dict[str, Any], pagination_parameters: Any) -> Any:
    """Cases newest first, filtered. Page through them with the cursor: follow the `Link: <...>; rel="next"` header,
    or send its X-Next-Cursor as `after` with the same filters; each page is then read as fast as the first, however
    deep. `page` (with `page_size`) still works and can jump, but reads every case before the page.
    X-Pagination has the total, exact up to 10,000 cases past the page and a lower bound beyond (X-Total-Exact says
    which); with `after` it counts, and numbers the pages, from the cursor on.
    Centre staff and supervisors see all, handlers their department's, inspectors their own reports."""
    user = current_user()
    assert user is not None
    after = position_of(query["after"], "after") if "after" in query else None
    listed = list_cases(
        db.session(),
        user,
        query,
        offset=pagination_parameters.first_item,
        limit=pagination_parameters.page_size,
        count_ahead=COUNT_AHEAD,
        after=after,
    )
    pagination_parameters.item_count = listed.total
    headers = {"X-Total-Exact": "true" if listed.exact else "false"}
    if listed.next is not None:
        cursor = cursor_of(listed.next)
        carried = [(k, v) for k, v in request.args.items(multi=True) if k in _CARRIED and k != "after"]
        headers["X-Next-Cursor"] = cursor
        headers["Link"] = f'<{url_for(str(request.endpoint))}?{urlencode([*carried, ("after", cursor)])}>; rel="next"'
    return listed.cases, 200, headers


@blp.get("/<int:case_id>")
@blp.response(200, CaseSchema, headers=ETAG)
@allow(*READERS, "inspector", "handler")
def get_case(case_id: int) -> Any:
    """A case with its events. Handlers see their department's cases, inspectors the cases they reported."""
    user = current_user()
    assert user is not None
    settings = current_app.extensions["citymgmt.settings"]
    view = case_file(db.session(), visible_case(db.session(), user, case_id), user, settings)
    return view, 200, {"ETag": f'"{view.case.version}"'}  # what If-Match sends back


@blp.get("/<int:case_id>/photos/<int:photo_id>")
@blp.response(200, description="The photo (JPEG)")
@allow(*READERS, "inspector", "handler")
def get_photo(case_id: int, photo_id: int) -> Response:
    """A photo of the case, as stored: re-encoded, without EXIF. `?size=thumb` for the thumbnail."""
    return _photo_file(case_id, photo_id, request.args.get("size") == "thumb")


def _photo_file(case_id: int, photo_id: int, thumb: bool) -> Response:
    user = current_user()
    assert user is not None
    case = visible_case(db.session(), user, case_id)
    photo = db.session().get(Attachment, photo_id)
    if photo is None or photo.case_id != case.id:
        raise NotFound(f"no photo {photo_id} of case {case_id}")
    root = current_app.extensions["citymgmt.settings"].photos
    response = send_file(root / (photo.thumb_path if thumb else photo.path), mimetype="image/jpeg", max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


class ActionSchema(ma.Schema):
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    department = ma.fields.String(validate=ma.validate.Length(min=1, max=40))
    hours = StrictFloat(validate=ma.validate.Range(min=0, min_inclusive=False, max=24 * 365))
    result = ma.fields.String(
        validate=ma.validate.OneOf(("pass", "fail", *CALLBACK_RESULTS)),
        metadata={"description": "verify, check: pass or fail; callback: the caller's answer"},
    )
    resolved = ma.fields.Boolean(metadata={"description": "callback: whether the caller's problem was solved"})
    original = StrictInteger(
        validate=ma.validate.Range(min=1, max=2**63 - 1), metadata={"description": "merge: the id of the original case"}
    )


@blp.post("/<int:case_id>/actions/<string:action>")
@blp.arguments(ActionSchema, location="json_or_form", required=False)
@blp.doc(
    requestBody={
        "content": multipart_body(
            {
                "note": "",
                "department": "",
                "hours": "A number",
                "result": "pass or fail; callback: satisfied, basically_satisfied or unsatisfied",
                "resolved": "callback: true or false",
                "original": "merge: the id of the original case (an integer)",
            },
            (),
            MAX_PHOTOS,
        )
    },
    parameters=[IF_MATCH, ACTION],
)
@blp.response(200, CaseSchema, headers=ETAG)
@blp.alt_response(409, description="The If-Match version is stale: reload the case")
@blp.alt_response(422, description="The state machine forbids this move now (details list the allowed actions)")
@blp.alt_response(428, description="If-Match is missing")
@allow(*READERS, "inspector", "handler")
def act_on_case(body: dict[str, Any], case_id: int, action: str) -> Any:
    """Move the case: `file`, `cancel`, `request_verification`, `verify`, `verify_by_phone`, `dispatch`, `return`,
    `approve_return`, `reject_return`, `request_extension`, `approve_extension`, `reject_extension`, `suspend`,
    `resume`, `handle`, `request_check`, `check`, `close`, `callback`, `escalate`, `reply`, `merge`, `comment`. Send
    `If-Match: <version>`; JSON, or multipart with up to 9 `photos` (e.g. the handler's result photos)."""
    raw = (request.headers.get("If-Match") or "").strip().strip('"').removeprefix("W/").strip('"')
    if not raw:
        raise PreconditionRequired(
            "send If-Match: <version> with the version of the case you saw", details={"If-Match": "required"}
        )
    if not VERSION.match(raw):  # (str.isdigit() also takes "²", which int() refuses)
        raise DomainError("If-Match must be the case version (a number)", details={"If-Match": raw[:100]})
    photos = _uploaded_photos()
    session = db.session()
    user = current_user()
    assert user is not None
    settings = current_app.extensions["citymgmt.settings"]
    visible_case(session, user, case_id)
    now = utcnow()
    case, event = act(session, case_id, action, user, int(raw), body, now, settings)
    if photos:
        attach_photos(session, settings.photos, case.id, event.id, user.id, photos, now)
    view = case_file(session, case, user, settings)
    return view, 200, {"ETag": f'"{view.case.version}"'}
