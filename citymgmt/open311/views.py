"""/open311/v2: Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) and mySociety's servicerequestupdates.

Every endpoint is public (`@allow_public`); POSTs check their `api_key` here. Every path ends in `.json` or `.xml`,
and errors come in that format as the specification's list of {code, description}.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import Blueprint, Response, current_app, request, send_file
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from citymgmt.api.errors import http_error_response, http_headers, http_status, unexpected_error
from citymgmt.core.access import allow_public
from citymgmt.core.clock import utcnow
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.errors import DomainError, NotFound, TooManyAttempts, ValidationError
from citymgmt.core.queue import get_redis
from citymgmt.open311 import georeport
from citymgmt.open311.keys import Open311Key, Open311Request, client_for_key, reader_for_key
from citymgmt.open311.render import error_response, respond
from dispatch.cases.models import CaseEvent
from dispatch.cases.photos import MAX_PHOTOS, attach_photos, process_photos
from dispatch.intake.operations import Report, report_case
from dispatch.workflow.moves import act
from grids.addresses import locate_address

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-22T00:00:00Z"  # when this document last changed
MAX_DAYS = 90  # the specification's default and largest date range
MAX_ROWS = 1000  # ... and its default number of rows
FMT = "<any(json, xml):fmt>"
MEDIA_NAME = re.compile(r"^([0-9]{1,18})-([0-9a-f]{16})$")
ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,50})\]$")
# The statuses a GeoReport client tells apart; any other refusal of the request is its 400.
OPEN311_STATUSES = (401, 403, 404, 429, 503)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["citymgmt.settings"]
    return settings


def _fmt() -> str:
    return "xml" if request.path.endswith(".xml") else "json"


def _lang() -> str:
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"])
    if best is None:
        return "en" if _settings().default_locale == "en" else "zh"
    return "en" if best == "en" else "zh"


def _reason(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(map(str, value))
    return str(value)


def _describe(exc: DomainError) -> str:
    details = exc.details
    if isinstance(details, dict) and details:
        parts = [f"{k}: {_reason(v)}" for k, v in details.items()]
        return f"{exc.message} ({', '.join(parts)})"
    return exc.message


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    status = http_status(exc)
    return error_response(_fmt(), status if status in OPEN311_STATUSES else 400, _describe(exc), http_headers(exc))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return error_response(_fmt(), exc.code or 500, exc.description or exc.name)


@bp.app_errorhandler(HTTPException)
def _unmatched(exc: HTTPException) -> Response:
    """A URL under /open311/v2 that no endpoint serves (services.html, requests.csv) or a method it does not take:
    the GeoReport error list too; anywhere else, the app's own error shape."""
    if request.blueprint is None and request.path.startswith(f"{bp.url_prefix}/"):
        return error_response(_fmt(), exc.code or 500, exc.description or exc.name)
    return http_error_response(exc)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    """Whatever else went wrong, in the GeoReport error format too (a 500 or 503 says nothing internal)."""
    status, _code, message = unexpected_error(exc)
    return error_response(_fmt(), status, message)


@bp.before_request
def _jurisdiction() -> None:
    wanted = _settings().open311_jurisdiction_id
    given = (request.values.get("jurisdiction_id") or "").strip()
    if given and given != wanted:
        raise NotFound(
            f"jurisdiction_id {given} not found" + (f": this endpoint serves {wanted}" if wanted else ""),
            details={"jurisdiction_id": "unknown"},
        )


# -- parsing ------------------------------------------------------------------------------------------------


