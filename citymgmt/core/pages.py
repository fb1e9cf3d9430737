"""Requests for server-rendered pages, as opposed to the API: the two answer errors and anonymous callers differently.

An API caller gets the one JSON error shape and 401. A page gets an HTML error page and, when not signed in, a
redirect to the sign-in form. `citymgmt.web` registers its blueprints and how it renders errors here, so that
the core (access control, error handlers) can tell the two apart without importing the web package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, has_request_context, request

KEY = "citymgmt.pages"


@dataclass
class PageSupport:
    render_error: Callable[[int, str, str], Response]  # (status, code, message) → an HTML page
    login_url: Callable[[str], str]  # where to sign in, coming back to the given path afterwards
    blueprints: set[str] = field(default_factory=set)


def install_pages(app: Flask, support: PageSupport) -> None:
    app.extensions[KEY] = support


def add_page_blueprint(app: Flask, name: str) -> None:
    """Mark a blueprint's views as pages (the inspector app, the desk, the dashboard each call this)."""
    app.extensions[KEY].blueprints.add(name)


def page_support() -> PageSupport | None:
    support: PageSupport | None = current_app.extensions.get(KEY)
    return support


def is_page_request() -> bool:
    if not has_request_context() or request.blueprint is None:
        return False
    support = page_support()
    return support is not None and request.blueprint in support.blueprints
