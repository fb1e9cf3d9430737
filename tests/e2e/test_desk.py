"""The desk (/desk/) in Chromium: an inspector's report reaches the dispatcher, who dispatches it from the keyboard
to the rule's suggestion; the department asks for more time, the dispatcher approves, the department handles it
with a result photo; a stale action says someone else acted; the operator merges a duplicate.

Reports are made through the HTTP API of the live server by the demo accounts, as the phones would make them.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import APIRequestContext, BrowserContext, Page, expect

from citymgmt.demo import DEMO_PASSWORD
from tests.e2e.conftest import DESK, screenshot, sign_in, wait_until

pytestmark = pytest.mark.e2e

# E0601 (其他事件) without a tree word: the demo rules suggest the street office and leave it to the dispatcher.
OTHER_EVENT = "E0601"


def jpeg(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG")
    return out.getvalue()


def bearer(request: APIRequestContext, username: str) -> dict[str, str]:
    response = request.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status == 201, response.text()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def report(request: APIRequestContext, username: str, lon: float, lat: float, **fields: Any) -> dict[str, Any]:
    """A report through POST /api/v1/cases (multipart with one photo), as the demo account."""
    form = {"category_code": OTHER_EVENT, "lon": str(lon), "lat": str(lat), **fields}
    response = request.post(
        "/api/v1/cases",
        headers={**bearer(request, username), "Idempotency-Key": uuid.uuid4().hex},
        multipart={**form, "photos": {"name": "scene.jpg", "mimeType": "image/jpeg", "buffer": jpeg("#c0392b")}},
    )
    assert response.status == 201, response.text()
    case: dict[str, Any] = response.json()
    return case


def desk_page(new_context: Callable[..., BrowserContext], base: str, username: str) -> Page:
    page = new_context(**DESK).new_page()
    sign_in(page, base, username, "/desk/")
    expect(page.get_by_role("heading", name="工作台", exact=True)).to_be_visible()
    # The script has run and read the list.
    expect(page.locator("#count")).to_have_text(re.compile(r"^(共 \d+ 件|暂无案件。)$"))
    return page


def shot(page: Page, name: str) -> None:
    """A screenshot once the open case's map has its cell and its photos have loaded."""
    if page.locator("#case-map").count():
        expect(page.locator("#case-map path.leaflet-interactive")).to_have_count(2)
    wait_until(page, "Array.from(document.images).every((img) => img.complete)")
    screenshot(page, name)


def item(page: Page, case: dict[str, Any]) -> Any:
    return page.locator(f'#items .item[data-id="{case["id"]}"]')


def focus_by_keys(page: Page, case: dict[str, Any]) -> None:
    """j from the top of the list until the case's item has the focus (k steps back)."""
    page.keyboard.press("j")
    expect(page.locator("#items .item").first).to_be_focused()
    for _ in range(200):
        if page.evaluate("document.activeElement.dataset.id") == str(case["id"]):
            break
        page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    expect(item(page, case)).to_be_focused()


