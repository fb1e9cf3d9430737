"""The desk's call-back (回访) and case details in Chromium: a hotline case driven to closure through the API (as the
phones and the other desks would), then the operator finds the call-back in their work, reads who did what and
each stage's photos, and records the caller's answer with the result buttons. No console error and no failed
request on the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import APIRequestContext, BrowserContext, Request, expect

from tests.e2e.conftest import PHONE, screenshot, sign_in, wait_until, watch_problems
from tests.e2e.test_desk import bearer, desk_page, item, jpeg, report
from tests.e2e.test_mobile import beat_point  # noqa: F401 (a fixture: a point in the demo inspector's beat)

pytestmark = pytest.mark.e2e


def act(api: APIRequestContext, user: str, case: dict[str, Any], action: str, photo: str | None = None, **body: Any):  # type: ignore[no-untyped-def]
    headers = {**bearer(api, user), "If-Match": f'"{case["version"]}"'}
    if photo:
        fields = {k: str(v) for k, v in body.items()}
        response = api.post(
            f"/api/v1/cases/{case['id']}/actions/{action}",
            headers=headers,
            multipart={**fields, "photos": {"name": f"{action}.jpg", "mimeType": "image/jpeg", "buffer": jpeg(photo)}},
        )
    else:
        response = api.post(f"/api/v1/cases/{case['id']}/actions/{action}", headers=headers, data=body)
    assert response.status == 200, response.text()
    return response.json()


def test_the_operator_calls_back_a_closed_hotline_case_from_the_desk(
    live_server: str,
    new_context: Callable[..., BrowserContext],
    beat_point: tuple[float, float, str],  # noqa: F811
) -> None:
    api = new_context(base_url=live_server).request
    # In the demo inspector's beat, so that the inspector verifies and checks it.
    lon, lat, _ = beat_point
    case = report(api, "operator", lon, lat, description="市民来电：胡同口垃圾", source="hotline")
    case = act(api, "operator", case, "request_verification")
    case = act(api, "inspector", case, "verify", result="pass")
    case = act(api, "leader", case, "file")
    department = case["suggested_department_code"]
    case = act(api, "dispatcher", case, "dispatch", department=department)
    case = act(api, f"handler-{department}", case, "handle", photo="#27ae60", note="已清运")
    case = act(api, "inspector", case, "check", photo="#2980b9", result="pass")
    case = act(api, "leader", case, "close")
    assert case["callback_pending"] is True

    desk = desk_page(new_context, live_server, "operator")
    problems = watch_problems(desk)
    desk.reload()  # watched from the first request

    expect(item(desk, case)).to_contain_text("待回访")
    item(desk, case).click()
    detail = desk.locator("#detail")
    expect(detail.get_by_role("heading", name=case["code"], level=3)).to_be_visible()
    # Each stage's photos under their own heading: the report's, the handler's, the inspector's check.
    expect(detail.locator("#photos-report img")).to_have_count(1)
    expect(detail.locator("#photos-handle img")).to_have_count(1)
    expect(detail.locator("#photos-check img")).to_have_count(1)
    expect(detail.get_by_role("heading", name="核查照片")).to_be_visible()
    # The history names who acted, with their role, and what the system did by itself.
    history = detail.locator("#history")
    expect(history.locator("li").filter(has_text="结案")).to_contain_text("值班长 张强（值班长）")
    expect(history.locator("li").filter(has_text="处置完毕")).to_contain_text("处置人员（处置人员）")
    expect(history.locator("li").filter(has_text="发起核查")).to_contain_text("系统自动")

    detail.locator('button[data-action="callback"]').click()
    form = desk.locator("#action-form")
    expect(form.get_by_role("button", name="满意", exact=True)).to_be_visible()
    expect(form.get_by_role("button", name="不满意", exact=True)).to_be_visible()
    form.get_by_label("诉求已解决").uncheck()
    form.get_by_label("说明").fill("来电人表示垃圾已清，但希望加强巡查")
    screenshot(desk, "desk-operator-callback")
    form.get_by_role("button", name="基本满意", exact=True).click()
    expect(desk.get_by_role("status")).to_have_text("已完成：回访")
    expect(history.locator("li").last).to_contain_text(re.compile("回访.*基本满意.*未解决.*加强巡查"))
    expect(detail.locator('button[data-action="callback"]')).to_have_count(0)
    expect(item(desk, case)).to_have_count(0)  # off the operator's work

    done = api.get(f"/api/v1/cases/{case['id']}", headers=bearer(api, "leader")).json()
    event = done["events"][-1]
    assert event["action"] == "callback" and event["payload"]["result"] == "basically_satisfied"
    assert event["payload"]["resolved"] is False
    assert not problems, problems


def test_the_phone_opened_on_its_tasks_asks_for_no_empty_map_view(
    live_server: str,
    new_context: Callable[..., BrowserContext],
    beat_point: tuple[float, float, str],  # noqa: F811
) -> None:
    """The app opened on "my tasks" has its map hidden: it asked for cells and areas with an empty bbox (two 422s and
    two console errors). Now it asks once the map is shown, with the view's bbox, and nothing fails."""
    page = new_context(
        **PHONE,
        geolocation={"longitude": beat_point[0], "latitude": beat_point[1], "accuracy": 12},
        permissions=["geolocation"],
    ).new_page()
    problems = watch_problems(page)
    bboxes: list[list[float]] = []

    def on_request(request: Request) -> None:
        query = parse_qs(urlsplit(request.url).query)
        if "/api/v1/grids/" in request.url and "bbox" in query:
            bboxes.append([float(v) for v in query["bbox"][0].split(",")])

    page.on("request", on_request)
    sign_in(page, live_server, "inspector", "/")
    page.goto(f"{live_server}/m/#tasks")  # a new load, straight onto the tasks
    expect(page.get_by_role("heading", name="我的任务")).to_be_visible()
    page.get_by_role("link", name="上报", exact=True).click()
    wait_until(page, "document.querySelectorAll('#m-map .leaflet-overlay-pane path').length > 10")  # outlines
    assert bboxes and all(west < east and south < north for west, south, east, north in bboxes), bboxes
    assert not problems, problems
