"""The supervisor dashboard on the centre's big screen (1920×1080) in Debian's Chromium: cases reported through the
API into empty demo cells colour those cells, the league table and the trend chart fill, a click on a cell lists
its cases, and the exports download what is shown."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import text

from citymgmt.core.db import db
from citymgmt.demo import DEMO_PASSWORD
from dispatch.metrics import operations as metrics
from tests.e2e.conftest import SMALL_TEXT, screenshot, sign_in, wait_until, watch_problems

pytestmark = pytest.mark.e2e

BIG_SCREEN = {"viewport": {"width": 1920, "height": 1080}}
# The map shows cells (not communities) and has drawn these.
IN_VIEW = (
    "(codes) => { const s = window.citymgmtDashboard;"
    " return s.level === 'cell' && codes.every((code) => s.cellValue(code) !== undefined); }"
)
# Three empty whole cells in Xicheng, apart from the ones other tests use; their centres.
EMPTY_CELLS = """
SELECT code, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)), area_m2 / 1e6 FROM grid_cells g
WHERE code LIKE '110102%' AND retired_at IS NULL AND area_m2 > 9990
  AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.cell_code = g.code)
ORDER BY code OFFSET 300 LIMIT 3
"""


def _report(context: BrowserContext, base: str, token: str, category: str, lon: float, lat: float) -> dict[str, Any]:
    response = context.request.post(
        f"{base}/api/v1/cases",
        data={"category_code": category, "lon": lon, "lat": lat, "description": "大屏测试"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"dash-{uuid.uuid4()}"},
    )
    assert response.status == 201, response.text()
    case: dict[str, Any] = response.json()
    return case


def _rebuild_rollups(app: Flask) -> None:
    """The hourly roll-up job's work for the last 30 days, now (the league table and rates read the roll-ups)."""
    settings = app.extensions["citymgmt.settings"]
    now = datetime.now(UTC)
    today = now.astimezone(settings.zone).date()
    with app.app_context():
        metrics.rebuild_range(db.session(), today - timedelta(days=29), today, now, settings)
        db.session.commit()
        db.session.remove()


def _csv(text_: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text_.lstrip("\ufeff"))))


