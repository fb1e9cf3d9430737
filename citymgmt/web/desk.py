"""The desk (/desk/): the command centre's intake, dispatch and approvals, and a department's queue.

One page and one plain script (static/js/desk.js) calling the API; the page passes what the script needs to read
(its strings in the user's language, the departments, the categories' names, the city's time zone, which actions
need a note) as JSON, so the script itself holds no text.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from citymgmt.core.access import allow, current_user
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.departments import live_departments
from citymgmt.core.identity import CENTRE_STAFF, INTAKE_STAFF, Role
from citymgmt.web.i18n import ROLE_NAMES
from citymgmt.web.refusals import refusal_table
from dispatch.taxonomy.operations import current_categories
from dispatch.workflow.moves import MOVES

bp = Blueprint("desk", __name__, url_prefix="/desk", template_folder="templates")


DESK_ROLES = (*CENTRE_STAFF, Role.handler)

ACTION_NAMES = {
    "file": _l("File"),
    "cancel": _l("Cancel"),
    "request_verification": _l("Request verification"),
    "verify": _l("Verify"),
    "verify_by_phone": _l("Verify by phone"),
    "dispatch": _l("Dispatch"),
    "return": _l("Request a return"),
    "approve_return": _l("Approve the return"),
    "reject_return": _l("Reject the return"),
    "request_extension": _l("Request an extension"),
    "approve_extension": _l("Approve the extension"),
    "reject_extension": _l("Reject the extension"),
    "suspend": _l("Suspend"),
    "resume": _l("Resume"),
    "handle": _l("Report as handled"),
    "request_check": _l("Request the check"),
    "check": _l("Check"),
    "close": _l("Close"),
    "escalate": _l("Escalate"),
    "reply": _l("Reply"),
    "merge": _l("Merge into the original"),
    "comment": _l("Comment"),
    "report": _l("Reported"),
    "route": _l("Routed"),
    "merged_in": _l("Duplicate merged in"),
    "callback": _l("Call back"),
    "reply_overdue": _l("Escalation reply overdue"),
}

STATUS_NAMES = {
    "reported": _l("Reported"),
    "verifying": _l("Being verified"),
    "filed": _l("Filed"),
    "dispatched": _l("Dispatched"),
    "suspended": _l("Suspended"),
    "handled": _l("Handled"),
    "checking": _l("Being checked"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}

TASK_NAMES = {
    "handle": _l("To handle"),
    "reply": _l("To reply"),
    "awaiting_approval": _l("Awaiting approval"),
    "dispatch": _l("To dispatch"),
    "approve": _l("To approve"),
    "file": _l("To file"),
    "close": _l("To close"),
    "accept": _l("To accept"),
    "request_check": _l("To send to check"),
    "verify": _l("To verify"),
    "check": _l("To check"),
    "overdue": _l("Overdue"),
    "callback": _l("To call back"),
}

# The routing explanation's reasons (dispatch.routing.match.REASONS, the same keys), in the user's language.
REASON_TEXTS = {
    "category_under": _l("%(code)s is under %(prefix)s"),
    "category_not_under": _l("%(code)s is not under %(prefixes)s"),
    "family": _l("%(family)s, the rule wants %(wanted)s"),
    "area_in": _l("cell %(cell)s is in %(prefix)s"),
    "area_not_in": _l("cell %(cell)s is in none of %(prefixes)s"),
    "zone_in": _l("in zone %(zones)s"),
    "zone_none": _l("the point lies in no live zone with %(wanted)s"),
    "urgency": _l("%(urgency)s, the rule wants %(wanted)s"),
    "time_inside": _l("%(at)s is inside the rule's hours"),
    "time_outside": _l("outside the rule's hours (%(problems)s)"),
    "keywords_found": _l("the description has %(words)s"),
    "keywords_none": _l("none of the keywords is in the description"),
    "source": _l("%(source)s, the rule wants %(wanted)s"),
    "owner_is": _l("asset %(asset)s is owned by %(owner)s"),
    "owner_none": _l("no registered asset with an owner"),
    "owner_unowned": _l("the asset has no owner"),
    "owner_retired": _l("asset %(asset)s is owned by %(owner)s, which is retired"),
    "disabled": _l("disabled"),
    "condition_fails": _l("the condition %(condition)s does not hold"),
    "to_department": _l("to %(department)s"),
    "department_retired": _l("department %(department)s is retired"),
    "no_locality": _l("no %(kind)s department serves street %(street)s or district %(district)s"),
    "to_locality": _l("to %(department)s, the locality's %(kind)s department (属地)"),
    "no_zone_owner": _l("the point lies in no department's zone"),
    "to_zone_owner": _l("to %(department)s, owner of zone %(zone)s"),
    "zone_owner_retired": _l("the zone's department is retired: %(zones)s"),
}
CONDITION_NAMES = {
    "category": _l("Category"),
    "family": _l("Component or event"),
    "area": _l("Area"),
    "zone": _l("Responsibility zone"),
    "urgency": _l("Urgency"),
    "time": _l("Time"),
    "keywords": _l("Keywords"),
    "source": _l("Source"),
}

REQUEST_NAMES = {"return": _l("Return"), "extension": _l("Extension"), "suspension": _l("Suspension")}
LIGHT_NAMES = {"green": _l("Green light"), "yellow": _l("Yellow light"), "red": _l("Red light")}
URGENCY_NAMES = {"urgent": _l("Urgent"), "normal": _l("Normal")}
SOURCE_NAMES = {
    "inspector": _l("Inspector"),
    "public": _l("Public"),
    "hotline": _l("Hotline"),
    "open311": _l("Open311"),
}

# The words of the page's script, by key.
TEXTS = {
    "loading": _l("Loading…"),
    "label_value": _l("%(label)s: %(value)s"),
    "empty": _l("Nothing waiting here."),
    "choose": _l("Choose a case in the list (j/k to move, Enter to open)."),
    "due": _l("Due"),
    "left": _l("%(time)s left"),
    "overdue": _l("Overdue by %(time)s"),
    "no_clock": _l("No deadline"),
    "days": _l("%(n)sd"),
    "photos": _l("Photos"),
    "no_photos": _l("No photos."),
    "photo": _l("Photo %(n)s"),
    "map": _l("Where"),
    "cell": _l("Cell"),
    "category": _l("Category"),
    "urgency": _l("Urgency"),
    "source": _l("Source"),
    "status": _l("Status"),
    "reported_at": _l("Reported at"),
    "department": _l("Department"),
    "description": _l("Description"),
    "address": _l("Address"),
    "history": _l("History"),
    "suggestion": _l("Suggested department"),
    "suggested_by": _l("Rule %(rule)s"),
    "no_suggestion": _l("No rule matched: choose the department."),
    "explain": _l("Why this department"),
    "rule_matched": _l("matched"),
    "rule_not_matched": _l("did not match"),
    "duplicates": _l("Suspected duplicate of"),
    "duplicate_of": _l("Merged into case %(code)s"),
    "distance": _l("%(m)s m away"),
    "open_original": _l("Open"),
    "pending": _l("Waiting for the dispatcher"),
    "hours": _l("Hours asked for"),
    "hours_n": _l("%(n)s hours"),
    "note": _l("Note"),
    "note_required": _l("Note (required)"),
    "result": _l("Result"),
    "pass": _l("Pass"),
    "fail": _l("Fail"),
    "result_photos": _l("Result photos"),
    "original": _l("Original case"),
    "send": _l("Submit"),
    "cancel_form": _l("Back"),
    "actions": _l("Actions"),
    "no_actions": _l("Nothing for you to do on this case now."),
    "done": _l("Done: %(action)s"),
    "stale": _l("Someone else acted on this case meanwhile. It has been reloaded: check it and try again."),
    "not_allowed": _l("Not possible now: %(message)s"),
    "cannot_now": _l("“%(action)s” cannot be done now (the case is %(status)s)."),
    "allowed_now": _l("Allowed now: %(actions)s"),
    "none": _l("none"),
    "offline": _l("The server cannot be reached. Check the network and try again."),
    "error": _l("The server refused: %(message)s"),
    "request_id": _l("Reference %(id)s"),
    "shortcuts": _l("Keyboard shortcuts"),
    "key_move": _l("Next / previous case"),
    "key_open": _l("Open the case"),
    "key_tab": _l("Switch list"),
    "key_reload": _l("Reload the list"),
    "key_help": _l("Show or hide this help"),
    "key_escape": _l("Close a form or this help; from the case back to the list"),
    "key_submit": _l("Send a form (Ctrl+Enter in a text box)"),
    "extensions_granted": _l("Extensions granted"),
    "escalated": _l("Escalated"),
    "requests": _l("My requests"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "by_system": _l("automatic"),
    "count": _l("%(n)s cases"),
    "count_one": _l("%(n)s case"),
    "approve_suspension": _l("Approve the suspension"),
    "merged": _l("Merged"),
    "by_actor": _l("%(name)s (%(role)s)"),
    "photos_report": _l("Report photos"),
    "photos_verify": _l("Verification photos"),
    "photos_handle": _l("Handling photos"),
    "photos_check": _l("Check photos"),
    "photos_other": _l("Other photos"),
    "caller": _l("Caller"),
    "satisfied": _l("Satisfied"),
    "basically_satisfied": _l("Basically satisfied"),
    "unsatisfied": _l("Unsatisfied"),
    "resolved": _l("The caller's problem was solved"),
    "resolved_yes": _l("solved"),
    "resolved_no": _l("not solved"),
    "rework": _l("reopened as rework"),
    "reject_suspension": _l("Reject the suspension"),
}


# The new-case form's words (static/js/desk-intake.js): hotline and public reports entered by the centre.
INTAKE_TEXTS = {
    "searching": _l("Searching…"),
    "no_address": _l("No address like this in the gazetteer: click the place on the map."),
    "outside": _l("outside every cell"),
    "place_cell": _l("Cell %(cell)s"),
    "choose_place": _l("Choose the place: search an address, or click the map."),
    "choose_category": _l("Choose a category from the list."),
    "no_duplicates": _l("No open case of this category nearby."),
    "duplicates": _l("Open cases of this category nearby (a new report would be a suspected duplicate):"),
    "duplicate_line": _l("%(code)s, %(m)s m away, reported %(at)s"),
    "created": _l("Case %(code)s created."),
    "work_order_exists": _l("Work order %(order)s is already case %(code)s."),
    "sending": _l("Sending…"),
}
REQUEST_KIND_NAMES = {
    "complaint": _l("Complaint"),
    "help": _l("Request for help"),
    "consultation": _l("Consultation"),
    "suggestion": _l("Suggestion"),
}


def _strings() -> dict[str, Any]:
    def plain(names: dict[str, Any]) -> dict[str, str]:
        return {key: str(value) for key, value in names.items()}

    return {
        "text": plain(TEXTS),
        "actions": plain(ACTION_NAMES),
        "statuses": plain(STATUS_NAMES),
        "tasks": plain(TASK_NAMES),
        "requests": plain(REQUEST_NAMES),
        "lights": plain(LIGHT_NAMES),
        "urgencies": plain(URGENCY_NAMES),
        "sources": plain(SOURCE_NAMES),
        "intake": plain(INTAKE_TEXTS),
        "roles": plain(ROLE_NAMES),
        "reasons": plain(REASON_TEXTS),
        "conditions": plain(CONDITION_NAMES),
    }


def _tabs(centre: bool, handler: bool) -> list[dict[str, Any]]:
    """The lists the desk shows: the caller's queue first, then the centre's views by state."""
    tabs = [{"id": "mine", "label": _("My work"), "source": "queue"}]
    if centre:
        tabs += [
            {"id": "reported", "label": _("New reports"), "source": "cases", "query": {"status": "reported"}},
            {"id": "filed", "label": _("Filed"), "source": "cases", "query": {"status": "filed"}},
            {"id": "dispatched", "label": _("Dispatched"), "source": "cases", "query": {"status": "dispatched"}},
            {"id": "checking", "label": _("Being checked"), "source": "cases", "query": {"status": "checking"}},
        ]
    if handler:
        tabs.append({"id": "ours", "label": _("All our cases"), "source": "cases", "query": {}})
    return tabs


@bp.get("/")
@allow(*DESK_ROLES)
def desk() -> Any:
    user = current_user()
    assert user is not None
    settings: Settings = current_app.extensions["citymgmt.settings"]
    session = db.session()
    english = (locale := get_locale()) is not None and locale.language == "en"
    departments = [{"code": d.code, "name": d.name_en if english else d.name} for d in live_departments(session)]
    department_name = next((d["name"] for d in departments if d["code"] == user.department_code), None)
    categories = {c.code: (c.name_en if english else c.name) for c in current_categories(session)}
    centre = user.has_role(*CENTRE_STAFF)
    handler = user.has_role(Role.handler)
    config = {
        "locale": "en" if english else "zh-CN",
        "timezone": settings.timezone,
        "user": {"id": user.id, "username": user.username, "roles": list(user.roles), "centre": centre},
        "department": user.department_code,
        "departments": departments,
        "categories": categories,
        "needs_note": sorted(m.action for m in MOVES if m.needs_note),
        "tabs": _tabs(centre, handler),
        "strings": _strings(),
        "refusals": refusal_table(),
    }
    roles = [str(ROLE_NAMES.get(role, role)) for role in user.roles]
    intake = user.has_role(*INTAKE_STAFF)  # the new-case form: hotline and public reports
    return render_template(
        "desk.html",
        config=config,
        user=user,
        roles=roles,
        intake=intake,
        request_kinds=REQUEST_KIND_NAMES,
        department_name=department_name or user.department_code,
    )