def _load(schema: ma.Schema, data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data, unknown=ma.EXCLUDE)
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"request": exc.messages}
        details = {k: "; ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in messages.items()}
        raise ValidationError(f"invalid {', '.join(sorted(details))}", details=details) from None
    return loaded


def _datetime(name: str, raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError(
            f"{name} must be a W3C datetime such as 2026-11-01T00:00:00Z", details={name: "not a datetime"}
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=_settings().zone)


def _window(now: datetime) -> tuple[datetime, datetime]:
    """start_date and end_date: at most 90 days apart; by default the last 90 days."""
    start = _datetime("start_date", request.args.get("start_date"))
    end = _datetime("end_date", request.args.get("end_date"))
    if start is None and end is None:
        return now - timedelta(days=MAX_DAYS), now
    if start is None:
        assert end is not None
        start = end - timedelta(days=MAX_DAYS)
    if end is None:
        end = start + timedelta(days=MAX_DAYS)
    if start > end:
        raise ValidationError("start_date must not be after end_date", details={"start_date": "after end_date"})
    if end - start > timedelta(days=MAX_DAYS):
        raise ValidationError(
            f"start_date and end_date may not span more than {MAX_DAYS} days", details={"end_date": "range too long"}
        )
    return start, end


class PageQuery(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    page_size = ma.fields.Integer(load_default=MAX_ROWS, validate=ma.validate.Range(min=1, max=MAX_ROWS))


def _csv(name: str, pattern: str) -> list[str] | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if not re.fullmatch(pattern, v)]
    if bad or len(values) > MAX_ROWS:
        raise ValidationError(f"{name}: not a valid value: {', '.join(bad[:5])}", details={name: "invalid"})
    return values


def _client_post(now: datetime) -> tuple[Open311Key, Any]:
    """The client of a POST (its api_key), within its rate: a count per key and minute of the app's clock, not
    kept when Redis is down (why not Flask-Limiter: docs/architecture.md, "Decisions kept")."""
    session = db.session()
    key, user = client_for_key(session, request.values.get("api_key"), now)
    limit = _settings().open311_posts_per_minute
    minute = int(now.timestamp() // 60)
    name = f"{_settings().queue_prefix}:open311:posts:{key.id}:{minute}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(name)
        pipe.expire(name, 120)
        count = int(pipe.execute()[0])
    except RedisError:
        log.warning("Redis unavailable: Open311 rate limit not applied")
        return key, user
    if count > limit:
        retry = 60 - int(now.timestamp()) % 60
        raise TooManyAttempts(
            f"more than {limit} POSTs a minute with this api_key: try again in {retry} s",
            details={"api_key": "rate limited"},
            retry_after=retry,
        )
    return key, user


# -- discovery and services -----------------------------------------------------------------------------------


@bp.get(f"/discovery.{FMT}")
@allow_public
def discovery(fmt: str) -> Response:
    settings = _settings()
    document = {
        "changeset": CHANGESET,
        "contact": "城市管理监督指挥中心 / the city management centre",
        "key_service": "API keys are issued by the city management centre (citymgmt open311 keys create NAME)",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": request.url_root.rstrip("/") + str(bp.url_prefix),
                "changeset": CHANGESET,
                "type": "production" if settings.env == "production" else "test",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return respond(fmt, "discovery", document)


@bp.get(f"/services.{FMT}")
@allow_public
def services(fmt: str) -> Response:
    return respond(fmt, "services", georeport.service_list(db.session(), _lang()))


@bp.get(f"/services/<string:code>.{FMT}")
@allow_public
def service_definition(code: str, fmt: str) -> Response:
    category = georeport.category_for_service(db.session(), code)
    return respond(fmt, "service_definition", georeport.service_definition(category, _lang()))


# -- requests -------------------------------------------------------------------------------------------------


class Kept(ma.fields.String):
    """A contact field as the client gave it, cut to `size` characters: never a reason to refuse a report (the
    centre calls back whatever shape a phone number has)."""

    def __init__(self, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = size

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return " ".join(text.split())[: self.size]


CONTACT_SIZE = 100  # characters kept of each contact field (name parts, phone, e-mail)
MAX_ATTRIBUTES = 100  # attributes one request may carry
ATTRIBUTE_SIZE = 2000  # characters kept of an attribute's value
PHOTO_FIELD = re.compile(r"^(media|photo[1-9][0-9]?)$")  # GeoReport's `media`; FixMyStreet's photo1, photo2, ...


class PostRequest(ma.Schema):
    service_code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10))
    lat = ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=-90, max=90))
    long = ma.fields.Float(allow_nan=False, validate=ma.validate.Range(min=-180, max=180))
    address_string = ma.fields.String(validate=ma.validate.Length(max=200))
    address_id = ma.fields.String(validate=ma.validate.Length(max=200))
    email = Kept(CONTACT_SIZE)
    device_id = ma.fields.String(validate=ma.validate.Length(max=200))
    account_id = ma.fields.String(validate=ma.validate.Length(max=200))
    first_name = Kept(CONTACT_SIZE)
    last_name = Kept(CONTACT_SIZE)
    phone = Kept(CONTACT_SIZE)
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=4000))
    media_url = ma.fields.Url(schemes={"http", "https"}, validate=ma.validate.Length(max=2000))


