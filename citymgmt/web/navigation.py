"""Where a signed-in user may go: the app each role lands on, the landing page's links by role, and the safe `next`
after signing in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from citymgmt.core.identity import User


@dataclass(frozen=True)
class Link:
    label: Any  # a lazy translated string
    url: str
    roles: tuple[str, ...] = ()  # empty: everyone signed in
    description: Any = ""


# The pages each role can use; the inspector app (/m/), the desk (/desk/) and the dashboard (/dashboard/) join here.
LINKS = (
    Link(_l("Inspector app"), "/m/", ("inspector",), _l("Report problems and do your checks, on your phone")),
    Link(
        _l("Desk"),
        "/desk/",
        roles=("operator", "leader", "dispatcher", "handler"),
        description=_l("Intake, dispatch and approvals; a department's queue"),
    ),
    Link(_l("API documentation"), "/api/v1/docs", description=_l("Every endpoint, and what your role may call")),
    Link(_l("My account (JSON)"), "/api/v1/auth/me", description=_l("Who you are signed in as, for scripts")),
    Link(
        _l("Supervision"),
        "/supervise/",
        roles=("supervisor", "leader", "admin"),
        description=_l("Overdue and escalated cases; read a case and escalate it (督办)"),
    ),
    Link(
        _l("Administration"),
        "/admin/",
        roles=("admin",),
        description=_l("Departments, the working calendar, routing rules, notification failures, accounts"),
    ),
    Link(
        _l("Supervision dashboard"),
        "/dashboard/",
        roles=("supervisor", "leader", "admin"),
        description=_l("The big screen: cells by indicator, league table, trends, new and overdue cases"),
    ),
)


# Where each role lands after signing in, first match wins: its own app rather than the page of links.
# An admin's own work is the console (/admin/), which links to the supervision pages and the big screen.
APPS = (
    (("inspector",), "/m/"),
    (("operator", "dispatcher", "handler"), "/desk/"),
    (("supervisor",), "/supervise/"),
    (("admin",), "/admin/"),
    (("leader",), "/dashboard/"),
)


def app_for(user: User) -> str:
    """The page a user lands on after signing in without a `next`: the app of their role, else the links."""
    return next((url for roles, url in APPS if user.has_role(*roles)), "/")


def links_for(user: User) -> list[Link]:
    return [link for link in LINKS if not link.roles or user.has_role(*link.roles)]


def safe_next(target: str | None, default: str = "/") -> str:
    """A path on this site to go to after signing in; anything else (another host, a scheme, tricks) → default.

    Only an absolute path is accepted: not `//host` or `/\\host` (browsers read a backslash as a slash), no
    control characters (browsers drop tabs and newlines), and nothing urlsplit sees a scheme or host in.
    """
    if not target or len(target) > 2000:
        return default
    if any(ord(c) < 32 or ord(c) == 127 or c == "\\" for c in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
