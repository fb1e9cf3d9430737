"""Script payloads in every text field a user (or an admin) can write come out escaped on every page.

The pages are found in the app's URL map: every GET route of a blueprint registered as pages (add_page_blueprint),
so a page added later (the inspector app, the desk, the dashboard) is covered without touching this test. Each
page is fetched as each role: the raw payload must never be in the HTML; then, in Chromium, no dialog may fire
on any of them (a payload that reached the DOM unescaped, through the server or through a page's script, would
call alert()).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Dialog
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select, text
from werkzeug.routing import Rule

from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db
from citymgmt.core.identity import User, create_user
from citymgmt.demo import DEMO_PASSWORD
from dispatch.intake.operations import Report, report_case
from dispatch.workflow.moves import act
from tests.conftest import make_test_app, serve
from tests.e2e.conftest import DESK, sign_in

pytestmark = pytest.mark.e2e

# Both shapes: a script element, and breaking out of an attribute into an element with a handler.
SCRIPT = "<script>alert('xss-script')</script>"
BREAKOUT = "\"'><img src=x onerror=alert('xss-img')>"
PAYLOAD = f"{SCRIPT}{BREAKOUT}"  # 75 characters: fits every name column
RAW = ("<script>alert(", "<img src=x onerror")
ROLES = ("inspector", "operator", "leader", "dispatcher", "supervisor", "admin", "handler")


@dataclass
class Site:
    app: Flask
    case_id: int
    case_code: str
    users: dict[str, str]  # role → username (each with the payload as display name)


def _user(username: str) -> User:
    user: User = db.session().execute(select(User).where(User.username == username)).scalar_one()
    return user


@pytest.fixture(scope="module")
def site(servers) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """The demo city in a database of this module's own, with the payload in every text a user can write."""
    app = make_test_app(servers, servers.demo_database("citymgmt_escaping"), redis_db=6)
    with app.app_context():
        session = db.session()
        now = SystemClock().now()
        settings = app.extensions["citymgmt.settings"]
        # What admins name: departments, categories, areas, rules, assets, calendar notes.
        for table, column in (
            ("departments", "name"),
            ("departments", "name_en"),
            ("categories", "name"),
            ("categories", "name_en"),
            ("categories", "filing_criteria"),
            ("areas", "name"),
            ("routing_rules", "name"),
            ("components", "name"),
            ("calendar_days", "note"),
        ):
            session.execute(text(f"UPDATE {table} SET {column} = :p"), {"p": PAYLOAD})  # noqa: S608 - our names
        # People: every role's account carries the payload as its display name.
        users = {}
        for role in ROLES:
            username = f"xss-{role}"
            department = "110101-sanitation" if role == "handler" else None
            create_user(session, username, DEMO_PASSWORD, [role], display_name=PAYLOAD, department_code=department)
            users[role] = username
        session.flush()
        # What reporters and staff write: a case's description, address, caller's name, notes on its moves.
        report = Report(
            category_code="E0102",
            lon=116.3906,
            lat=39.9158,
            description=PAYLOAD,
            address=PAYLOAD,
            source="hotline",
            contact={"name": PAYLOAD, "phone": "13800000000"},
        )
        case = report_case(session, _user("xss-operator"), report, None, now, settings).case
        case, _ = act(
            session, case.id, "comment", _user("xss-operator"), case.version, {"note": PAYLOAD}, now, settings
        )
        if case.status == "reported":  # a hotline report: verified on site, then filed
            for action, role, extra in (
                ("request_verification", "operator", {}),
                ("verify", "inspector", {"result": "pass"}),
                ("file", "leader", {}),
            ):
                body = {"note": PAYLOAD, **extra}
                case, _ = act(session, case.id, action, _user(f"xss-{role}"), case.version, body, now, settings)
        if case.status == "filed":
            body = {"department": "110101-sanitation", "note": PAYLOAD}
            case, _ = act(session, case.id, "dispatch", _user("xss-dispatcher"), case.version, body, now, settings)
        site = Site(app, case.id, case.code, users)
        session.commit()
        db.session.remove()
    yield site


def page_paths(app: Flask, site: Site) -> list[str]:
    """Every GET page of the app, arguments filled with the payload case (its id, or its code for a code)."""
    blueprints = app.extensions["citymgmt.pages"].blueprints
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] not in blueprints or "GET" not in (rule.methods or ()):
            continue
        values = {name: _fill(rule, name, site) for name in rule.arguments}
        built = rule.build(values, append_unknown=False)
        if built is not None:
            paths.append(built[1])
    assert "/" in paths and "/login" in paths, paths
    return sorted(set(paths))


def _fill(rule: Rule, name: str, site: Site) -> Any:
    converter = rule._converters.get(name)
    if converter is not None and type(converter).__name__ in ("IntegerConverter", "NumberConverter"):
        return site.case_id
    return site.case_code if "code" in name else str(site.case_id)


def _page_sign_in(client: Any, username: str) -> None:
    import re

    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', form
    )
    assert token, form[:500]
    signed = client.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token[1]})
    assert signed.status_code == 302, signed.get_data(as_text=True)[:500]


def test_every_page_escapes_what_users_wrote(site: Site) -> None:
    app = site.app
    paths = page_paths(app, site)
    shown_escaped = 0
    for role, username in {"anonymous": None, **site.users}.items():
        with app.test_client() as client:
            if username:
                _page_sign_in(client, username)
            for path in paths:
                response = client.get(path)
                body = response.get_data(as_text=True)
                response.close()
                for raw in RAW:
                    assert raw not in body, (role, path, response.status_code)
                shown_escaped += body.count("&lt;script&gt;alert(")
    # The payload does reach pages (the home page greets the user by display name), escaped: else this proves nothing.
    assert shown_escaped >= len(site.users), shown_escaped


@pytest.fixture(scope="module")
def live_site(site: Site) -> Iterator[str]:
    with serve(site.app, "escaping-server") as url:
        yield url


def test_no_payload_runs_in_a_browser_on_any_page(site: Site, live_site: str, browser: Browser) -> None:
    paths = page_paths(site.app, site)
    dialogs: list[tuple[str, str, str]] = []
    visited = 0
    for role, username in {"anonymous": None, **site.users}.items():
        context = browser.new_context(**DESK)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            current = {"path": "", "role": role}

            def on_dialog(dialog: Dialog, current: dict[str, str] = current) -> None:
                dialogs.append((current["role"], current["path"], dialog.message))
                dialog.dismiss()

            page.on("dialog", on_dialog)
            if username:
                sign_in(page, live_site, username)
            for path in paths:
                current["path"] = path
                page.goto(live_site + path, wait_until="load")
                try:  # the page's scripts have fetched and drawn what they show (a page that polls never idles)
                    page.wait_for_load_state("networkidle", timeout=8_000)
                except PlaywrightTimeout:
                    page.wait_for_timeout(1_000)
                visited += 1
        finally:
            context.close()
    assert visited >= 2 * len(site.users)
    assert dialogs == []
