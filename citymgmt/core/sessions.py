"""Browser sessions: Flask-Login over revocable server-side sessions, and CSRF protection for what browsers send.

Signing in through the form creates a row in `api_tokens` of kind `browser` (a random secret kept only as its
SHA-256, like a bearer token). The secret travels in Flask's signed session cookie (`citymgmt_session`, HttpOnly,
SameSite=Lax, Secure outside development and test) as Flask-Login's user id, and every request looks the row up:
so a session ends on the server when it is revoked (sign-out, new password, deactivation), when it has not been
used for `session_idle_minutes`, or `session_max_hours` after sign-in, whatever the cookie says.

A request authenticated by the cookie is one a browser may send on another site's behalf, so every state-changing
request so authenticated (and every form post to a page) must carry the page's CSRF token (Flask-WTF: form field
`csrf_token` or header `X-CSRFToken`). Bearer-token requests are exempt: browsers never add that header by
themselves. The access hook (citymgmt.core.access) decides which requests need the check and calls `check_csrf`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, flash, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session

from citymgmt.core.clock import utcnow
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.errors import Forbidden
from citymgmt.core.identity import ApiToken, TokenKind, User, issue_token, live_credential, revoke_token

log = logging.getLogger(__name__)

COOKIE_NAME = "citymgmt_session"
SESSION_ENDED = "session_ended"  # flashed to the sign-in page when a cookie's session is over


class CsrfFailed(Forbidden):
    code = "csrf_failed"


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifetimes:
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes), absolute=timedelta(hours=settings.session_max_hours)
        )

    @property
    def touch_every(self) -> timedelta:
        """How stale `last_used_at` may get: a write at most once a minute, not on every request."""
        return min(timedelta(minutes=1), self.idle / 10)


class BrowserSession(UserMixin):
    """What Flask-Login holds for a signed-in browser: the user, the session row and its secret (the "id")."""

    def __init__(self, user: User, row: ApiToken, secret: str) -> None:
        self.user = user
        self.row = row
        self.secret = secret

    def get_id(self) -> str:
        return self.secret


def start_browser_session(session: Session, user: User, now: datetime, lifetimes: Lifetimes) -> BrowserSession:
    secret, row = issue_token(session, user, now, ttl=lifetimes.absolute, kind=TokenKind.browser)
    return BrowserSession(user, row, secret)


def browser_session(session: Session, secret: str, now: datetime, lifetimes: Lifetimes) -> BrowserSession | None:
    """The live session of this secret, or None when it is unknown, revoked, idle too long or past its end."""
    found = live_credential(session, secret, TokenKind.browser, now)
    if found is None:
        return None
    user, row = found
    if (row.last_used_at or row.created_at) + lifetimes.idle <= now:
        return None
    return BrowserSession(user, row, secret)


def touch(row: ApiToken, now: datetime, lifetimes: Lifetimes) -> bool:
    """Record that the session was used (for the idle limit); True when the row changed."""
    if row.last_used_at is not None and now - row.last_used_at < lifetimes.touch_every:
        return False
    row.last_used_at = now
    return True


def end_browser_session(session: Session, row: ApiToken, now: datetime) -> None:
    revoke_token(session, row, now)


def lifetimes_of(app: Flask) -> Lifetimes:
    lifetimes: Lifetimes = app.extensions["citymgmt.session_lifetimes"]
    return lifetimes


def _load_browser_session(secret: str) -> BrowserSession | None:
    """Flask-Login's user loader: the cookie's secret → the live session, its use recorded in its own commit."""
    lifetimes = lifetimes_of(current_app)
    now = utcnow()
    db_session = db.session()
    found = browser_session(db_session, secret, now, lifetimes)
    if found is None:
        session.pop("_user_id", None)
        flash(SESSION_ENDED, "auth")  # the next sign-in page says why (even when a script's call found out first)
        return None
    if touch(found.row, now, lifetimes):
        db_session.commit()  # bookkeeping before the view starts its own transaction
    return found


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer built once for the app's keys instead of on every request
    (Flask builds it afresh for each request, also for bearer-token requests that carry no cookie)."""

    def __init__(self) -> None:
        self._signer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        found = self._signer
        if found is None or found[0] != keys:
            found = self._signer = (keys, super().get_signing_serializer(app))
        return found[1]


def install_browser_sessions(app: Flask, settings: Settings) -> None:
    app.extensions["citymgmt.session_lifetimes"] = Lifetimes.from_settings(settings)
    app.session_interface = SignedCookieSessions()
    manager = LoginManager(app)
    manager.session_protection = "basic"  # "strong" would sign phones out whenever they change network
    manager.user_loader(_load_browser_session)
    CSRFProtect(app)


def check_csrf() -> None:
    """Refuse the request (403 csrf_failed) unless it carries this session's valid CSRF token."""
    try:
        current_app.extensions["csrf"].protect()
    except CSRFError as exc:
        raise CsrfFailed(
            f"{exc.description} Send the page's CSRF token (meta csrf-token) as the csrf_token form field or the "
            "X-CSRFToken header; API clients use a bearer token instead of the session cookie."
        ) from None
