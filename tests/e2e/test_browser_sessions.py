"""Signing in and out in a real browser: Debian's Chromium driven by Playwright against a live server.

The live server and the browser come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def test_the_demo_inspector_signs_in_and_out_on_a_phone(live_server: str, page: Page) -> None:
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")  # not signed in: to the form
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    screenshot(page, "login")

    page.get_by_label("用户名").fill("Inspector")  # phones capitalise the first letter
    page.get_by_label("密码").fill("demo-password")
    page.get_by_role("button", name="登录").click()

    expect(page).to_have_url(f"{live_server}/m/")  # signing in lands the inspector in the phone app
    page.goto(f"{live_server}/")  # the page of links is still there
    expect(page.get_by_role("heading")).to_have_text("您好，监督员 王伟")
    screenshot(page, "home")
    expect(page.locator(".roles")).to_have_text("监督员")
    expect(page.get_by_role("link", name="接口文档")).to_have_attribute("href", "/api/v1/docs")

    cookie = next(c for c in page.context.cookies() if c["name"] == "citymgmt_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "citymgmt_session" not in page.evaluate("document.cookie"), "scripts cannot read the session cookie"

    # Scripts on the page call the API with the session, and send the meta tag's CSRF token when they write.
    calls = page.evaluate(
        """async () => {
            const me = await (await fetch('/api/v1/auth/me')).json();
            const post = (headers) => fetch('/api/v1/cases', {
                method: 'POST', headers: {'Content-Type': 'application/json', ...headers}, body: '{}'});
            const bare = await post({});
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const withToken = await post({'X-CSRFToken': token});
            return {me: me.username, bare: bare.status, bareCode: (await bare.json()).error.code,
                    withToken: withToken.status};
        }"""
    )
    assert calls == {"me": "inspector", "bare": 403, "bareCode": "csrf_failed", "withToken": 422}

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading")).to_have_text("Hello, 监督员 王伟")
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # the language choice stays
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")
    assert page.evaluate("fetch('/api/v1/auth/me').then(r => r.status)") == 401
