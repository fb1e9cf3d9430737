"""The dashboard page (/dashboard/): who may open it, its language, and the settings it hands to its script."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from citymgmt.demo import DEMO_PASSWORD
from tests.web.test_sessions import page_token, sign_in

pytestmark = pytest.mark.usefixtures("beijing")


def _config(html: str) -> Any:
    found = re.search(r'<script type="application/json" id="dashboard-config">(.*?)</script>', html, re.S)
    assert found, "the page passes its script's settings and strings as JSON"
    return json.loads(found.group(1))


def test_supervisors_leaders_and_admins_get_the_big_screen_in_chinese_or_english(client) -> None:  # type: ignore[no-untyped-def]
    for username in ("supervisor", "leader", "admin"):
        sign_in(client, username, DEMO_PASSWORD)
        response = client.get("/dashboard/")
        assert response.status_code == 200, username
        html = response.get_data(as_text=True)
        assert '<html lang="zh-CN">' in html and "<h1>监督指挥大屏</h1>" in html
        assert 'class="dashboard"' in html and "vendor/leaflet/leaflet.js" in html and "js/dashboard.js" in html
        config = _config(html)
        assert config["refresh"] == 60 and config["days"] == 30 and config["indicator"] == "on_time_closing_rate"
        assert config["timezone"] == "Asia/Shanghai" and config["locale"] == "zh-CN"
        assert config["text"]["indicators"]["overdue_open"] == "超期未结案数"
        assert config["api"]["cells"] == "/api/v1/metrics/cells" and config["api"]["cases"] == "/api/v1/cases"
        assert {f["properties"]["code"] for f in config["districts"]["features"]} == {"110101", "110102"}
        client.post("/logout", data={"csrf_token": page_token(client)})

    sign_in(client, "supervisor", DEMO_PASSWORD)
    english = client.get("/dashboard/?lang=en&refresh=5&days=7&indicator=density").get_data(as_text=True)
    config = _config(english)
    assert '<html lang="en">' in english and "<h1>Supervision dashboard</h1>" in english
    assert config["locale"] == "en" and config["text"]["states"]["closed"] == "Closed"
    assert config["refresh"] == 10 and config["days"] == 7 and config["indicator"] == "density"  # at least 10 s
    assert '<option value="density" selected>' in english
    assert 'href="/dashboard/?lang=zh_CN&amp;refresh=5&amp;days=7&amp;indicator=density"' in english
    odd = _config(client.get("/dashboard/?refresh=soon&indicator=<script>").get_data(as_text=True))
    assert odd["refresh"] == 60 and odd["indicator"] == "on_time_closing_rate"
    home = client.get("/").get_data(as_text=True)
    assert 'href="/dashboard/"' in home


@pytest.mark.parametrize("username", ["inspector", "operator", "dispatcher", "handler-bj-water"])
def test_other_roles_get_the_403_page(client, username: str) -> None:  # type: ignore[no-untyped-def]
    signed_in = sign_in(client, username, DEMO_PASSWORD)
    assert signed_in.status_code == 302, username
    response = client.get("/dashboard/")
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "您的角色无权访问此页面。" in response.get_data(as_text=True)
    assert 'href="/dashboard/"' not in client.get("/").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/dashboard/?indicator=density")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/dashboard/")
