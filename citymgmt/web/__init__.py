"""Server-rendered pages: signing in and out, the landing page; later the inspector app, the desk and the dashboard.

No front-end build step: Jinja2 templates, one small stylesheet, zh-CN first with English (Flask-Babel). Every page
carries the CSRF token in `<meta name="csrf-token">` for scripts to send as the X-CSRFToken header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, make_response, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from citymgmt.core.access import allow_public
from citymgmt.core.config import Settings
from citymgmt.core.pages import PageSupport, add_page_blueprint, install_pages, is_page_request

ERROR_TEXTS = {
    "csrf_failed": (
        _l("This form can no longer be sent"),
        _l("The page was open too long, or the form came from another site. Go back, reload the page and try again."),
    ),
    "forbidden": (_l("Not for your role"), _l("Your role does not give access to this page.")),
    "not_found": (_l("Not found"), _l("There is no such page.")),
    "unavailable": (_l("Temporarily unavailable"), _l("The system is unavailable; try again shortly.")),
    "bad_request": (
        _l("Not valid"),
        _l("Something in the request is not valid. Go back and check what was typed."),
    ),
    "validation_error": (
        _l("Not valid"),
        _l("Something in the request is not valid. Go back and check what was typed."),
    ),
}
GENERIC_ERROR = (_l("Something went wrong"), _l("The request could not be completed."))


def render_error_page(status: int, code: str, message: str) -> Response:
    title, text = ERROR_TEXTS.get(code, GENERIC_ERROR)
    # A refused form: back to the form, freshly loaded; anything else: back to the landing page.
    back = request.full_path.rstrip("?") if code == "csrf_failed" else url_for("web.home")
    body = render_template(
        "error.html", status=status, title=title, text=text, request_id=g.get("request_id"), back=back
    )
    return make_response(body, status)


def login_url(next_path: str) -> str:
    return url_for("web.login", next=next_path) if next_path != "/" else url_for("web.login")


def lang_url(code: str) -> str:
    """This page in the other language (a GET of the same path and arguments)."""
    args = request.args.to_dict()
    args["lang"] = code
    return f"{request.path}?{urlencode(args)}"


def map_settings(settings: Settings) -> dict[str, Any]:
    """What static/js/map.js needs (templates/_map.html passes it to the page): the basemap, its CRS, the zone."""
    return {
        "basemap_url": settings.basemap_url,
        "basemap_crs": settings.basemap_crs if settings.basemap_url else "wgs84",
        "attribution": settings.basemap_attribution,
        "timezone": settings.timezone,
    }


@allow_public
def favicon() -> Response:
    """The site's icon, where browsers look for it on every page (the phone app's icon, small)."""
    response = current_app.send_static_file("icons/favicon.ico")
    response.headers["Cache-Control"] = "public, max-age=604800"
    return response


def _city_extent() -> list[float] | None:
    """Where maps open (static/js/map.js): the loaded city's extent, [west, south, east, north] in WGS-84."""
    from citymgmt.core.db import db
    from grids.maps import city_extent

    extent = city_extent(db.session())
    return list(extent) if extent is not None else None


def init_web(app: Flask, settings: Settings) -> None:
    from citymgmt.web.auth import bp
    from citymgmt.web.i18n import html_lang, install_i18n, remember_choice
    from citymgmt.web.mobile import bp as mobile_bp

    install_i18n(app, settings)
    install_pages(app, PageSupport(render_error=render_error_page, login_url=login_url))
    app.register_blueprint(bp)
    add_page_blueprint(app, bp.name)
    from citymgmt.web.desk import bp as desk_bp

    app.register_blueprint(desk_bp)
    add_page_blueprint(app, desk_bp.name)
    from citymgmt.web.dashboard import bp as dashboard_bp

    app.register_blueprint(dashboard_bp)
    add_page_blueprint(app, dashboard_bp.name)
    from citymgmt.web.supervise import bp as supervise_bp

    app.register_blueprint(supervise_bp)
    add_page_blueprint(app, supervise_bp.name)
    app.register_blueprint(mobile_bp)
    add_page_blueprint(app, mobile_bp.name)
    from citymgmt.web.admin import bp as admin_bp

    app.register_blueprint(admin_bp)
    add_page_blueprint(app, admin_bp.name)
    app.jinja_env.globals["map_config"] = map_settings(settings)  # a global: imported macros see it too
    app.add_url_rule("/favicon.ico", "favicon", favicon)  # a file, like static ones: no page blueprint's
    app.jinja_env.globals["city_extent"] = _city_extent  # read per page: a city loaded later is seen at once

    @app.context_processor
    def _page_helpers() -> dict[str, Any]:
        return {"html_lang": html_lang, "lang_url": lang_url}

    @app.after_request
    def _remember_language(response: Response) -> Response:
        return remember_choice(response) if is_page_request() else response