def test_the_big_screen_shows_the_cells_cases_league_trends_and_exports(
    live_server: str, app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context():
        cells = [tuple(r) for r in db.session.execute(text(EMPTY_CELLS))]
        db.session.remove()
    assert len(cells) == 3
    (busy, lon1, lat1, area1), (quiet, lon2, lat2, _), (empty, _, _, _) = cells

    # Three reports by the inspector, each of its own category: two in one cell (17 m apart), one in another.
    caller = new_context()
    signed = caller.request.post(
        f"{live_server}/api/v1/auth/token", data={"username": "inspector", "password": DEMO_PASSWORD}
    )
    token = signed.json()["token"]
    cases = [
        _report(caller, live_server, token, "E0505", lon1, lat1),
        _report(caller, live_server, token, "E0401", lon1 + 0.0002, lat1),
        _report(caller, live_server, token, "E0402", lon2, lat2),
    ]
    assert [c["cell_code"] for c in cases] == [busy, busy, quiet]
    assert not any(c["suspected_duplicate"] for c in cases)
    _rebuild_rollups(app)

    context = new_context(**BIG_SCREEN)
    page = context.new_page()
    sign_in(page, live_server, "supervisor", "/dashboard/?indicator=density")
    expect(page.get_by_role("heading", name="监督指挥大屏")).to_be_visible()
    wait_until(
        page, "() => { const s = window.citymgmtDashboard; return s && s.refreshes >= 1 && s.loaded.cells >= 1; }"
    )
    expect(page.locator("#status")).to_contain_text("更新于")
    assert page.evaluate("() => window.citymgmtDashboard.level") == "community"  # at district zoom
    # Closer, at our cells: the cells themselves, those in view (and a margin) asked for by their box.
    codes = [busy, quiet, empty]
    page.evaluate("(code) => window.citymgmtDashboard.focusCell(code)", busy)
    wait_until(page, IN_VIEW, codes)

    # The map: both cells coloured by their density, the empty one left the colour of no data.
    state = _dashboard(page, codes)
    assert state["busy"]["fillColor"] != state["empty"] and state["quiet"]["fillColor"] != state["empty"]
    assert state["none"]["fillColor"] == state["empty"]
    assert state["busy_value"] == round(2 / area1, 2) and state["busy_value"] > state["quiet_value"] > 0
    expect(page.locator("#legend h3")).to_have_text("案件密度（件/平方公里）")
    expect(page.get_by_label("网格着色指标")).to_have_value("density")

    # The league table (from the roll-ups): what the metrics API says, best first. Not the traffic police, to whom
    # the parking report was just dispatched: nothing of theirs is counted yet (a dispatch is the centre's work,
    # counted for its dispatcher; the department's figures start with what falls due or is handled).
    assert cases[0]["department_code"] == "bj-traffic-police"
    expect(page.locator('#league tr[data-key="bj-traffic-police"]')).to_have_count(0)
    period = page.locator("#export-table-csv").get_attribute("href").split("?")[1]  # type: ignore[union-attr]
    groups = page.request.get(f"{live_server}/api/v1/metrics?{period}").json()["groups"][:10]
    rows = page.locator("#league tr[data-key]")
    expect(rows).to_have_count(len(groups))
    for row, group in zip(rows.all(), groups, strict=True):
        assert row.get_attribute("data-key") == group["key"]
        expect(row.locator("td").nth(3)).to_have_text(group["grade"] or "—")

    # The trends: an ECharts canvas whose "reported" line ends today with at least our three.
    assert page.locator("#trend canvas").count() >= 1
    series = page.evaluate("() => window.citymgmtDashboard.chart.getOption().series.map((s) => s.data)")
    assert len(series) == 3 and len(series[0]) == 30 and series[0][-1] >= 3

    # The live feed: our three new cases.
    for case in cases:
        expect(page.locator(f'#feed li[data-case="{case["id"]}"] .kind-report')).to_have_text("新上报")

    # No scrolling on the big screen.
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerWidth, innerHeight]"
    )
    assert sizes[0] <= sizes[2] and sizes[1] <= sizes[3], sizes
    screenshot(page, "dashboard")

    # Drill down: zoom to the busy cell and click it; its two cases are listed, linked to their case pages.
    page.evaluate("(code) => window.citymgmtDashboard.focusCell(code)", busy)
    point = page.evaluate("(code) => window.citymgmtDashboard.cellPoint(code)", busy)
    page.mouse.click(point["x"], point["y"])
    drill = page.locator("#drill")
    expect(drill).to_be_visible()
    expect(page.locator("#drill-title")).to_have_text(f"网格 {busy}")
    expect(page.locator("#drill-cases tr")).to_have_count(2)
    for case in cases[:2]:
        row = page.locator(f'#drill-cases tr[data-case="{case["id"]}"]')
        expect(row.get_by_role("link", name=f"打开案件 {case['code']}")).to_have_attribute(
            "href", f"/supervise/cases/{case['id']}"
        )
        expect(row).to_contain_text("已派遣" if case["status"] == "dispatched" else "")
    expect(page.locator("#drill-summary")).to_contain_text("共 2 件案件")
    screenshot(page, "dashboard-cell")
    page.keyboard.press("Escape")
    expect(drill).to_be_hidden()

    # The exports download what is shown.
    with page.expect_download() as download:
        page.get_by_role("link", name="地图数据（CSV）").click()
    assert re.fullmatch(r"cells-density-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv", download.value.suggested_filename)
    rows = {r["code"]: r for r in _csv(_read(download.value))}
    assert rows[busy]["reported"] == "2" and rows[quiet]["reported"] == "1" and rows[empty]["reported"] == "0"
    assert float(rows[busy]["value"]) == state["busy_value"]
    with page.expect_download() as download:
        page.get_by_role("link", name="地图数据（GeoJSON）").click()
    assert download.value.suggested_filename.endswith(".geojson")
    features = {f["id"]: f for f in json.loads(_read(download.value))["features"]}
    assert features[quiet]["properties"]["reported"] == 1 and features[quiet]["geometry"]["type"] == "Polygon"
    with page.expect_download() as download:
        page.get_by_role("link", name="排名表（CSV）").click()
    league = _csv(_read(download.value))
    shown = page.locator("#league tr[data-key]").evaluate_all("(rows) => rows.map((r) => r.dataset.key)")
    assert [r["key"] for r in league][: len(shown)] == shown

    # Another indicator: nothing overdue in our cells yet, so they are back to the colour of no data.
    page.get_by_label("网格着色指标").select_option("overdue_open")
    expect(page.locator("#legend h3")).to_have_text("超期未结案数")
    wait_until(page, "() => window.citymgmtDashboard.loaded.cells >= 2")
    assert _dashboard(page, codes)["busy"]["fillColor"] == state["empty"]
    assert page.url.endswith("indicator=overdue_open")

    # It refreshes itself: a case reported while the screen is up is in the feed after the next minute.
    ticking = new_context(**BIG_SCREEN)
    ticking.clock.install()  # the page's timers under the test's control, the clock running meanwhile
    screen = ticking.new_page()
    sign_in(screen, live_server, "supervisor", "/dashboard/")
    wait_until(screen, "() => window.citymgmtDashboard && window.citymgmtDashboard.refreshes >= 1")
    late = _report(caller, live_server, token, "E0407", lon2, lat2 + 0.0002)
    expect(screen.locator(f'#feed li[data-case="{late["id"]}"]')).to_have_count(0)
    screen.clock.fast_forward(60_000)
    expect(screen.locator(f'#feed li[data-case="{late["id"]}"]')).to_be_visible()
    wait_until(screen, "() => window.citymgmtDashboard.refreshes >= 2")

    # In English, and refused to an inspector with the HTML error page.
    page.goto(f"{live_server}/dashboard/?lang=en")
    expect(page.get_by_role("heading", name="Supervision dashboard")).to_be_visible()
    wait_until(page, "() => window.citymgmtDashboard && window.citymgmtDashboard.refreshes >= 1")
    expect(page.locator("#status")).to_contain_text("Updated")
    screenshot(page, "dashboard-en")
    inspector = new_context(**BIG_SCREEN).new_page()
    sign_in(inspector, live_server, "inspector", "/")
    response = inspector.goto(f"{live_server}/dashboard/")
    assert response is not None and response.status == 403
    expect(inspector.get_by_role("heading", name="您的角色无权访问")).to_be_visible()
    screenshot(inspector, "dashboard-forbidden")


