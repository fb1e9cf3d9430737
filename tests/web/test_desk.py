"""The desk page (/desk/): who may open it, and what it hands its script (through the Flask test client).

The desk itself, driven in Chromium, is in tests/e2e/test_desk.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.web.test_sessions import sign_in


def desk_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="desk-config">(.*?)</script>', html, re.S)
    assert found, "the page hands its script a JSON config"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/desk/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/desk/"


@pytest.mark.parametrize("role", ["inspector", "supervisor", "admin"])
def test_other_roles_get_the_html_403_page(client: FlaskClient, make_user, role: str) -> None:  # type: ignore[no-untyped-def]
    make_user(f"t-{role}", role)
    assert sign_in(client, f"t-{role}").status_code == 302
    response = client.get("/desk/")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "您的角色无权访问此页面" in response.get_data(as_text=True)
    assert "/desk/" not in client.get("/").get_data(as_text=True), "no link to a page one may not open"


@pytest.mark.parametrize(
    ("role", "tabs"),
    [
        ("operator", ["mine", "reported", "filed", "dispatched", "checking"]),
        ("leader", ["mine", "reported", "filed", "dispatched", "checking"]),
        ("dispatcher", ["mine", "reported", "filed", "dispatched", "checking"]),
        ("handler", ["mine", "ours"]),
    ],
)
def test_centre_staff_and_handlers_open_the_desk(client: FlaskClient, make_user, role: str, tabs: list[str]) -> None:  # type: ignore[no-untyped-def]
    make_user(f"t-{role}", role)
    assert sign_in(client, f"t-{role}").status_code == 302
    assert 'href="/desk/"' in client.get("/").get_data(as_text=True)

    response = client.get("/desk/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    config = desk_config(html)
    assert [tab["id"] for tab in config["tabs"]] == tabs
    assert config["timezone"] == "Asia/Shanghai"
    assert config["locale"] == "zh-CN"
    assert config["strings"]["actions"]["dispatch"] == "派遣"
    assert config["strings"]["lights"]["red"] == "红灯"
    assert "cancel" in config["needs_note"] and "dispatch" not in config["needs_note"]
    assert {"code": "t-water", "name": "测试供水"} in config["departments"]
    assert config["categories"]["E0102"] == "暴露垃圾" and config["categories"]["E01"]  # minor and major classes
    assert config["department"] == ("t-water" if role == "handler" else None)
    # The new-case form (hotline and public intake) is the centre's, not the departments'.
    assert ('id="intake-form"' in html) == ("js/desk-intake.js" in html) == (role != "handler")
    assert config["strings"]["intake"]["created"] == "已创建案件 %(code)s。"
    # The domain's refusals in Chinese, for the script to say instead of the API's English (api.js refusalText).
    assert config["refusals"]["validation_error note"] == "须填写说明原因的备注"
    assert config["refusals"]["validation_error"] and "%(min_password)s" not in str(config["refusals"])


def test_the_desk_speaks_english_when_asked(client: FlaskClient, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("t-dispatcher", "dispatcher")
    sign_in(client, "t-dispatcher")
    html = client.get("/desk/?lang=en").get_data(as_text=True)
    config = desk_config(html)
    assert config["locale"] == "en"
    assert config["strings"]["actions"]["dispatch"] == "Dispatch"
    assert config["refusals"] == {}  # in English the script shows the API's own words
    assert {"code": "t-water", "name": "Test water"} in config["departments"]
    assert config["categories"]["E0102"] == "Exposed garbage"
    assert "<title>Desk" in html
    # Every string the script shows is translated in zh-CN (none left in English).
    zh = desk_config(client.get("/desk/?lang=zh_CN").get_data(as_text=True))["strings"]
    en = config["strings"]
    same = [
        f"{group}.{key}"
        for group, texts in en.items()
        for key, text in texts.items()
        if zh[group][key] == text and not re.fullmatch(r"[\W\d%()sa-z_]*|Open311", text)
    ]
    assert same == []


def test_every_page_has_its_favicon(client: FlaskClient) -> None:
    """/favicon.ico, where browsers ask on every page, signed in or not (it was a 404), and linked from the pages."""
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200 and response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
        assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert '<link rel="icon" href="/favicon.ico">' in client.get("/login").get_data(as_text=True)


def test_every_reason_of_the_routing_explanation_has_its_words_on_the_desk() -> None:
    """The desk says the explanation's reasons in the user's language, with the values the English has."""
    from citymgmt.web.desk import CONDITION_NAMES, REASON_TEXTS
    from dispatch.routing.match import CONDITIONS, REASONS

    assert set(REASON_TEXTS) == set(REASONS) and set(CONDITION_NAMES) == set(CONDITIONS)
    for why, english in REASONS.items():
        assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"%\((\w+)\)s", str(REASON_TEXTS[why]))), why