def _attributes(category: Any) -> dict[str, str]:
    """The request's attributes as sent: `urgency` is the service's own and is checked; any other (FixMyStreet's
    `fixmystreet_id`, `closest_address`, a council's `uprn`) is kept with the case for the centre, never refused."""
    given: dict[str, str] = {}
    for name, value in request.form.items():
        match = ATTRIBUTE.match(name)
        if match:
            given[match.group(1)] = value.strip()[:ATTRIBUTE_SIZE]
        elif name.startswith("attribute"):
            raise ValidationError(f"{name}: expected attribute[CODE]", details={name: "malformed"})
    if len(given) > MAX_ATTRIBUTES:
        raise ValidationError(
            f"at most {MAX_ATTRIBUTES} attributes in one request", details={"attribute": f"{len(given)} given"}
        )
    urgencies = georeport.urgencies_of(category)
    if given.get("urgency") and given["urgency"] not in urgencies:
        raise ValidationError(
            f"attribute[urgency] must be one of {', '.join(urgencies)}", details={"attribute[urgency]": "not a value"}
        )
    return {k: v for k, v in given.items() if v}


@bp.post(f"/requests.{FMT}")
@allow_public
def post_request(fmt: str) -> Response:
    now = utcnow()
    settings = _settings()
    key, user = _client_post(now)
    body = _load(PostRequest(), request.form)
    session = db.session()
    if "lat" not in body or "long" not in body:
        body["long"], body["lat"] = _located(session, body)
    category = georeport.category_for_service(session, body["service_code"])
    attributes = _attributes(category)
    photos = _photos()
    name = " ".join(body.get(k, "").strip() for k in ("first_name", "last_name")).strip()
    contact = {k: v for k, v in (("name", name), ("phone", body.get("phone")), ("email", body.get("email"))) if v}
    report = Report(
        category_code=category.code,
        lon=body["long"],
        lat=body["lat"],
        description=body["description"],
        address=body.get("address_string"),
        urgency=attributes.get("urgency"),
        source="open311",
        contact=contact or None,
    )
    case = report_case(session, user, report, None, now, settings).case
    session.add(
        Open311Request(
            case_id=case.id,
            key_id=key.id,
            media_url=body.get("media_url"),
            address_id=body.get("address_id"),
            attributes=attributes,
        )
    )
    if photos:
        event_id = session.execute(
            select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.action == "report")
        ).scalar_one()
        attach_photos(session, settings.photos, case.id, event_id, user.id, photos, now)
    code = case.code
    log.info("open311 request %s from client %s", code, key.name)
    return respond(fmt, "service_requests", [{"service_request_id": code, "service_notice": None, "account_id": None}])


def _located(session: Any, body: dict[str, Any]) -> tuple[float, float]:
    """A request without lat and long placed at the address its `address_string` names in the city's gazetteer
    (grids.addresses); refused when it names none, or several equally well."""
    if body.get("address_string"):
        found = locate_address(session, body["address_string"])
        if found is None:
            raise ValidationError(
                "address_string names no single address of the city's gazetteer: send lat and long (WGS-84),"
                " or the address as the city writes it",
                details={"address_string": "not found", "lat": "required", "long": "required"},
            )
        return found.lon, found.lat
    if body.get("address_id"):
        raise ValidationError(
            "lat and long are required: this endpoint cannot locate an address_id (send address_string)",
            details={"lat": "required", "long": "required"},
        )
    raise ValidationError("lat and long are required (WGS-84)", details={"lat": "required", "long": "required"})


