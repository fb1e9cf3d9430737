"""The admin's console (/admin/, 管理): departments, the working calendar, the routing rules, notification channels
and notifications that could not be delivered, and accounts, in the browser.

Server-rendered forms, no script, like the supervisor's pages. Every view is for admins only (others 403), every
form carries the page's CSRF token (checked before the view, as for every page), and every change goes through the
domain operation the API and the command line use, in the request's one transaction: a refused change is tried
inside a savepoint, so that nothing of it is left, and the form comes back with the refusal named by field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, get_flashed_messages, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from citymgmt.api.errors import http_status
from citymgmt.core.access import allow
from citymgmt.core.errors import DomainError
from citymgmt.web.refusals import refusal_fields, refusal_message

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="../templates")

FLASHED = "admin"  # the flash category of the console's notices

SECTIONS = (
    ("admin.departments", _l("Departments")),
    ("admin.calendar", _l("Working calendar")),
    ("admin.rules", _l("Routing rules")),
    ("admin.notifications", _l("Notifications")),
    ("admin.accounts", _l("Accounts")),
)


def english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


class Refused(Exception):
    """A change the domain refused, as the page shows it: the status, the message, and the problem of each field."""

    def __init__(self, exc: DomainError) -> None:
        super().__init__(exc.message)
        self.status = http_status(exc)
        self.code = exc.code
        self.message = refusal_message(exc)  # in the user's language where the one table has it
        self.fields = refusal_fields(exc)
        self.error = exc  # as the domain said it (a page with its own texts for the domain's details reads it)


@contextmanager
def attempt(session: Session) -> Iterator[None]:
    """Run a change in a savepoint: refused (a DomainError), it leaves nothing behind and is raised as Refused."""
    try:
        with session.begin_nested():
            yield
    except DomainError as exc:
        session.expire_all()
        raise Refused(exc) from None


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A console page: its section's navigation and the notices flashed by the last change."""
    body = render_template(
        template,
        sections=SECTIONS,
        done=get_flashed_messages(category_filter=[FLASHED]),
        **context,
    )
    return body, status


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    return allow("admin")(view)


@bp.get("/")
@admin_only
def index() -> Any:
    from citymgmt.core.accounts import list_accounts
    from citymgmt.core.db import db
    from citymgmt.core.departments import live_departments
    from dispatch.notifications.operations import failures
    from dispatch.routing.rules import rule_cache

    session = db.session()
    book = rule_cache.book(session)
    _first, active = list_accounts(session, "", 0, 1, active_only=True)
    figures = {
        "departments": len(live_departments(session)),
        "rules": len(book.rules),
        "revision": book.revision,
        "failures": len(failures(session)),
        "accounts": active,
    }
    return render("admin/index.html", figures=figures, title=_("Administration"))


from citymgmt.web.admin import accounts, calendar, departments, notifications, rules  # noqa: E402,F401
