"""Browser sessions: the sign-in form, the landing page, sign-out, expiry, CSRF, cookie flags and lockout.

Everything through the Flask test client, as a browser would send it (cookies kept between requests), on the real
database and Redis. The same flow in a real Chromium is in test_browser.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from citymgmt.core.access import allow
from citymgmt.core.clock import FixedClock
from citymgmt.core.identity import ApiToken
from citymgmt.core.pages import add_page_blueprint
from citymgmt.core.signin import address_bucket
from citymgmt.web.navigation import safe_next
from tests.conftest import PASSWORD, make_test_app

COOKIE = "citymgmt_session"


@pytest.fixture
def account(make_user) -> Callable[[str], Any]:  # type: ignore[no-untyped-def]
    """`account("inspector")` makes the user t-inspector (once): only the accounts a test needs, Argon2 is slow."""
    made: dict[str, Any] = {}

    def make(role: str) -> Any:
        if role not in made:
            made[role] = make_user(f"t-{role}", role)
        return made[role]

    return make


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "every page carries its CSRF token in a meta tag"
    return found.group(1)


def open_login(client: FlaskClient, path: str = "/login") -> str:
    """GET the sign-in page; return its CSRF token."""
    response = client.get(path)
    assert response.status_code == 200
    return csrf_of(response.get_data(as_text=True))


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, path: str = "/login") -> Any:
    token = open_login(client, path)
    return client.post(path, data={"username": username, "password": password, "csrf_token": token})


def page_token(client: FlaskClient) -> str:
    """The CSRF token of the landing page of a signed-in client."""
    response = client.get("/")
    assert response.status_code == 200, response.status_code
    return csrf_of(response.get_data(as_text=True))


def me(client: FlaskClient) -> int:
    return client.get("/api/v1/auth/me").status_code


def bearer(app: Flask, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization headers for a token got the API way, from a client with no cookies."""
    response = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


# -- signing in ---------------------------------------------------------------------------------------------