def test_the_big_screen_reads_from_five_metres_and_its_feed_leads_to_escalation(
    live_server: str, app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    """Headline figures, no text under 18 px, whole feed rows, a 4K layout; a case in the feed opens the supervisor's
    case page, where the supervisor escalates it (督办) with a note. No console error, no failed request."""
    with app.app_context():
        (_, lon, lat, _) = db.session.execute(text(EMPTY_CELLS.replace("OFFSET 300", "OFFSET 340"))).first()
        db.session.remove()
    caller = new_context()
    token = caller.request.post(
        f"{live_server}/api/v1/auth/token", data={"username": "inspector", "password": DEMO_PASSWORD}
    ).json()["token"]
    case = _report(caller, live_server, token, "E0505", lon, lat)

    page = new_context(**BIG_SCREEN).new_page()
    problems = watch_problems(page)
    sign_in(page, live_server, "supervisor", "/dashboard/")
    wait_until(page, "() => window.citymgmtDashboard && window.citymgmtDashboard.refreshes >= 1")
    figures = page.evaluate("() => window.citymgmtDashboard.headline")
    today = page.evaluate("() => window.citymgmtDashboard.trendDays.at(-1)")
    assert figures["reported"] == today["reported"] >= 1 and figures["closed"] == today["closed"]
    expect(page.locator("#headline-reported")).to_have_text(str(figures["reported"]))
    rate = figures["on_time_closing_rate"]
    expect(page.locator("#headline-rate")).to_have_text("—" if rate is None else f"{100 * rate:.1f}%")
    assert page.evaluate(SMALL_TEXT, 18) == []
    # At district zoom the map shows communities (their cells added up), not 100 m specks.
    assert page.evaluate("() => window.citymgmtDashboard.level") == "community"
    community = case["community_code"]
    assert page.evaluate("(code) => window.citymgmtDashboard.cellValue(code) !== undefined", community)
    assert page.evaluate("() => window.citymgmtDashboard.chart.getOption().xAxis[0].axisLabel.fontSize") >= 18
    feed = page.locator("#feed").bounding_box()
    assert feed is not None
    for row in page.locator("#feed li:visible").all():  # every row shown whole, none cut at the panel's edge
        box = row.bounding_box()
        assert box is not None and box["y"] + box["height"] <= feed["y"] + feed["height"] + 0.5
    screenshot(page, "dashboard-1080p")

    big = new_context(viewport={"width": 3840, "height": 2160}).new_page()
    problems_4k = watch_problems(big)
    sign_in(big, live_server, "supervisor", "/dashboard/")
    wait_until(big, "() => window.citymgmtDashboard && window.citymgmtDashboard.refreshes >= 1")
    assert big.evaluate(SMALL_TEXT, 36) == []  # the same layout at twice the size
    sizes = big.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerWidth, innerHeight]"
    )
    assert sizes[0] <= sizes[2] and sizes[1] <= sizes[3], sizes
    screenshot(big, "dashboard-4k")
    assert problems_4k == []

    # A cell in the feed far from what the map shows (zoomed in on the other district's cells): the map looks it up
    # by its code and goes there, with its cells in view; its cases are listed.
    cell = case["cell_code"]
    far = EMPTY_CELLS.replace("110102%", "110101%").replace("OFFSET 300", "OFFSET 0")
    with app.app_context():
        (_, far_lon, far_lat, _) = db.session.execute(text(far)).first()
        db.session.remove()
    page.evaluate("([lat, lon]) => { window.citymgmtDashboard.map.setView([lat, lon], 16); }", [far_lat, far_lon])
    wait_until(
        page,
        "(code) => { const s = window.citymgmtDashboard; return s.level === 'cell'"
        " && s.cellValue(code) === undefined; }",
        cell,
    )
    page.locator(f'#feed li[data-case="{case["id"]}"]').get_by_role("link", name=cell).click()
    wait_until(page, IN_VIEW, [cell])
    expect(page.locator("#drill-title")).to_have_text(f"网格 {cell}")
    page.keyboard.press("Escape")

    # From the feed to the case, read-only, and escalated with a note.
    page.locator(f'#feed li[data-case="{case["id"]}"] a.code').click()
    expect(page).to_have_url(f"{live_server}/supervise/cases/{case['id']}")
    expect(page.get_by_role("heading", name=f"案件 {case['code']}")).to_be_visible()
    expect(page.locator(".sv-history")).to_contain_text("监督员 王伟 · 监督员")
    page.get_by_label("给部门的说明").fill("请今天内处理")
    page.get_by_role("button", name="督办").click()
    expect(page.get_by_role("status")).to_have_text("已督办：部门须答复。")
    expect(page.locator("#case-status")).to_contain_text("已督办")
    expect(page.locator(".sv-history")).to_contain_text("请今天内处理")
    screenshot(page, "supervise-case")
    page.get_by_role("link", name="监督", exact=True).click()
    expect(page.locator("#list-escalated").get_by_role("link", name=case["code"])).to_be_visible()
    screenshot(page, "supervise")
    assert problems == []


def _dashboard(page: Page, codes: list[str]) -> dict[str, Any]:
    """The busy, quiet and empty cells' styles and values on the map, and the colour of no data."""
    return page.evaluate(
        """([busy, quiet, none]) => {
            const s = window.citymgmtDashboard;
            return {busy: s.cellStyle(busy), quiet: s.cellStyle(quiet), none: s.cellStyle(none), empty: s.emptyColor,
                    busy_value: s.cellValue(busy), quiet_value: s.cellValue(quiet)};
        }""",
        codes,
    )


def _read(download: Any) -> str:
    path = download.path()
    with open(path, encoding="utf-8") as f:
        return f.read()
