"""Shared by the browser tests: a live server on the test database, Debian's Chromium, signing in, screenshots.

The server is the app on the test database (with the demo accounts), served by werkzeug on a free loopback port in
a thread of this process. Playwright drives /usr/bin/chromium, so no browser is downloaded; `--no-sandbox` because
tests may run as root, `--disable-background-networking` because the machine has no internet.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from citymgmt.demo import DEMO_PASSWORD
from tests.conftest import make_test_app, serve

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1440, "height": 900}}


@pytest.fixture
def live_server(servers, database_url, beijing) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app = make_test_app(servers, database_url, redis_db=2)
    with serve(app, "live-server") as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """new_context(**PHONE) or new_context(**DESK, locale=...): a fresh browser profile, closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A phone-sized page, not signed in."""
    return new_context(**PHONE).new_page()


def sign_in(page: Page, base_url: str, username: str, next_path: str = "/") -> None:
    """Sign in through the form as a demo account (the zh-CN form), landing on next_path."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(base_url + next_path) + r"([?#].*)?$"))


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page to var/screenshots/NAME.png (every page of the screens gets one per run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_until(page: Page, expression: str, arg: Any = None, timeout_s: float = 30.0) -> None:
    """Poll a JavaScript expression or function in the page until it is truthy. (Playwright's wait_for_function builds
    its predicate with eval() in the page, which the app's Content-Security-Policy refuses as soon as it has to poll:
    no 'unsafe-eval'. page.evaluate goes through the DevTools protocol, which the policy does not govern.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:.0f} s: {expression}")
        page.wait_for_timeout(100)


def watch_problems(page: Page) -> list[str]:
    """What went wrong in the page from now on: console errors, uncaught exceptions, failed requests and answers of
    400 or more. A test that expects none asserts the list is empty at the end."""
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console {message.type}: {message.text} at {message.location.get('url')}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(f"exception: {e}"))
    # A request the page cancels itself (a map's overlay when the view moves on) ends as net::ERR_ABORTED: no failure.
    page.on(
        "requestfailed",
        lambda r: (
            problems.append(f"failed: {r.method} {r.url} {r.failure}") if r.failure != "net::ERR_ABORTED" else None
        ),
    )
    page.on("response", lambda r: problems.append(f"{r.status} {r.request.url}") if r.status >= 400 else None)
    return problems


# Every element with text of its own that is shown, and its font size (px) where under `least`.
SMALL_TEXT = """(least) => {
    const small = [];
    for (const node of document.querySelectorAll("body *")) {
        const own = Array.from(node.childNodes).some((c) => c.nodeType === 3 && c.textContent.trim());
        if (!own || !node.getClientRects().length || getComputedStyle(node).visibility === "hidden") continue;
        const size = parseFloat(getComputedStyle(node).fontSize);
        const text = node.textContent.trim().slice(0, 30);
        if (size < least) small.push(`${node.tagName}.${node.className}: ${size}px "${text}"`);
    }
    return small;
}"""
