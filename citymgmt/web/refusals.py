"""The domain's refusals in the user's language (zh-CN first): one table, by the error's code and the field it
names, for every page that shows one (the admin console's forms).

A domain error carries a `code` and `details` (field → what is wrong, or the value that was refused; see
citymgmt.core.errors), and an English message. A page in Chinese shows, for each field, the text of (code, field)
here, and as the refusal's message the text of its one field, or of (code, None) when it names several; a code or
field without a text shows the domain's English. A text says what the field needs, true whatever the exact problem
was; `%(value)s` in a text is the detail's value, used only where the domain gives the refused value (a code, a
username), never its English problem. In English the domain's own message is shown, as it is.
"""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from citymgmt.core.errors import DomainError
from citymgmt.core.identity import MIN_PASSWORD

REFUSAL_TEXTS: dict[tuple[str, str | None], LazyString] = {
    # A refusal that names several fields: each is shown under its field.
    ("validation_error", None): _l("some fields are not valid: see what is said under each"),
    # Departments (dispatch.departments.operations) and accounts (citymgmt.core.identity).
    ("validation_error", "code"): _l("1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"),
    ("validation_error", "name"): _l("required, at most 100 characters"),
    ("validation_error", "name_en"): _l("at most 100 characters"),
    ("validation_error", "kind"): _l("one of the kinds listed"),
    ("validation_error", "district"): _l("the 6-digit area code of a live district"),
    ("validation_error", "street"): _l("the area code of a live street, in the district given"),
    ("validation_error", "parent"): _l("another live department, not one that answers to this one"),
    ("validation_error", "phone"): _l("at most 40 characters"),
    ("validation_error", "department"): _l("a live department (a handler must have one)"),
    ("validation_error", "username"): _l("2-40 lowercase letters, digits, '.', '_' or '-', not in use"),
    ("validation_error", "display_name"): _l("at most 100 characters"),
    ("validation_error", "roles"): _l("at least one of the roles listed"),
    ("validation_error", "password"): _l("at least %(min_password)s characters, not containing the username"),
    # Notification channels (dispatch.notifications.operations).
    ("validation_error", "target"): _l(
        "an e-mail address for e-mail, an http(s) URL for a webhook; at most 500 characters"
    ),
    ("validation_error", "secret"): _l("a webhook needs a secret of 16 to 200 characters, to sign its requests"),
    ("validation_error", "events"): _l(
        "at least one of the events listed (analysis_report: the centre's channels only)"
    ),
    # The working calendar (dispatch.sla.calendar).
    ("validation_error", "day"): _l("a day between 1990 and 2100"),
    # Not found: the detail is the refused value.
    ("not_found", None): _l("not found, or no longer live"),
    ("not_found", "code"): _l("no live department %(value)s"),
    ("not_found", "username"): _l("no account %(value)s"),
    ("not_found", "channel"): _l("no live notification channel %(value)s"),
    # Conflicts: the detail is the refused value.
    ("conflict", "code"): _l("the code %(value)s is taken (a retired department's code is not used again)"),
    ("conflict", "children"): _l(
        "live departments answer to it (%(value)s): retire them or give them another parent first"
    ),
}


def _english() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "en"


def _text(code: str, field: str | None, value: Any) -> str | None:
    text = REFUSAL_TEXTS.get((code, field))
    if text is None:
        return None
    return str(text) % {"value": str(value)[:200], "min_password": MIN_PASSWORD}


def refusal_fields(exc: DomainError) -> dict[str, str]:
    """Each field's problem, in the user's language where the table has it (else the domain's English)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    fields = {str(k): str(v) for k, v in details.items()}
    if _english():
        return fields
    return {k: _text(exc.code, k, v) or v for k, v in fields.items()}


def refusal_message(exc: DomainError) -> str:
    """The refusal's message, in the user's language where the table has it (else the domain's English)."""
    if _english():
        return exc.message
    details = exc.details if isinstance(exc.details, dict) else {}
    if len(details) == 1:
        ((field, value),) = details.items()
        text = _text(exc.code, str(field), value)
    else:
        text = _text(exc.code, None, None)
    return text or exc.message
