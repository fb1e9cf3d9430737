"""The supervisor's pages (/supervise/, 监督): lists of the cases to watch, a case read as it stands, and escalation.

Supervisors do not work the desk's queues: they watch. The list page shows the overdue cases, the escalations
waiting for a department's reply and the newest reports; every case in it, in the big screen's cell list and in its
live feed opens the case page, which shows the case read-only (facts, deadline, photos, history with who acted) and,
for a supervisor, the escalation (督办) form: a note, sent as the workflow's `escalate` move on the version shown.
Server-rendered, no script: it reads well on any screen and works by keyboard.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_timedelta, get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from citymgmt.api.errors import http_status
from citymgmt.core.access import allow, current_user
from citymgmt.core.clock import utcnow
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.departments import live_departments
from citymgmt.core.errors import DomainError
from citymgmt.core.identity import User
from citymgmt.web.desk import ACTION_NAMES, LIGHT_NAMES, SOURCE_NAMES, STATUS_NAMES, TEXTS, URGENCY_NAMES
from citymgmt.web.i18n import ROLE_NAMES
from citymgmt.web.refusals import refusal_message
from dispatch.taxonomy.operations import current_categories
from dispatch.workflow.moves import act
from dispatch.workflow.views import CaseFile, Position, case_file, cursor_of, list_cases, position_of, visible_case

bp = Blueprint("supervise", __name__, url_prefix="/supervise", template_folder="templates")

ROLES = ("supervisor", "leader", "admin")  # as the big screen: who watches the whole city
LIST_SIZE = 20
MAX_PAGE = 500  # 10,000 cases deep: past that, the API's list with its filters
COUNT_AHEAD = 10_000  # as the API's list: a total past this is a lower bound, not counted to the end
STAGES = {"report": "report", "verify": "verify", "handle": "handle", "check": "check"}


class EscalateForm(FlaskForm):
    note = TextAreaField(
        validators=[
            DataRequired(message="note"),  # the page says why in its own words (TEXTS below)
            Length(max=2000, message="note"),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,18}$")])


@bp.app_template_filter("city_time")
def city_time(value: datetime) -> str:
    """A time in the city's zone (flask-babel's), short: what a reader compares with the clock on the wall."""
    return format_datetime(value, "short")


@bp.app_template_filter("countdown")
def countdown(value: datetime, now: datetime) -> str:
    """How long until (or since) a deadline, in words of the page's language: "in 3 hours", "2 days ago"."""
    return format_timedelta(value - now, granularity="minute", add_direction=True)


@bp.app_template_filter("role_name")
def role_name(role: str) -> str:
    return str(ROLE_NAMES.get(role, role))


def _english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def _names() -> dict[str, Any]:
    """Category and department names in the page's language, by code."""
    session = db.session()
    english = _english()
    return {
        "categories": {c.code: (c.name_en if english and c.name_en else c.name) for c in current_categories(session)},
        "departments": {d.code: (d.name_en if english and d.name_en else d.name) for d in live_departments(session)},
    }


def _labels() -> dict[str, Any]:
    return {
        "statuses": STATUS_NAMES,
        "lights": LIGHT_NAMES,
        "urgencies": URGENCY_NAMES,
        "sources": SOURCE_NAMES,
        "actions": ACTION_NAMES,
        "roles": ROLE_NAMES,
    }


@bp.get("/")
@allow(*ROLES)
def index() -> Any:
    user = current_user()
    assert user is not None
    session = db.session()
    lists = []
    pages = {key: _page_of(key) for key in LISTS}
    cursors = {key: _cursor_of(key) for key in LISTS}
    for key, title, filters in (
        ("overdue", _("Overdue"), {"light": "red"}),
        ("escalated", _("Escalated, waiting for the department's reply"), {"escalated": True}),
        ("newest", _("Newest reports"), {}),
    ):
        page = pages[key]
        offset = (page - 1) * LIST_SIZE
        after = cursors[key]
        if after is not None:  # the next page's link: read after the cursor, counted from it
            listed = list_cases(session, user, filters, 0, LIST_SIZE, count_ahead=COUNT_AHEAD, after=after)
            total = offset + listed.total
        else:
            listed = list_cases(session, user, filters, offset, LIST_SIZE, count_ahead=COUNT_AHEAD)
            total = listed.total
        following = listed.next if page < MAX_PAGE else None
        links = {
            "previous": _page_link(pages, cursors, key, page - 1) if page > 1 else None,
            "next": _page_link(pages, cursors, key, page + 1, following) if following is not None else None,
        }
        lists.append(
            {
                "key": key,
                "title": title,
                "cases": listed.cases,
                "total": total,
                "exact": listed.exact,
                "page": page,
                "first": offset + 1,
                "links": links,
            }
        )
    return render_template("supervise/index.html", lists=lists, names=_names(), labels=_labels(), now=utcnow())


