"""The desk's new-case form in Chromium: an operator enters a hotline call, finds the place by address search, sees
the suspected duplicates check, adds a photo and submits; the case exists in the address's cell with the caller's
contact for the centre and none of it in the public Open311 view; no console error and no failed request."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, expect

from citymgmt.demo import DEMO_PASSWORD
from tests.e2e.conftest import DESK, screenshot, sign_in, watch_problems

pytestmark = pytest.mark.e2e

ADDRESS = "东城区街道001社区001第1号"  # the demo gazetteer's door number of cell 110101001001001
CALLER = {"name": "王女士私密", "phone": "139 0000 1234"}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "#2e86c1").save(out, "JPEG")
    return out.getvalue()


def test_an_operator_enters_a_hotline_call_found_by_address(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(**DESK).new_page()
    problems = watch_problems(page)
    sign_in(page, live_server, "operator", "/desk/")
    expect(page.locator("#count")).to_have_text(re.compile(r"^(共 \d+ 件|暂无案件。)$"))

    page.get_by_role("button", name="新建案件").click()
    form = page.get_by_role("dialog", name="新建案件")
    expect(form).to_be_visible()
    work_order = f"12345-{uuid.uuid4().hex[:12]}"
    form.get_by_label("工单号").fill(work_order)
    form.get_by_label("诉求类型").select_option(label="投诉")
    form.get_by_label("来电人姓名").fill(CALLER["name"])
    form.get_by_label("来电人电话").fill(CALLER["phone"])
    form.get_by_label("类别").fill("暴露垃圾 (E0102)")
    form.get_by_label("描述").fill("市民来电：小区门口垃圾堆积")
    form.get_by_label("照片").set_input_files([{"name": "scene.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
    # The place by address search: a part of it, then the match from the list.
    form.get_by_label("地址", exact=True).press_sequentially("街道001社区001第1号")
    form.get_by_role("option", name=ADDRESS, exact=True).click()
    expect(form.get_by_label("地址", exact=True)).to_have_value(ADDRESS)
    expect(form.locator("#intake-place")).to_have_text("网格 110101001001001")
    expect(form.locator("#intake-map path.leaflet-interactive")).to_have_count(2)  # the point and its cell
    expect(form.locator("#intake-duplicates")).to_have_text(re.compile("附近没有该类别的未结案件|疑似重复"))
    screenshot(page, "desk-new-case")

    form.get_by_role("button", name="创建案件").click()
    expect(form).to_be_hidden()
    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile(r"^已创建案件 \d{13,}。$"))
    code = re.search(r"\d{13,}", status.inner_text() or "")
    assert code is not None
    expect(page.locator("#detail").get_by_role("heading", name=code.group(0), level=3)).to_be_visible()
    screenshot(page, "desk-new-case-created")

    # The case as the centre reads it: in the address's cell, with the caller's contact and the work order.
    api = new_context(base_url=live_server).request
    token = api.post("/api/v1/auth/token", data={"username": "operator", "password": DEMO_PASSWORD}).json()["token"]
    found = api.get("/api/v1/cases", params={"cell": "110101001001001"}, headers={"Authorization": f"Bearer {token}"})
    [summary] = [c for c in found.json() if c["code"] == code.group(0)]
    case = api.get(f"/api/v1/cases/{summary['id']}", headers={"Authorization": f"Bearer {token}"}).json()
    assert (case["cell_code"], case["source"], case["request_kind"]) == ("110101001001001", "hotline", "complaint")
    assert case["work_order"] == work_order and case["address"] == ADDRESS and len(case["photos"]) == 1
    assert case["contact"] == CALLER
    # The public view (Open311) shows the case and nothing of the caller.
    public = api.get(f"/open311/v2/requests/{code.group(0)}.json")
    assert public.status == 200 and public.json()[0]["service_request_id"] == code.group(0)
    for private in (CALLER["name"], CALLER["phone"], CALLER["phone"].replace(" ", "")):
        assert private not in public.text()
    assert problems == []
