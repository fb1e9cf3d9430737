"""The inspector app's pages through the Flask client: who may open /m/, the manifest, the service worker, the
basemap settings passed to the page. The app itself (reports, offline, tasks) runs in Chromium (tests/e2e).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from citymgmt.core.config import ConfigError, Settings
from tests.web.test_sessions import sign_in


def test_the_inspector_opens_the_app_in_chinese_with_its_scripts(client: FlaskClient, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("t-inspector", "inspector")
    sign_in(client, "t-inspector")
    response = client.get("/m/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert 'rel="manifest" href="/m/manifest.webmanifest"' in html
    for script in (
        "/static/js/api.js",
        "/static/js/map.js",
        "/static/js/mobile.js",
        "/static/vendor/leaflet/leaflet.js",
    ):
        assert f'src="{script}"' in html
    assert 'capture="environment"' in html and 'accept="image/*"' in html and "multiple" in html
    config = json.loads(re.search(r'<script type="application/json" id="m-config">(.*?)</script>', html, re.S)[1])
    assert config["strings"]["pending"] == "待发送：{count}"  # translated, with the script's placeholder
    assert config["timezone"] == "Asia/Shanghai" and config["max_photos"] == 9
    # A refusal said in Chinese (mobile.js errorText): by its code and field, or the move not allowed in a state.
    assert config["refusals"]["validation_error result"] == "须为所列选项之一"
    assert config["strings"]["cannot_now"] == "现在不能办理：案件当前为“{status}”。"
    map_config = json.loads(
        re.search(r'<script type="application/json" id="citymgmt-map-config">(.*?)</script>', html, re.S)[1]
    )
    extent = map_config.pop("extent")  # the loaded city's, where the map opens: tested below
    assert extent is None or len(extent) == 4
    assert map_config == {"basemap_url": "", "basemap_crs": "wgs84", "attribution": "", "timezone": "Asia/Shanghai"}

    english = client.get("/m/?lang=en").get_data(as_text=True)
    assert "My tasks" in english and "Waiting to be sent: {count}" in english


@pytest.mark.parametrize("role", ["operator", "handler", "supervisor"])
def test_other_roles_get_the_refusal_page(client: FlaskClient, make_user, role: str) -> None:  # type: ignore[no-untyped-def]
    make_user(f"t-{role}", role)
    sign_in(client, f"t-{role}")
    response = client.get("/m/")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "您的角色无权访问此页面" in response.get_data(as_text=True)


def test_the_anonymous_are_sent_to_sign_in_and_back(client: FlaskClient) -> None:
    response = client.get("/m/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/m/"


def test_manifest_and_service_worker_are_public_and_scoped_to_the_app(client: FlaskClient) -> None:
    manifest = client.get("/m/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.mimetype == "application/manifest+json"
    data: dict[str, Any] = manifest.get_json(force=True)
    assert data["start_url"] == "/m/" and data["scope"] == "/m/" and data["display"] == "standalone"
    assert data["name"] == "城市管理监督员"
    for icon in data["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png"
        image.close()

    worker = client.get("/m/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Cache-Control"] == "no-cache"
    body = worker.get_data(as_text=True)
    assert 'const SHELL = "/m/";' in body
    for asset in json.loads(re.search(r"const ASSETS = (\[.*?\]);", body)[1]):
        response = client.get(asset)
        assert response.status_code == 200, asset  # cache.addAll fails on any missing file
        response.close()


def test_a_fresh_csrf_token_for_a_shell_opened_from_the_cache(client: FlaskClient, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("t-inspector", "inspector")
    sign_in(client, "t-inspector")
    response = client.get("/m/token")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = response.get_json()["csrf_token"]
    refused = client.post("/api/v1/cases", json={})
    assert refused.status_code == 403
    accepted = client.post("/api/v1/cases", json={}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 422  # past the CSRF check, refused for its (empty) content


def test_the_basemap_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYMGMT_BASEMAP_URL", "https://tiles.example/{z}/{x}/{y}.png")
    monkeypatch.setenv("CITYMGMT_BASEMAP_CRS", "GCJ02")
    settings = Settings.from_env()
    assert settings.basemap_crs == "gcj02"
    monkeypatch.setenv("CITYMGMT_BASEMAP_CRS", "bd09")
    with pytest.raises(ConfigError, match="CITYMGMT_BASEMAP_CRS='bd09': expected wgs84 or gcj02"):
        Settings.from_env()
    monkeypatch.setenv("CITYMGMT_BASEMAP_CRS", "wgs84")
    monkeypatch.setenv("CITYMGMT_BASEMAP_URL", "https://tiles.example/{z}/{x}.png")
    with pytest.raises(ConfigError, match="needs"):
        Settings.from_env()


def test_the_map_opens_on_the_loaded_city_not_on_beijing(client: FlaskClient, db_session, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("t-inspector", "inspector")
    sign_in(client, "t-inspector")

    def extent() -> Any:
        html = client.get("/m/").get_data(as_text=True)
        found = re.search(r'<script type="application/json" id="citymgmt-map-config">(.*?)</script>', html, re.S)
        return json.loads(found[1])["extent"]

    # Only a Los Angeles district live (any demo city retired, in this test's transaction): its extent.
    db_session.execute(text("UPDATE areas SET retired_at = now() WHERE retired_at IS NULL"))
    db_session.execute(
        text(
            "INSERT INTO areas (code, name, level, geom, updated_at) VALUES ('900001', 'Los Angeles', 'district',"
            " ST_Multi(ST_MakeEnvelope(-118.67, 33.70, -118.15, 34.34, 4326)), now())"
        )
    )
    db_session.commit()
    assert extent() == pytest.approx([-118.67, 33.70, -118.15, 34.34])

    db_session.execute(text("UPDATE areas SET retired_at = now() WHERE code = '900001'"))
    db_session.commit()
    assert extent() is None  # no city: the script opens the world