def _photos() -> list[Any]:
    """The photos of a POST: `media` (GeoReport) and `photo1`, `photo2`, ... (FixMyStreet), in that order; a file
    under any other name refuses the request, as the API does, rather than being dropped unseen."""
    fields = list(request.files.keys())
    unknown = [name for name in fields if not PHOTO_FIELD.match(name)]
    if unknown:
        raise ValidationError(
            f"{unknown[0]}: files go in media or photo1, photo2, ...", details={unknown[0]: "unknown file field"}
        )
    ordered = sorted(fields, key=lambda name: -1 if name == "media" else int(name[5:]))
    uploads = [upload for name in ordered for upload in request.files.getlist(name)]
    try:
        if len(uploads) > MAX_PHOTOS:
            raise ValidationError(f"at most {MAX_PHOTOS} photos", details={ordered[0]: f"{len(uploads)} files"})
        try:
            return process_photos([upload.stream for upload in uploads])
        except DomainError as exc:
            field = ordered[0] if len(ordered) == 1 else "photos"
            raise ValidationError(f"{field}: {exc.message}", details={field: "not a usable photo"}) from None
    finally:
        for upload in uploads:
            upload.close()


@bp.get(f"/requests.{FMT}")
@allow_public
def get_requests(fmt: str) -> Response:
    now = utcnow()
    paging = _load(PageQuery(), request.args)
    codes = _csv("service_request_id", r"[0-9A-Za-z-]{1,24}")
    service_codes = [c.upper() for c in _csv("service_code", r"[A-Za-z][0-9]{2,4}") or []] or None
    statuses = _csv("status", r"(?i)open|closed")
    start, end = _window(now)
    flt = georeport.RequestFilter(
        codes=codes,
        service_codes=service_codes,
        start=start,
        end=end,
        statuses=[s.lower() for s in statuses] if statuses else None,
        offset=(paging["page"] - 1) * paging["page_size"],
        limit=paging["page_size"],
    )
    settings = _settings()
    rows = georeport.list_requests(db.session(), flt, settings.zone, _lang(), settings.open311_publish_photos)
    return respond(fmt, "service_requests", rows)


@bp.get(f"/requests/<string:code>.{FMT}")
@allow_public
def get_request(code: str, fmt: str) -> Response:
    settings = _settings()
    row = georeport.get_request(db.session(), code, settings.zone, _lang(), settings.open311_publish_photos)
    return respond(fmt, "service_requests", [row])


@bp.get("/media/<string:name>.jpg")
@allow_public
def media(name: str) -> Response:
    """A report's photo as its public media_url, when CITYMGMT_OPEN311_PUBLISH_PHOTOS is on (re-encoded, no EXIF)."""
    settings = _settings()
    found = MEDIA_NAME.match(name)
    if not settings.open311_publish_photos or found is None:
        raise NotFound("no such media")
    photo = georeport.report_photo(db.session(), int(found[1]), found[2])
    response = send_file(settings.photos / photo.path, mimetype="image/jpeg", max_age=86400)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get(f"/tokens/<string:token>.{FMT}")
@allow_public
def get_token(token: str, fmt: str) -> Response:
    """Requests are created at once, so a token is the service_request_id itself."""
    case = georeport.case_by_code(db.session(), token)
    return respond(fmt, "service_requests", [{"service_request_id": case.code, "token": token}])


# -- mySociety's servicerequestupdates ------------------------------------------------------------------------