LISTS = ("overdue", "escalated", "newest")


def _page_of(key: str) -> int:
    """The page of a list asked for (`?newest=3`); anything but a page number is the first page."""
    raw = request.args.get(key, "1")
    return max(1, min(int(raw[:7]), MAX_PAGE)) if raw.isascii() and raw.isdigit() else 1


def _cursor_of(key: str) -> Position | None:
    """Where a list's page begins, as its next-page link says (`?newest=3&newest_after=...`): the page is then read
    after that case (keyset), not counted from the first. Anything but a cursor the page gave is no cursor: the page
    is found by its number."""
    raw = request.args.get(f"{key}_after")
    if raw is None or request.args.get(key) is None:
        return None
    try:
        return position_of(raw, f"{key}_after")
    except DomainError:
        return None


def _page_link(
    pages: dict[str, int], cursors: dict[str, Position | None], key: str, page: int, after: Position | None = None
) -> str:
    """This page with one list moved to another page (after `after`, if given: the next page's link), the others
    kept where they are."""
    args: dict[str, Any] = {}
    for other, number in pages.items():
        if other != key and number > 1:
            args[other] = number
            start = cursors[other]
            if start is not None:
                args[f"{other}_after"] = cursor_of(start)
    if page > 1:
        args[key] = page
        if after is not None:
            args[f"{key}_after"] = cursor_of(after)
    args["lang"] = request.args.get("lang")
    return url_for("supervise.index", **args) + f"#list-{key}"


def _actors(view: CaseFile) -> dict[int, User]:
    """The people who acted on the case, by id (a handful per case: looked up one by one in the session)."""
    session = db.session()
    ids = {e.actor_id for e in view.events if e.actor_id is not None}
    found = (session.get(User, i) for i in sorted(ids))
    return {u.id: u for u in found if u is not None}


def _render_case(view: CaseFile, form: EscalateForm, status: int = 200, error: str | None = None) -> Any:
    stage_of = {e.id: STAGES.get(e.action) for e in view.events}
    photos = [(photo, stage_of.get(photo.event_id or 0)) for photo in view.photos]
    body = render_template(
        "supervise/case.html",
        view=view,
        case=view.case,
        actors=_actors(view),
        photos=photos,
        form=form,
        can_escalate="escalate" in view.allowed_actions,
        error=error,
        done=get_flashed_messages(category_filter=["supervise"]),
        names=_names(),
        labels=_labels(),
        now=utcnow(),
    )
    return body, status


@bp.get("/cases/<int:case_id>")
@allow(*ROLES)
def case_page(case_id: int) -> Any:
    user = current_user()
    assert user is not None
    session = db.session()
    settings: Settings = current_app.extensions["citymgmt.settings"]
    view = case_file(session, visible_case(session, user, case_id), user, settings)
    form = EscalateForm(formdata=None, version=str(view.case.version))
    return _render_case(view, form)


@bp.post("/cases/<int:case_id>/escalate")
@allow("supervisor")  # as the move table allows escalation (督办)
def escalate(case_id: int) -> Any:
    user = current_user()
    assert user is not None
    session = db.session()
    settings: Settings = current_app.extensions["citymgmt.settings"]
    case = visible_case(session, user, case_id)
    form = EscalateForm()
    if not form.validate():
        view = case_file(session, case, user, settings)
        if "version" in form.errors:
            message = _("The form was not complete: reload the case.")
        else:
            message = _("Write a note for the department.")
        return _render_case(view, form, 422, message)
    try:
        with session.begin_nested():  # a refused move leaves nothing behind
            note = {"note": form.note.data}
            act(session, case.id, "escalate", user, int(form.version.data), note, utcnow(), settings)
    except DomainError as exc:
        session.expire_all()
        view = case_file(session, visible_case(session, user, case_id), user, settings)
        fresh = EscalateForm(formdata=None, version=str(view.case.version), note=form.note.data)
        if http_status(exc) == 409:
            message = _("Someone acted on this case meanwhile. It has been reloaded: check it and send again.")
        elif exc.code == "action_not_allowed" and not _english():
            status = view.case.status
            names = {"action": ACTION_NAMES["escalate"], "status": STATUS_NAMES.get(status, status)}
            message = str(TEXTS["cannot_now"]) % names  # the desk's words for it
        else:
            message = _("Not possible now: %(message)s", message=refusal_message(exc))
        return _render_case(view, fresh, http_status(exc), message)
    flash(_("Escalated: the department is asked to reply."), "supervise")
    return redirect(url_for("supervise.case_page", case_id=case_id, lang=request.args.get("lang")))