def test_a_report_is_dispatched_extended_and_handled_from_the_desk(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    api = new_context(base_url=live_server).request
    case = report(api, "inspector", 116.4108, 39.9140, description="人行道上有废弃家具")
    assert case["status"] == "filed"  # an inspector's report is filed on arrival
    department = case["suggested_department_code"]
    assert department and department.startswith("street-"), case

    # The dispatcher's queue: the case with its light, countdown and photo.
    desk = desk_page(new_context, live_server, "dispatcher")
    expect(item(desk, case)).to_contain_text("待派遣")
    expect(item(desk, case).locator(".countdown")).to_have_text(re.compile(r"剩余 \d+:\d\d:\d\d|已超时"))
    focus_by_keys(desk, case)
    desk.keyboard.press("Enter")
    detail = desk.locator("#detail")
    expect(detail.get_by_role("heading", name=case["code"], level=3)).to_be_visible()
    photo = detail.get_by_role("img", name="照片 1")
    expect(photo).to_be_visible()
    wait_until(desk, "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
    expect(detail.locator(".light")).to_have_text(re.compile("绿灯|黄灯|红灯"))
    # The server's deadline, shown in the city's zone (the browser runs in UTC).
    due = datetime.fromisoformat(case["due_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    expect(detail.locator(".case-head time")).to_have_text(f"{due:%Y/%m/%d %H:%M}")
    expect(detail.locator("#case-map path.leaflet-interactive")).to_have_count(2)  # the cell's outline, the point
    suggestion = detail.locator("#suggestion")
    expect(suggestion.locator(".suggested")).to_contain_text(department)
    suggestion.locator("summary").click()
    expect(suggestion.locator("li.hit")).to_contain_text("e-locality")
    expect(suggestion.locator("li.hit")).to_contain_text("属地的")  # the reason in Chinese, not the server's English
    expect(suggestion.locator("#explain")).not_to_contain_text("is not under")
    desk.keyboard.press("?")
    expect(desk.get_by_role("dialog", name="键盘快捷键")).to_be_visible()
    shot(desk, "desk-help")
    desk.keyboard.press("Escape")
    expect(desk.get_by_role("dialog")).to_be_hidden()
    shot(desk, "desk-dispatcher")

    # Someone acts meanwhile (a comment through the API): the dispatch is refused as stale and the case reloaded.
    comment = api.post(
        f"/api/v1/cases/{case['id']}/actions/comment",
        headers={**bearer(api, "operator"), "If-Match": f'"{case["version"]}"'},
        data={"note": "受理员补充说明"},
    )
    assert comment.status == 200, comment.text()
    detail.get_by_role("button", name=re.compile("^派遣")).focus()
    desk.keyboard.press("d")
    expect(desk.locator("#f-department")).to_have_value(department)
    expect(desk.locator("#f-send")).to_be_focused()
    desk.keyboard.press("Enter")
    message = desk.get_by_role("alert")
    expect(message).to_have_text("此案件刚被他人处理过，已重新加载：请核对后重试。")
    expect(detail.locator("#history")).to_contain_text("受理员补充说明")
    shot(desk, "desk-stale")

    # Now the dispatch goes through, to the suggestion, from the keyboard alone.
    desk.keyboard.press("d")
    expect(desk.locator("#f-send")).to_be_focused()
    desk.keyboard.press("Enter")
    expect(desk.get_by_role("status")).to_have_text("已完成：派遣")
    expect(detail.locator(".case-head .badge")).to_have_text("已派遣")
    expect(item(desk, case)).to_have_count(0)  # no longer the dispatcher's work

    # The department's handler finds it in their queue and asks for four more hours.
    handler = desk_page(new_context, live_server, f"handler-{department}")
    expect(item(handler, case)).to_contain_text("待处置")
    item(handler, case).click()
    expect(handler.locator("#detail").get_by_role("heading", name=case["code"], level=3)).to_be_visible()
    handler.keyboard.press("e")
    expect(handler.get_by_label("申请延长小时数")).to_be_focused()
    handler.keyboard.type("4")
    handler.get_by_label("说明（必填）").fill("需要协调物业清运")
    handler.get_by_label("说明（必填）").press("Control+Enter")
    expect(handler.get_by_role("status")).to_have_text("已完成：申请延期")
    expect(handler.locator("#pending")).to_contain_text("等待派遣员审批：延期")
    shot(handler, "desk-handler-request")

    # The dispatcher approves it.
    desk.get_by_role("tab", name=re.compile("我的待办")).click()
    expect(item(desk, case)).to_contain_text("待审批")
    item(desk, case).focus()
    desk.keyboard.press("Enter")
    expect(desk.locator("#pending")).to_contain_text("4 小时")
    expect(desk.locator("#pending")).to_contain_text("需要协调物业清运")
    shot(desk, "desk-approval")
    desk.keyboard.press("a")
    desk.keyboard.press("Enter")
    expect(desk.get_by_role("status")).to_have_text("已完成：批准延期")

    # The handler sees the answer, then handles the case with a result photo.
    handler.keyboard.press("u")
    item(handler, case).click()
    expect(handler.locator("#requests")).to_contain_text("批准延期")
    handler.keyboard.press("h")
    handler.get_by_label("处置结果照片").set_input_files(
        [{"name": "done.jpg", "mimeType": "image/jpeg", "buffer": jpeg("#27ae60")}]
    )
    handler.get_by_label("说明", exact=True).fill("已清运完毕")
    handler.get_by_role("button", name="提交：处置完毕").click()
    expect(handler.get_by_role("status")).to_have_text("已完成：处置完毕")
    expect(handler.locator("#detail .case-head .badge")).to_have_text("核查中")  # the check is requested at once
    expect(handler.locator("#detail").get_by_role("img", name="照片 2")).to_be_visible()
    shot(handler, "desk-handler")

    seen = api.get(f"/api/v1/cases/{case['id']}", headers=bearer(api, "dispatcher")).json()
    assert [e["action"] for e in seen["events"]][-4:] == [
        "request_extension",
        "approve_extension",
        "handle",
        "request_check",
    ]
    assert len(seen["photos"]) == 2 and seen["extensions_granted"] == 1

    # The inspector's check passes (through the API); the shift leader closes the case from the keyboard.
    check = api.post(
        f"/api/v1/cases/{case['id']}/actions/check",
        headers={**bearer(api, "inspector"), "If-Match": f'"{seen["version"]}"'},
        data={"result": "pass"},
    )
    assert check.status == 200, check.text()
    leader = desk_page(new_context, live_server, "leader")
    expect(item(leader, case)).to_contain_text("待结案")
    item(leader, case).focus()
    leader.keyboard.press("Enter")
    expect(leader.locator("#detail .actions button").first).to_be_focused()
    leader.keyboard.press("Escape")  # from the case back to the list, and in again
    expect(item(leader, case)).to_be_focused()
    leader.keyboard.press("Enter")
    expect(leader.locator("#detail .actions button").first).to_be_focused()
    leader.keyboard.press("c")
    leader.keyboard.press("Enter")
    expect(leader.get_by_role("status")).to_have_text("已完成：结案")
    expect(leader.locator("#detail .case-head .badge")).to_have_text("已结案")
    expect(leader.locator("#detail .case-head")).to_contain_text("无时限")


def test_a_refusal_at_the_desk_says_what_the_field_needs_in_the_desk_s_language(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    api = new_context(base_url=live_server).request
    case = report(api, "operator", 116.4032, 39.9441, description="人行道上倒伏的共享单车", source="hotline")
    assert not case["suspected_duplicate"]  # no candidates: the original is typed as a number

    desk = desk_page(new_context, live_server, "operator")
    for language, needs in (("zh-CN", "另一件现行案件的编号"), ("en", "no case 999999")):
        if language == "en":
            desk.get_by_role("link", name="English").click()
            expect(desk.get_by_role("heading", name="Desk", exact=True)).to_be_visible()
        desk.keyboard.press("2")  # the new reports
        item(desk, case).click()
        expect(desk.locator('#detail .actions button[data-action="merge"]')).to_have_count(1)
        desk.keyboard.press("m")
        desk.locator("#f-original").fill("999999")
        desk.locator("#f-original").press("Enter")
        alert = desk.locator("#message[role=alert]")
        expect(alert).to_contain_text(needs)
        if language == "zh-CN":
            expect(alert).not_to_contain_text("no case")  # not the API's English
    shot(desk, "desk-operator-refused-en")


def test_the_operator_merges_a_duplicate_report_and_reads_the_desk_in_english(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    api = new_context(base_url=live_server).request
    original = report(api, "operator", 116.3712, 39.9375, description="路边堆放建筑垃圾", source="hotline")
    duplicate = report(api, "operator", 116.3712, 39.9375, description="同一处建筑垃圾", source="hotline")
    assert duplicate["suspected_duplicate"] and duplicate["status"] == "reported"

    desk = desk_page(new_context, live_server, "operator")
    desk.keyboard.press("2")  # the new reports
    expect(desk.get_by_role("tab", name=re.compile("新上报"))).to_have_attribute("aria-selected", "true")
    item(desk, duplicate).click()
    duplicates = desk.locator("#duplicates")
    expect(duplicates).to_contain_text(original["code"])
    expect(duplicates.locator(".original")).to_contain_text("路边堆放建筑垃圾")  # the original beside it
    desk.keyboard.press("m")
    expect(desk.get_by_label("原案件", exact=True)).to_have_value(str(original["id"]))
    shot(desk, "desk-operator-merge")
    desk.keyboard.press("Enter")
    expect(desk.get_by_role("status")).to_have_text("已完成：合并到原案件")
    expect(desk.locator("#detail .case-head .badge")).to_have_text("已合并")  # not "cancelled", not an internal id
    expect(desk.locator("#merged-into")).to_contain_text(f"已合并到案件 {original['code']}")

    # Cancelling a filed case needs the shift leader: the operator is not offered it (the move table's guard), and
    # the key does nothing.
    filed = report(api, "inspector", 116.3990, 39.9290, description="井盖周边杂物")
    desk.keyboard.press("3")
    item(desk, filed).click()
    expect(desk.locator("#detail .actions button").first).to_be_focused()
    expect(desk.locator('#detail .actions button[data-action="cancel"]')).to_have_count(0)
    expect(desk.locator('#detail .actions button[data-action="comment"]')).to_have_count(1)
    desk.keyboard.press("x")
    expect(desk.locator("#f-note")).to_have_count(0)
    expect(desk.locator("#detail .case-head .badge")).to_have_text("已立案")
    shot(desk, "desk-operator-filed")

    desk.get_by_role("link", name="English").click()
    expect(desk.get_by_role("heading", name="Desk", exact=True)).to_be_visible()
    expect(desk.get_by_role("tab", name=re.compile("New reports"))).to_be_visible()
    item(desk, original).click()
    expect(desk.locator("#history")).to_contain_text("Duplicate merged in")
    expect(desk.get_by_role("button", name=re.compile("^Request verification"))).to_be_visible()
    shot(desk, "desk-operator-en")
