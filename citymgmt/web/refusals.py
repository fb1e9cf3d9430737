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
from dispatch.routing.rules import FIELDS_AT

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
    ("validation_error", "department"): _l("a live department (a dispatch names one, and a handler must have one)"),
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
    # The case's moves (dispatch.workflow.moves), as the desk and the inspector's phone make them.
    ("validation_error", "note"): _l("a note saying why"),
    ("validation_error", "hours"): _l("the hours asked for: a number more than 0"),
    ("validation_error", "original"): _l("the number of another live case (not cancelled, not itself a duplicate)"),
    ("validation_error", "result"): _l("one of the answers offered"),
    ("validation_error", "resolved"): _l("whether the caller's problem was solved"),
    ("validation_error", "urgency"): _l("a level of urgency the category has a time limit for"),
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
    # Accounts (citymgmt.core.identity and citymgmt.core.accounts): the detail is the username.
    ("account_exists", "username"): _l("the username %(value)s is taken (a deactivated account keeps its name)"),
    ("account_deactivated", "username"): _l("the account %(value)s is deactivated"),
    ("own_account", "username"): _l("you cannot deactivate your own account: another administrator can"),
}


# The rule book's problems (dispatch.routing.rules, as the admin console's rules editor shows them), by the last word
# of the problem's path (rules.3.then.department: department; rules.3.when.category.0: category; rules.3: rule).
RULE_TEXTS: dict[str, LazyString] = {
    "file": _l("YAML text with a list of rules under 'rules' (a syntax error: see the line marked)"),
    "version": _l("the format's version, 1, or left out"),
    "rules": _l("a list of rules (an empty list only with 'retire every rule' ticked)"),
    "rule": _l("a rule: a mapping with code, name, priority, when and then"),
    "code": _l("letters, digits, '.', '_' or '-', and no other rule in the file with the same code"),
    "name": _l("required, 1-200 characters"),
    "priority": _l("a whole number from 0 to 1,000,000"),
    "enabled": _l("true or false"),
    "when": _l("the conditions: category, family, area, zone, urgency, time, keywords, source"),
    "then": _l("exactly one of department, locality or zone_owner; urgency, auto_dispatch and auto_file optional"),
    "category": _l("category codes or prefixes, like C01 or E0102"),
    "family": _l("component or event"),
    "area": _l("area or cell codes of 2 to 15 digits"),
    "zone": _l("true, or a mapping of kind and codes"),
    "kind": _l("a kind of zone, 1-40 characters"),
    "codes": _l("zone codes of 1-40 characters"),
    "urgency": _l("urgent or normal"),
    "time": _l("weekdays, or from and to, or both"),
    "weekdays": _l("days of the week from 1 (Monday) to 7 (Sunday)"),
    "from": _l("a time as HH:MM; from and to both given, and not the same"),
    "to": _l("a time as HH:MM; from and to both given, and not the same"),
    "keywords": _l("keywords of 1-40 characters"),
    "source": _l("inspector, public, hotline or open311"),
    "department": _l("the code of a live department"),
    "locality": _l("one of the city's kinds of department"),
    "zone_owner": _l("true: the zone's owner department"),
    "auto_dispatch": _l("true or false"),
    "auto_file": _l("true or false"),
}
UNKNOWN_RULE_FIELD = _l("no such field here: misspelt, or at the wrong level?")


def rule_problem(path: str, problem: str) -> str:
    """What the rule book's field at `path` needs, in the user's language (in English: the domain's own problem)."""
    if _english():
        return problem
    words = [word for word in path.split(".") if not word.isdigit()] or ["file"]
    if words == ["rules"] and path != "rules":
        return str(RULE_TEXTS["rule"])  # rules.3: the rule itself
    parent = words[-2] if len(words) > 1 else ""
    if words[-1] not in FIELDS_AT.get(parent, frozenset()):
        return str(UNKNOWN_RULE_FIELD)
    text = RULE_TEXTS.get(words[-1])
    return problem if text is None else str(text)  # a field with no text yet: the domain's English


def refusal_table() -> dict[str, str]:
    """REFUSAL_TEXTS for the pages' scripts (api.js `refusalText`), keyed "code field" ("code" alone: a refusal
    naming several fields), in the user's language; empty in English, where the scripts show the domain's own words.
    `%(value)s` is left for the script to fill in with the detail's value."""
    if _english():
        return {}
    return {
        f"{code} {field}" if field else code: str(text).replace("%(min_password)s", str(MIN_PASSWORD))
        for (code, field), text in REFUSAL_TEXTS.items()
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
