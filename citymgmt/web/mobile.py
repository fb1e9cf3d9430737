"""The inspector app (/m/, 监督员): report a problem in three screens, even offline, and do my verifications and checks.

One page (the app shell) and a script; the service worker at /m/sw.js (scope /m/) keeps the shell and the scripts it
needs in the browser's cache, so the app opens without a network; reports made offline wait in IndexedDB with their
idempotency keys (static/js/mobile.js). The manifest makes it installable on the phone's home screen.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from citymgmt.core.access import allow, allow_public, current_user
from citymgmt.core.db import db
from citymgmt.core.departments import live_departments
from citymgmt.web.desk import STATUS_NAMES
from citymgmt.web.refusals import refusal_table

bp = Blueprint("mobile", __name__, url_prefix="/m", template_folder="templates")

STATIC = Path(__file__).parent / "static"
# What the service worker keeps for offline use, besides the shell itself (paths under static/).
SHELL_ASSETS = (
    "css/site.css",
    "css/mobile.css",
    "js/api.js",
    "js/map.js",
    "js/mobile.js",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/images/marker-icon.png",
    "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-shadow.png",
    "icons/m-192.png",
    "icons/m-512.png",
)
MAX_PHOTOS = 9
PHOTO_LONGEST_SIDE = 1600


@cache
def _assets_version() -> str:
    """Changes whenever a cached file changes, so that the service worker replaces its cache."""
    digest = hashlib.sha256()
    for name in (*SHELL_ASSETS, "../templates/mobile/app.html"):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


def _strings() -> dict[str, str]:
    """Every string the script shows, translated here ({name} marks a value the script fills in)."""
    return {
        "accuracy": _("±%(metres)s m", metres="{metres}"),
        "locating": _("Finding your position…"),
        "pin": _("The problem's place: drag to move"),
        "zoom_in": _("Zoom in"),
        "zoom_out": _("Zoom out"),
        "no_location": _("No position from the phone: drag the pin to the place."),
        "cell": _("Cell %(code)s · %(community)s", code="{code}", community="{community}"),
        "matching": _("Finding the cell…"),
        "cell_later": _("Offline: the cell is found when the report is sent."),
        "no_pin": _("Put the pin on the place first."),
        "no_category": _("Choose a category first."),
        "no_categories": _("No category matches."),
        "categories_offline": _("The categories could not be loaded; connect once to keep them on the phone."),
        "chosen_category": _("Category: %(name)s (%(code)s)", name="{name}", code="{code}"),
        "too_many_photos": _("At most %(count)s photos.", count=MAX_PHOTOS),
        "photo_unreadable": _("This photo could not be read: %(name)s", name="{name}"),
        "remove_photo": _("Remove photo %(number)s", number="{number}"),
        "photo_alt": _("Photo %(number)s", number="{number}"),
        "sending": _("Sending…"),
        "sent": _("Sent: case %(code)s in cell %(cell)s.", code="{code}", cell="{cell}"),
        "queued": _("No network: the report is kept on the phone and sent when you are back online."),
        "failed": _("Not accepted: %(message)s", message="{message}"),
        "pending": _("Waiting to be sent: %(count)s", count="{count}"),
        "failed_count": _("Not accepted: %(count)s", count="{count}"),
        "discard": _("Discard"),
        "signed_out": _("Your session has ended: sign in again to send the waiting reports."),
        "offline": _("Offline"),
        "no_tasks": _("Nothing to verify or check in your cells."),
        "tasks_offline": _("My tasks need the network."),
        "task_verify": _("Verify"),
        "task_check": _("Check"),
        "light_green": _("On time"),
        "light_yellow": _("Due soon"),
        "light_red": _("Overdue"),
        "done_verify": _("Verification recorded."),
        "done_check": _("Check recorded."),
        "stale": _("The case changed meanwhile; it has been reloaded. Look again and repeat."),
        "cannot_now": _("This cannot be done now: the case is %(status)s.", status="{status}"),
        "no_photos": _("No photos"),
        "error": _("Something went wrong: %(message)s", message="{message}"),
        "no_reports": _("No reports yet."),
        "reports_offline": _("My reports need the network."),
        "not_dispatched": _("No department yet"),
        "left": _("%(time)s left", time="{time}"),
        "overdue_by": _("Overdue by %(time)s", time="{time}"),
        "no_deadline": _("No deadline"),
        "closed": _("Closed"),
        "retry_in": _("Trying again in %(time)s", time="{time}"),
        **{f"status_{state}": str(name) for state, name in STATUS_NAMES.items()},
    }


@bp.get("/")
@allow("inspector")
def app_shell() -> str:
    user = current_user()
    assert user is not None
    settings = current_app.extensions["citymgmt.settings"]
    session = db.session()
    english = (locale := get_locale()) is not None and locale.language == "en"
    config = {
        "strings": _strings(),
        "refusals": refusal_table(),
        "departments": {d.code: (d.name_en if english else d.name) for d in live_departments(session)},
        "max_photos": MAX_PHOTOS,
        "photo_longest_side": PHOTO_LONGEST_SIDE,
        "timezone": settings.timezone,
        "user": user.username,
        "sw": url_for("mobile.service_worker"),
        "token_url": url_for("mobile.token"),
        "login_url": url_for("web.login", next=url_for("mobile.app_shell")),
    }
    return render_template("mobile/app.html", m_config=config, max_photos=MAX_PHOTOS, user_name=user.display_name)


@bp.get("/token")
@allow("inspector")
def token() -> Response:
    """A fresh CSRF token for a shell that was opened from the cache (its own may belong to an older session)."""
    response = current_app.response_class(json.dumps({"csrf_token": generate_csrf()}), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/sw.js")
@allow_public  # a script with nothing private; browsers fetch it to check for updates
def service_worker() -> Response:
    assets = [url_for("static", filename=name) for name in SHELL_ASSETS]
    body = render_template(
        "mobile/sw.js",
        version=_assets_version(),
        shell=url_for("mobile.app_shell"),
        assets=assets,
    )
    response = current_app.response_class(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = url_for("mobile.app_shell")
    return response


@bp.get("/manifest.webmanifest")
@allow_public
def manifest() -> Response:
    data: dict[str, Any] = {
        "name": _("City management inspector"),
        "short_name": _("Inspector"),
        "start_url": url_for("mobile.app_shell"),
        "scope": url_for("mobile.app_shell"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f4f6f8",
        "theme_color": "#0b5cad",
        "icons": [
            {"src": url_for("static", filename=f"icons/m-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png"}
            for size in (192, 512)
        ],
    }
    return current_app.response_class(json.dumps(data, ensure_ascii=False), mimetype="application/manifest+json")
