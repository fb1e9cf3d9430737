"""Access control, written once: every endpoint declares who may call it, one hook enforces it for all.

A view declares its policy with `@allow(...)` (roles), `@allow_signed_in` or `@allow_public`. Before every request
the hook finds the endpoint's policy, authenticates the caller (a bearer token, else the browser session cookie),
checks the CSRF token where a browser could have been made to send the request (citymgmt.core.sessions), and
answers 401 or 403 (a page sends the anonymous to the sign-in form instead). An endpoint without a policy is
refused (and a test walks every route to check that none lacks one): forgetting fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import flask_login
from flask import Flask, g, redirect, request

from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.errors import Forbidden
from citymgmt.core.identity import ALL_ROLES, ApiToken, Unauthenticated, User, user_for_token
from citymgmt.core.pages import is_page_request, page_support
from citymgmt.core.sessions import check_csrf

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__citymgmt_access__"

# Endpoints registered by libraries, not by us.
LIBRARY_PUBLIC = frozenset({"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclass(frozen=True)
class Policy:
    public: bool = False
    roles: tuple[str, ...] = ()  # empty and not public: any signed-in user

    def describe(self) -> str:
        return "public" if self.public else ("signed in: " + ", ".join(self.roles) if self.roles else "signed in")


def _mark(policy: Policy) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        setattr(view, ATTRIBUTE, policy)
        return view

    return decorate


def allow(*roles: str) -> Callable[[F], F]:
    unknown = set(roles) - set(ALL_ROLES)
    if not roles or unknown:
        raise ValueError(f"allow() needs roles among {ALL_ROLES}, got {roles}")
    return _mark(Policy(roles=tuple(roles)))


allow_signed_in = _mark(Policy())
allow_public = _mark(Policy(public=True))


def policy_of(app: Flask, endpoint: str) -> Policy | None:
    if endpoint in LIBRARY_PUBLIC:
        return Policy(public=True)
    view = app.view_functions.get(endpoint)
    return getattr(view, ATTRIBUTE, None) if view is not None else None


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def current_credential() -> ApiToken | None:
    """The bearer token or browser session that authenticated this request."""
    row: ApiToken | None = g.get("credential")
    return row


def authenticated_by() -> str | None:
    """How this request was authenticated: "bearer", "session" (the browser cookie) or None."""
    via: str | None = g.get("auth_via")
    return via


def install_access_control(app: Flask) -> None:
    @app.before_request
    def _check() -> Any:
        if request.endpoint is None:
            return None  # no such route: the 404 handler answers
        policy = policy_of(app, request.endpoint)
        if policy is None:
            log.error("endpoint %s has no access policy: refused", request.endpoint)
            raise Forbidden("this endpoint has no access policy")
        g.user = _authenticate()
        if request.method not in SAFE_METHODS and (authenticated_by() == "session" or is_page_request()):
            check_csrf()
        if policy.public:
            return None
        if g.user is None:
            support = page_support()
            if support is not None and is_page_request():
                return redirect(support.login_url(request.full_path.rstrip("?")))
            raise Unauthenticated("sign in first: send Authorization: Bearer <token> (POST /api/v1/auth/token)")
        if policy.roles and not g.user.has_role(*policy.roles):
            raise Forbidden(
                "your role may not do this", details={"allowed_roles": list(policy.roles), "your_roles": g.user.roles}
            )
        return None

    @app.after_request
    def _challenge(response: Any) -> Any:
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="citymgmt"'
        return response


def _authenticate() -> User | None:
    """A bearer token when the request has an Authorization header (the cookie is then ignored), else the session."""
    g.auth_via = None
    g.credential = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        user, row = user_for_token(db.session(), token.strip(), utcnow())
        g.auth_via, g.credential = "bearer", row
        return user
    browser = flask_login.current_user
    if browser.is_authenticated:
        g.auth_via, g.credential = "session", browser.row
        signed_in: User = browser.user
        return signed_in
    return None
