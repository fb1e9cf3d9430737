"""The big screen's analysis pieces in Debian's Chromium (1920×1080): six reports of one problem in an empty cell
today make it unusual (the "unusual today" panel lists it, a click lists its cases) and a hot spot (the map's
hot-spot layer outlines it and the cluster of the six; the switch hides the layer)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import text

from citymgmt.core.db import db
from citymgmt.demo import DEMO_PASSWORD
from tests.e2e.conftest import screenshot, sign_in, wait_until

pytestmark = pytest.mark.e2e

BIG_SCREEN = {"viewport": {"width": 1920, "height": 1080}}
# An empty whole cell in Xicheng, away from those other tests use, and its centre.
EMPTY_CELL = """
SELECT code, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM grid_cells g
WHERE code LIKE '110102%' AND retired_at IS NULL AND area_m2 > 9990
  AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.cell_code = g.code)
ORDER BY code OFFSET 1200 LIMIT 1
"""


def test_unusual_today_and_the_hot_spot_layer(
    live_server: str, app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context():
        cell, lon, lat = db.session.execute(text(EMPTY_CELL)).one()
        db.session.remove()
    caller = new_context()
    token = caller.request.post(
        f"{live_server}/api/v1/auth/token", data={"username": "inspector", "password": DEMO_PASSWORD}
    ).json()["token"]
    for i in range(6):  # within 15 m of each other
        response = caller.request.post(
            f"{live_server}/api/v1/cases",
            data={"category_code": "E0102", "lon": lon + 0.00003 * i, "lat": lat, "description": "异常测试"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"unusual-{uuid.uuid4()}"},
        )
        assert response.status == 201, response.text()
        assert response.json()["cell_code"] == cell

    page = new_context(**BIG_SCREEN).new_page()
    sign_in(page, live_server, "supervisor", "/dashboard/")
    wait_until(
        page,
        "() => { const s = window.citymgmtDashboard; return s && s.analysis && s.analysis.loaded.unusual >= 1"
        " && s.analysis.loaded.hotspots >= 1 && s.loaded.cells >= 1; }",
    )
    expect(page.get_by_role("heading", name="今日异常")).to_be_visible()
    item = page.locator(f'#unusual-list button[data-cell="{cell}"]')
    expect(item).to_have_text(f"暴露垃圾 · 网格 {cell}")
    expect(page.locator(f'#unusual-list li:has(button[data-cell="{cell}"])')).to_contain_text("今日 6 件，平常 0 件")

    features = page.evaluate("() => window.citymgmtDashboard.analysis.hotspots.features")
    hot = {f["properties"]["code"] for f in features if f["properties"]["layer"] == "cell"}
    assert cell in hot
    clusters = [f["properties"] for f in features if f["properties"]["layer"] == "cluster"]
    assert any(c["cases"] >= 6 and c["top_category"] == "E0102" for c in clusters)
    assert page.evaluate("() => window.citymgmtDashboard.analysis.layerShown()")
    screenshot(page, "dashboard-analysis")

    page.get_by_label("热点").uncheck()
    assert not page.evaluate("() => window.citymgmtDashboard.analysis.layerShown()")
    page.get_by_label("热点").check()
    assert page.evaluate("() => window.citymgmtDashboard.analysis.layerShown()")

    item.click()  # the cell's cases, as a click on the map lists them
    expect(page.locator("#drill")).to_be_visible()
    expect(page.locator("#drill-title")).to_contain_text(cell)
    expect(page.locator("#drill-cases tr")).to_have_count(6)
