"""The pages' language: zh-CN unless the user picked English (or CITYMGMT_LOCALE says otherwise).

Strings are written in English in the code and templates and translated to Chinese in
translations/zh_Hans_CN/LC_MESSAGES/messages.po (zh_Hans_CN is Babel's full name for zh_CN, and the directory it
looks up). The compiled .mo beside it is committed, so a fresh clone needs no step; `make translations`
re-extracts and recompiles, and a test fails when the .mo is stale or a string untranslated.
A link with `?lang=en` or `?lang=zh_CN` switches, and a cookie keeps the choice.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, current_app, request
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l

from citymgmt.core.config import Settings

LOCALES = ("zh_CN", "en")
LANG_COOKIE = "citymgmt_lang"
TRANSLATIONS = Path(__file__).parent / "translations"

ROLE_NAMES = {
    "inspector": _l("Inspector"),
    "operator": _l("Intake operator"),
    "leader": _l("Shift leader"),
    "dispatcher": _l("Dispatcher"),
    "handler": _l("Department handler"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
}


def select_locale() -> str:
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    settings: Settings = current_app.extensions["citymgmt.settings"]
    return settings.default_locale


def html_lang() -> str:
    """The page's lang attribute: zh-CN or en."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh-CN"


def remember_choice(response: Response) -> Response:
    """Keep a language picked with ?lang= for the next pages."""
    chosen = request.args.get("lang")
    if chosen in LOCALES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        )
    return response


def install_i18n(app: Flask, settings: Settings) -> None:
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=settings.default_locale,
        default_timezone=settings.timezone,
        default_translation_directories=str(TRANSLATIONS),
    )
