"""Maps open on the loaded city, not on a city written into the script: static/js/map.js in Chromium, given the
extent the pages pass (#citymgmt-map-config), with no server (the pages' extent is tested in tests/web)."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page

STATIC = Path(__file__).resolve().parents[2] / "citymgmt/web/static"
LOS_ANGELES = [-118.67, 33.70, -118.15, 34.34]  # west, south, east, north


def open_map(page: Page, config: dict[str, object], options: str = "{}") -> dict[str, float]:
    page.set_content(
        '<div id="map" style="width: 800px; height: 600px"></div>'
        f'<script type="application/json" id="citymgmt-map-config">{json.dumps(config)}</script>'
    )
    page.add_script_tag(path=str(STATIC / "vendor/leaflet/leaflet.js"))
    page.add_script_tag(path=str(STATIC / "js/map.js"))
    centre: dict[str, float] = page.evaluate(
        f"""() => {{
            const map = citymgmt.map.create(document.getElementById("map"), {options});
            const c = map.getCenter();
            return {{lon: c.lng, lat: c.lat, zoom: map.getZoom()}};
        }}"""
    )
    return centre


def test_a_map_opens_on_the_loaded_citys_extent(page: Page) -> None:
    centre = open_map(page, {"basemap_url": "", "basemap_crs": "wgs84", "extent": LOS_ANGELES})
    assert LOS_ANGELES[0] < centre["lon"] < LOS_ANGELES[2] and LOS_ANGELES[1] < centre["lat"] < LOS_ANGELES[3]
    assert 8 <= centre["zoom"] <= 12  # the whole city in view, not a street


def test_a_map_with_no_city_opens_on_the_world_and_a_given_point_wins(page: Page) -> None:
    world = open_map(page, {"basemap_url": "", "basemap_crs": "wgs84", "extent": None})
    assert world["zoom"] <= 3
    placed = open_map(
        page, {"basemap_url": "", "basemap_crs": "wgs84", "extent": LOS_ANGELES}, "{lon: -118.25, lat: 34.05, zoom: 17}"
    )
    assert abs(placed["lon"] + 118.25) < 1e-6 and abs(placed["lat"] - 34.05) < 1e-6 and placed["zoom"] == 17