@bp.get(f"/servicerequestupdates.{FMT}")
@allow_public
def get_updates(fmt: str) -> Response:
    """The window's changes of state, oldest first, a page at a time. A window is never cut silently: a page with
    more after it says so (`Link: <...>; rel="next"`), and a request that names no page or page_size (as
    FixMyStreet's client does) for a window of more than one page is refused, naming the way out. A client that
    sends its api_key reads the statuses its key asks for (extended, or plain OPEN/CLOSED)."""
    now = utcnow()
    paging = _load(PageQuery(), request.args)
    start, end = _window(now)
    session = db.session()
    key = reader_for_key(session, request.args.get("api_key"))
    size = paging["page_size"]
    rows = georeport.list_updates(
        session,
        start,
        end,
        (paging["page"] - 1) * size,
        size + 1,  # one more: is there a next page?
        _settings().zone,
        _lang(),
        key.status_style if key is not None else "extended",
    )
    more = len(rows) > size
    if more and "page" not in request.args and "page_size" not in request.args:
        raise ValidationError(
            f"the window from {start.isoformat()} to {end.isoformat()} holds more than {size} updates: ask for a"
            " shorter one (start_date, end_date) or page through it (page=1, 2, ...)",
            details={"start_date": "window too busy for one answer"},
        )
    response = respond(fmt, "service_request_updates", rows[:size])
    if more:
        following = request.args.to_dict() | {"page": str(paging["page"] + 1)}
        response.headers["Link"] = f'<{request.base_url}?{urlencode(following)}>; rel="next"'
    return response


class PostUpdate(ma.Schema):
    service_request_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=24))
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4000))
    status = ma.fields.String(
        load_default="OPEN",
        validate=ma.validate.OneOf(
            [*georeport.CLIENT_STATUSES, *(s.lower() for s in georeport.CLIENT_STATUSES)],
            error="one of " + ", ".join(georeport.CLIENT_STATUSES),
        ),
    )
    update_id = ma.fields.String(validate=ma.validate.Length(max=100))  # the client's own id of the update
    updated_datetime = ma.fields.String(validate=ma.validate.Length(max=40))
    media_url = ma.fields.Url(schemes={"http", "https"}, validate=ma.validate.Length(max=2000))
    email = Kept(CONTACT_SIZE)
    first_name = Kept(CONTACT_SIZE)
    last_name = Kept(CONTACT_SIZE)
    phone = Kept(CONTACT_SIZE)


@bp.post(f"/servicerequestupdates.{FMT}")
@allow_public
def post_update(fmt: str) -> Response:
    """A client's update on a request (a member of the public's comment): recorded on the case as a comment for
    the centre; the case's state is the centre's to change, so a status (FIXED, REOPEN, ...) is recorded, not
    applied. The client's `update_id` makes a resent update answer with the comment it made the first time."""
    now = utcnow()
    key, user = _client_post(now)
    body = _load(PostUpdate(), request.form)
    _datetime("updated_datetime", body.get("updated_datetime"))  # checked, the time of receipt is what counts
    session = db.session()
    case = georeport.case_by_code(session, body["service_request_id"], lock=True)  # one answer to a resent update
    if body.get("update_id"):
        earlier = georeport.client_update(session, case.id, key.name, body["update_id"])
        if earlier is not None:
            return respond(fmt, "service_request_updates", [{"update_id": str(earlier)}])
    name = " ".join(body.get(k, "").strip() for k in ("first_name", "last_name")).strip()
    contact = {k: v for k, v in (("name", name), ("email", body.get("email")), ("phone", body.get("phone"))) if v}
    extra = {"client": key.name, "status": body["status"].upper(), "update_id": body.get("update_id")}
    extra |= {"media_url": body.get("media_url"), "contact": contact or None}
    context = {"open311": {k: v for k, v in extra.items() if v is not None}}  # in the event as written: append-only
    note = {"note": body["description"]}
    _, event = act(session, case.id, "comment", user, case.version, note, now, _settings(), context)
    event_id = event.id
    return respond(fmt, "service_request_updates", [{"update_id": str(event_id)}])


@bp.route(f"/<path:rest>.{FMT}", methods=["GET", "POST"])
@allow_public
def unknown(rest: str, fmt: str) -> Response:
    raise NotFound(f"no resource {rest} in GeoReport v2")