def test_the_sign_in_page_is_chinese_first_phone_sized_and_english_on_request(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "<h1>登录</h1>" in html and "用户名" in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert 'autocomplete="current-password"' in html and 'autocapitalize="none"' in html
    assert "/static/css/site.css" in html
    with client.get("/static/css/site.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"

    english = client.get("/login?lang=en")
    assert "<h1>Sign in</h1>" in english.get_data(as_text=True)
    assert "citymgmt_lang=en" in english.headers["Set-Cookie"]
    later = client.get("/login").get_data(as_text=True)  # the choice is kept
    assert '<html lang="en">' in later and "Username" in later and 'href="/login?lang=zh_CN"' in later
    assert "<h1>登录</h1>" in client.get("/login?lang=zh_CN").get_data(as_text=True)


def test_signing_in_through_the_form_leads_to_the_landing_page(client, account) -> None:  # type: ignore[no-untyped-def]
    account("inspector")
    assert client.get("/").headers["Location"] == "/login"  # not signed in yet
    response = sign_in(client, "t-inspector")
    assert response.status_code == 302 and response.headers["Location"] == "/m/"  # the inspector's app
    home = client.get("/")
    html = home.get_data(as_text=True)
    assert "您好，t-inspector" in html and "当前账号：t-inspector" in html and "监督员" in html
    assert 'href="/api/v1/docs"' in html and "退出登录" in html
    # The API knows the browser too.
    assert client.get("/api/v1/auth/me").get_json()["username"] == "t-inspector"
    # Signed in, the sign-in page sends you on.
    assert client.get("/login").headers["Location"] == "/m/"


def test_the_landing_page_names_roles_and_department(client, account, department) -> None:  # type: ignore[no-untyped-def]
    account("handler")
    sign_in(client, "t-handler")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "Hello, t-handler" in html and "Department handler" in html and f"Department {department}" in html


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"username": "t-inspector", "password": "wrong-password"}, 401, "用户名或密码错误。"),
        ({"username": "nobody-at-all", "password": PASSWORD}, 401, "用户名或密码错误。"),
        ({"username": "  ", "password": PASSWORD}, 422, "请输入用户名。"),
        ({"username": "t-inspector", "password": ""}, 422, "请输入密码。"),
        ({"username": "x" * 41, "password": PASSWORD}, 422, "用户名最多 40 个字符。"),
    ],
)
def test_a_refused_sign_in_shows_the_form_again_with_why(client, account, form, status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    account("inspector")
    token = open_login(client)
    response = client.post("/login", data={**form, "csrf_token": token})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert message in html and "<form" in html
    assert PASSWORD not in html and "wrong-password" not in html  # the password is never sent back
    assert me(client) == 401


def test_a_deactivated_user_cannot_sign_in(client, account, db_session, clock) -> None:  # type: ignore[no-untyped-def]
    account("leader").deactivated_at = clock.now()
    db_session.flush()
    response = sign_in(client, "t-leader")
    assert response.status_code == 401 and "用户名或密码错误。" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/api/v1/docs", "/api/v1/docs"),
        ("/?tab=mine#top", "/?tab=mine#top"),
        ("//evil.example/phish", None),
        ("https://evil.example/", None),
        ("/\\evil.example", None),
        ("\\\\evil.example", None),
        ("/\t/evil.example", None),
        ("javascript:alert(1)", None),
        ("evil.example", None),
        ("", None),
    ],
)
def test_after_sign_in_only_same_site_paths_are_followed(client, account, target: str, followed: str | None) -> None:  # type: ignore[no-untyped-def]
    assert safe_next(target) == (followed or "/")
    lands = followed or "/admin/"  # a refused next: the admin's own page (the console), as with none
    account("admin")
    token = open_login(client)
    response = client.post(
        "/login", query_string={"next": target}, data={"username": "t-admin", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == lands


def test_a_page_asks_the_anonymous_to_sign_in_and_comes_back(client, account) -> None:  # type: ignore[no-untyped-def]
    account("operator")
    away = client.get("/?tab=mine")
    assert away.status_code == 302 and away.headers["Location"] == "/login?next=/?tab%3Dmine"
    html = client.get(away.headers["Location"]).get_data(as_text=True)
    assert 'action="/login?next=/?tab%3Dmine"' in html  # the form keeps where to go
    response = sign_in(client, "t-operator", path=away.headers["Location"])
    assert response.headers["Location"] == "/?tab=mine"


# -- signing out, revocation, expiry ------------------------------------------------------------------------


def test_signing_out_ends_the_session_on_the_server(client, account, db_session) -> None:  # type: ignore[no-untyped-def]
    dispatcher = account("dispatcher")
    sign_in(client, "t-dispatcher")
    stolen = client.get_cookie(COOKIE)
    assert stolen is not None and me(client) == 200
    response = client.post("/logout", data={"csrf_token": page_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get_cookie(COOKIE) is None  # the browser forgets it ...
    assert me(client) == 401 and client.get("/").status_code == 302
    client.set_cookie(COOKIE, stolen.value)  # ... and a copy kept elsewhere is worth nothing
    assert me(client) == 401
    revoked = db_session.execute(
        select(ApiToken.revoked_at).where(ApiToken.kind == "browser", ApiToken.user_id == dispatcher.id)
    ).scalar_one()
    assert revoked is not None


def test_signing_out_needs_the_csrf_token(client, account) -> None:  # type: ignore[no-untyped-def]
    account("dispatcher")
    sign_in(client, "t-dispatcher")
    refused = client.post("/logout")
    assert refused.status_code == 403 and "此表单已无法提交" in refused.get_data(as_text=True)
    assert me(client) == 200  # another site cannot sign you out either


def test_each_browser_has_its_own_session(app: Flask, client, account) -> None:  # type: ignore[no-untyped-def]
    account("admin")
    phone = app.test_client()
    sign_in(client, "t-admin")
    sign_in(phone, "t-admin")
    client.post("/logout", data={"csrf_token": page_token(client)})
    assert me(client) == 401
    assert me(phone) == 200, "signing out of one browser leaves the others signed in"


def test_signing_in_again_replaces_the_browser_session(client, account) -> None:  # type: ignore[no-untyped-def]
    account("admin"), account("leader")
    sign_in(client, "t-admin")
    before = client.get_cookie(COOKIE)
    assert before is not None
    again = client.post("/login", data={"username": "t-leader", "password": PASSWORD, "csrf_token": page_token(client)})
    assert again.status_code == 302
    assert client.get("/api/v1/auth/me").get_json()["username"] == "t-leader"
    client.set_cookie(COOKIE, before.value)
    assert me(client) == 401, "the admin's session ended when the leader signed in in the same browser"


def test_a_session_ends_after_the_idle_time(client, account, clock) -> None:  # type: ignore[no-untyped-def]
    account("inspector")
    sign_in(client, "t-inspector")
    for _ in range(3):  # used every 100 minutes: still alive after 5 hours of work
        clock.advance(minutes=100)
        assert me(client) == 200
    clock.advance(minutes=120, seconds=1)  # then 2 hours without a request
    assert me(client) == 401
    away = client.get("/")
    assert away.headers["Location"] == "/login"
    assert "登录已失效，请重新登录。" in client.get("/login").get_data(as_text=True)


def test_a_session_ends_after_its_absolute_lifetime_however_busy(client, account, clock) -> None:  # type: ignore[no-untyped-def]
    account("inspector")
    sign_in(client, "t-inspector")
    for _ in range(7):
        clock.advance(minutes=100)
        assert me(client) == 200
    clock.advance(minutes=21)  # 12 h 1 min after signing in
    assert me(client) == 401


def test_deactivating_a_user_ends_their_sessions(app: Flask, client, account, db_session) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    supervisor = account("supervisor")
    sign_in(client, "t-supervisor")
    assert me(client) == 200
    result = app.test_cli_runner().invoke(cli, ["users", "deactivate", "t-supervisor"])
    assert result.exit_code == 0, result.output
    assert me(client) == 401
    rows = db_session.execute(
        select(ApiToken.revoked_at).where(ApiToken.user_id == supervisor.id, ApiToken.kind == "browser")
    )
    assert all(revoked is not None for (revoked,) in rows)


def test_a_session_secret_is_no_bearer_token_and_a_token_no_session(client, account, db_session) -> None:  # type: ignore[no-untyped-def]
    account("admin")
    sign_in(client, "t-admin")
    with client.session_transaction() as flask_session:
        secret = flask_session["_user_id"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    token = bearer(client.application, "t-admin")["Authorization"].split()[1]
    fresh = client.application.test_client()
    with fresh.session_transaction() as flask_session:
        flask_session["_user_id"] = token
    assert fresh.get("/api/v1/auth/me").status_code == 401
    stored = db_session.execute(select(ApiToken.token_hash).where(ApiToken.kind == "browser")).scalars().all()
    assert secret not in stored  # only its digest is kept


# -- CSRF --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_the_sign_in_form_is_csrf_protected(client, account, token: str | None) -> None:  # type: ignore[no-untyped-def]
    account("admin")
    open_login(client)
    data = {"username": "t-admin", "password": PASSWORD}
    if token:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "此表单已无法提交" in html and "请返回、刷新页面后重试" in html and 'href="/login"' in html
    assert me(client) == 401


def test_a_token_from_another_browser_does_not_pass(client, account, app: Flask) -> None:  # type: ignore[no-untyped-def]
    account("admin")
    other = app.test_client()
    token = open_login(other)
    open_login(client)
    response = client.post("/login", data={"username": "t-admin", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403


def test_api_writes_with_the_session_need_the_csrf_header(client, account, beijing) -> None:  # type: ignore[no-untyped-def]
    account("inspector")
    sign_in(client, "t-inspector")
    refused = client.post("/api/v1/cases", json={"category_code": "E0102"})
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["code"] == "csrf_failed" and "X-CSRFToken" in error["message"]
    wrong = client.post("/api/v1/cases", json={}, headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "csrf_failed"
    # With the page's token the request goes through to the view (which finds the body incomplete).
    passed = client.post("/api/v1/cases", json={"category_code": "E0102"}, headers={"X-CSRFToken": page_token(client)})
    assert passed.status_code == 422 and "lon" in passed.get_json()["error"]["details"]
    # Reads need no token.
    assert client.get("/api/v1/auth/me").status_code == 200


def test_signing_out_through_the_api_with_the_session(client, account) -> None:  # type: ignore[no-untyped-def]
    account("leader")
    sign_in(client, "t-leader")
    assert client.delete("/api/v1/auth/token").status_code == 403
    assert client.delete("/api/v1/auth/token", headers={"X-CSRFToken": page_token(client)}).status_code == 204
    assert me(client) == 401


def test_bearer_calls_need_no_csrf_token(client, account, beijing) -> None:  # type: ignore[no-untyped-def]
    account("inspector"), account("admin")
    headers = bearer(client.application, "t-inspector")
    response = client.post("/api/v1/cases", json={"category_code": "E0102"}, headers=headers)
    assert response.status_code == 422  # reached the view: no CSRF check for a bearer token
    # A bearer token wins over a session cookie in the same request, and stays exempt.
    sign_in(client, "t-admin")
    assert client.get("/api/v1/auth/me", headers=headers).get_json()["username"] == "t-inspector"
    assert client.post("/api/v1/cases", json={}, headers=headers).status_code == 422
    # Public JSON calls without a session need none either.
    fresh = client.application.test_client()
    assert fresh.post("/api/v1/auth/token", json={"username": "t-admin", "password": PASSWORD}).status_code == 201


# -- cookies -----------------------------------------------------------------------------------------------


def _cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


def test_the_session_cookie_is_httponly_and_samesite_lax(client, account) -> None:  # type: ignore[no-untyped-def]
    account("admin")
    response = sign_in(client, "t-admin")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}="))
    attributes = _cookie_attributes(cookie)
    assert {"httponly", "path", "expires"} <= attributes and "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # CITYMGMT_ENV=test: plain http on loopback


@pytest.mark.parametrize(
    ("overrides", "secure"),
    [({"env": "production", "password_hash_profile": "rfc9106-low-memory"}, True), ({"secure_cookies": True}, True)],
)
def test_cookies_are_secure_in_production_or_when_asked(servers, database_url, overrides, secure: bool) -> None:  # type: ignore[no-untyped-def]
    app = make_test_app(servers, database_url, **overrides)
    response = app.test_client().get("/login", base_url="https://city.example")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all(("secure" in _cookie_attributes(c)) == secure for c in cookies)
    assert any(c.startswith(f"{COOKIE}=") for c in cookies)


def test_bearer_calls_get_no_cookie(client, account) -> None:  # type: ignore[no-untyped-def]
    account("admin")
    response = client.get("/api/v1/auth/me", headers=bearer(client.application, "t-admin"))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


# -- lockout -----------------------------------------------------------------------------------------------


def _api_sign_in(client: FlaskClient, username: str, password: str, address: str = "198.51.100.7") -> Any:
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_five_failures_lock_the_username_out_for_a_while(client, account, clock, redis, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="citymgmt.audit")
    account("inspector"), account("admin")
    for attempt in range(5):
        assert _api_sign_in(client, "t-inspector", "wrong-password", f"198.51.100.{attempt}").status_code == 401
    locked = _api_sign_in(client, "t-inspector", PASSWORD, "203.0.113.9")  # right password, another address
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "900"
    error = locked.get_json()["error"]
    assert error["code"] == "too_many_attempts"
    assert error["message"] == "too many failed sign-ins for this account: try again in 15 minutes"
    # The form refuses as well, with the same wait, in Chinese.
    token = open_login(client)
    form = client.post("/login", data={"username": "T-Inspector", "password": PASSWORD, "csrf_token": token})
    assert form.status_code == 429 and form.headers["Retry-After"] == "900"
    assert "登录失败次数过多，请 15 分钟后再试。" in form.get_data(as_text=True)
    # Other accounts are not affected.
    assert _api_sign_in(client, "t-admin", PASSWORD).status_code == 201
    # After the lockout, the right password works again.
    clock.advance(minutes=15, seconds=1)
    assert _api_sign_in(client, "t-inspector", PASSWORD).status_code == 201
    # Audited, without passwords.
    lines = [r.getMessage() for r in caplog.records if r.name == "citymgmt.audit"]
    assert sum("sign-in failed: username='t-inspector'" in line for line in lines) == 5
    assert any("sign-in locked out for 900 s: username='t-inspector'" in line for line in lines)
    assert any("sign-in refused (locked out): username='t-inspector'" in line for line in lines)
    assert any(line.startswith("sign-in ok: user=t-inspector") and "via=api" in line for line in lines)
    assert not any(PASSWORD in line or "wrong-password" in line for line in lines)


def test_failures_are_counted_within_the_window_and_forgotten_on_success(client, account, clock, redis) -> None:  # type: ignore[no-untyped-def]
    account("operator")
    for _ in range(4):
        assert _api_sign_in(client, "t-operator", "wrong-password").status_code == 401
    clock.advance(minutes=16)  # those four are out of the window now
    for _ in range(4):
        assert _api_sign_in(client, "t-operator", "wrong-password").status_code == 401
    assert _api_sign_in(client, "t-operator", PASSWORD).status_code == 201  # and success clears the count
    for _ in range(4):
        assert _api_sign_in(client, "t-operator", "wrong-password").status_code == 401
    assert _api_sign_in(client, "t-operator", PASSWORD).status_code == 201


def test_unknown_usernames_lock_out_alike(client, redis) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert _api_sign_in(client, "no-such-person", "whatever-it-is").status_code == 401
    assert _api_sign_in(client, "no-such-person", "whatever-it-is").status_code == 429


def test_many_failures_from_one_address_lock_the_address_out(servers, database_url, beijing, redis) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2026, 11, 23, 1, 30, tzinfo=UTC))
    app = make_test_app(servers, database_url, clock=clock, login_max_failures_per_address=3)
    client = app.test_client()
    for n in range(3):  # one guess each at three names: no username reaches its limit
        assert _api_sign_in(client, f"guess-{n}", "password-guess", "192.0.2.50").status_code == 401
    locked = _api_sign_in(client, "inspector", "demo-password", "192.0.2.50")
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "900"
    assert locked.get_json()["error"]["message"].startswith("too many failed sign-ins from this address")
    assert _api_sign_in(client, "inspector", "demo-password", "192.0.2.51").status_code == 201  # a neighbour is fine
    clock.advance(minutes=15, seconds=1)
    assert _api_sign_in(client, "inspector", "demo-password", "192.0.2.50").status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_address_counts(servers, database_url, beijing, redis) -> None:  # type: ignore[no-untyped-def]
    app = make_test_app(servers, database_url, trusted_proxies=1, login_max_failures_per_address=2)
    client = app.test_client()

    def attempt(forwarded_for: str) -> int:
        response = client.post(
            "/api/v1/auth/token",
            json={"username": f"nobody-{forwarded_for}", "password": "password-guess"},
            headers={"X-Forwarded-For": forwarded_for},
        )
        return response.status_code

    assert [attempt("198.51.100.20"), attempt("198.51.100.20"), attempt("198.51.100.20")] == [401, 401, 429]
    assert attempt("198.51.100.21") == 401  # the proxy's own address is not what is locked


def test_sign_in_works_while_redis_is_away(servers, database_url, beijing, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    app = make_test_app(servers, database_url, redis_url=f"unix://{tmp_path}/no-redis.sock")
    response = app.test_client().post("/api/v1/auth/token", json={"username": "inspector", "password": "demo-password"})
    assert response.status_code == 201
    assert any("sign-in throttle unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("", "unknown"),
    ],
)
def test_addresses_are_counted_per_ipv4_address_or_ipv6_64(address: str, bucket: str) -> None:
    assert address_bucket(address) == bucket


# -- access policies on pages ------------------------------------------------------------------------------


def test_pages_follow_the_access_policies(servers, database_url, beijing, redis) -> None:  # type: ignore[no-untyped-def]
    """What later pages (desk, dashboard) will rely on: anonymous → sign in; wrong role → a clear page."""
    app = make_test_app(servers, database_url)
    pages = Blueprint("testpages", __name__)

    @pages.get("/t/admins-only")
    @allow("admin")
    def admins_only() -> str:
        return "for admins"

    app.register_blueprint(pages)
    add_page_blueprint(app, "testpages")
    inspector, admin = app.test_client(), app.test_client()
    assert inspector.get("/t/admins-only").headers["Location"] == "/login?next=/t/admins-only"
    sign_in(inspector, "inspector", "demo-password")
    refused = inspector.get("/t/admins-only")
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert "您的角色无权访问此页面。" in refused.get_data(as_text=True)
    sign_in(admin, "admin", "demo-password")
    assert admin.get("/t/admins-only").get_data(as_text=True) == "for admins"
    for client in (inspector, admin):  # leave nothing signed in behind
        client.post("/logout", data={"csrf_token": page_token(client)})
