"""Signing in and out in the browser (/login, /logout) and the landing page (/)."""

from __future__ import annotations

import logging
import math
from typing import Any

import flask_login
from flask import Blueprint, current_app, get_flashed_messages, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from citymgmt.api.errors import http_headers, http_status
from citymgmt.core.access import allow_public, allow_signed_in, authenticated_by, current_credential, current_user
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.errors import TooManyAttempts
from citymgmt.core.identity import Unauthenticated
from citymgmt.core.sessions import SESSION_ENDED, end_browser_session, lifetimes_of, start_browser_session
from citymgmt.core.signin import login_throttle, sign_in
from citymgmt.web.forms import LoginForm, LogoutForm
from citymgmt.web.i18n import ROLE_NAMES
from citymgmt.web.navigation import app_for, links_for, safe_next

bp = Blueprint("web", __name__, template_folder="templates")
audit = logging.getLogger("citymgmt.audit")


@bp.route("/login", methods=["GET", "POST"])
@allow_public
def login() -> Any:
    target = safe_next(request.args.get("next"), default="")  # none: the role's own app (app_for)
    user = current_user()
    if request.method == "GET" and user is not None:
        return redirect(target or app_for(user))
    form = LoginForm()
    error, status, headers = None, 200, {}
    if SESSION_ENDED in get_flashed_messages(category_filter=["auth"]):
        error = _("Your session has ended. Sign in again.")
    if request.method == "POST":
        status = 422
        if form.validate():
            try:
                return _sign_in(form.username.data, form.password.data, target)
            except TooManyAttempts as exc:
                minutes = math.ceil((exc.retry_after or 60) / 60)
                error = ngettext(
                    "Too many failed sign-ins. Try again in %(num)d minute.",
                    "Too many failed sign-ins. Try again in %(num)d minutes.",
                    minutes,
                )
                status, headers = http_status(exc), http_headers(exc)
            except Unauthenticated:
                error, status = _("Wrong username or password."), 401
    return render_template("login.html", form=form, error=error, next=target), status, headers


def _sign_in(username: str, password: str, target: str) -> Any:
    db_session = db.session()
    now = utcnow()
    user = sign_in(db_session, login_throttle(), username, password, request.remote_addr or "", now, via="form")
    previous = current_credential() if authenticated_by() == "session" else None
    if previous is not None:
        end_browser_session(db_session, previous, now)  # signing in again in this browser replaces its session
    browser = start_browser_session(db_session, user, now, lifetimes_of(current_app))
    session.clear()  # nothing from before signing in carries over, the CSRF secret included
    flask_login.login_user(browser)
    session.permanent = True  # the cookie outlives the browser window; the server ends the session
    return redirect(target or app_for(user))


@bp.post("/logout")
@allow_public  # an ended session can still sign out: the cookie is cleared either way
def logout() -> Any:
    browser = flask_login.current_user
    if browser.is_authenticated:
        end_browser_session(db.session(), browser.row, utcnow())
        audit.info("sign-out: user=%s", browser.user.username)
    flask_login.logout_user()
    session.clear()
    return redirect(url_for("web.login"))


@bp.get("/")
@allow_signed_in
def home() -> Any:
    user = current_user()
    assert user is not None
    roles = [str(ROLE_NAMES.get(role, role)) for role in user.roles]
    return render_template("home.html", user=user, roles=roles, links=links_for(user), logout_form=LogoutForm())
