"""The closed loop across the three screens, in Chromium, as the people who use them do it:

an inspector reports from the phone (/m/, position mocked inside the beat, a photo from the camera input); the
dispatcher finds the case on the desk (/desk/) and dispatches it from the keyboard to the rule's suggestion; the
department's handler handles it on the desk with a result photo; the inspector checks it on the phone and passes
it; the supervisor's big screen (/dashboard/) shows the cell coloured by case density, with the value the database
gives. Each screen is checked through what the person sees, and the database is read to confirm what was stored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import text

from citymgmt.core.db import db
from citymgmt.demo import DEMO_INSPECTOR_BEAT
from tests.e2e.conftest import DESK, PHONE, screenshot, sign_in, wait_until

pytestmark = pytest.mark.e2e

# 其他事件 without a keyword that a rule knows: the demo rules suggest the street office and leave the dispatch to
# the dispatcher, so the case passes through the desk.
CATEGORY = "E0601"
BIG_SCREEN = {"viewport": {"width": 1920, "height": 1080}}


def _rows(app: Flask, sql: str, **params: Any) -> list[Any]:
    with app.app_context():
        rows = list(db.session().execute(text(sql), params).all())
        db.session.remove()
    return rows


def _jpeg(path: Path, colour: str) -> Path:
    Image.new("RGB", (1200, 900), colour).save(path, "JPEG", quality=80)
    return path


def _desk(new_context: Callable[..., BrowserContext], base: str, username: str) -> Page:
    page = new_context(**DESK).new_page()
    sign_in(page, base, username, "/desk/")
    expect(page.locator("#count")).to_have_text(re.compile(r"^(共 \d+ 件|暂无案件。)$"))
    return page


def test_a_report_goes_round_the_loop_across_the_screens(  # type: ignore[no-untyped-def]
    app: Flask, live_server: str, new_context, tmp_path: Path
) -> None:
    # A cell of the demo inspector's beat away from the other browser tests' points.
    ((cell, lon, lat, area_m2),) = _rows(
        app,
        "SELECT code, round(ST_X(ST_PointOnSurface(geom))::numeric, 6)::float8,"
        " round(ST_Y(ST_PointOnSurface(geom))::numeric, 6)::float8, area_m2 FROM grid_cells"
        " WHERE code LIKE :beat AND retired_at IS NULL ORDER BY code DESC LIMIT 1",
        beat=DEMO_INSPECTOR_BEAT + "%",
    )

    # 1. The inspector reports from the phone, the position from the (mocked) GPS.
    phone = new_context(
        **PHONE, geolocation={"longitude": lon, "latitude": lat, "accuracy": 8}, permissions=["geolocation"]
    ).new_page()
    sign_in(phone, live_server, "inspector", "/m/")
    expect(phone.locator("#m-cell")).to_contain_text(f"网格 {cell}")
    phone.get_by_role("button", name="下一步：选择类别").click()
    phone.get_by_label("按名称或编码搜索").fill(CATEGORY)
    phone.locator("#m-categories, #m-recent").get_by_role("button", name=re.compile(CATEGORY)).first.click()
    phone.get_by_label(re.compile("拍照或选择照片")).set_input_files(_jpeg(tmp_path / "scene.jpg", "sienna"))
    expect(phone.locator("#m-previews img")).to_have_count(1)
    description = f"闭环测试：人行道上有废弃家具 {uuid.uuid4().hex[:8]}"
    phone.get_by_label("问题描述").fill(description)
    phone.get_by_role("button", name="发送", exact=True).click()
    expect(phone.locator("#m-result")).to_contain_text("已发送：案件")
    ((case_id, code, status, department, photos),) = _rows(
        app,
        "SELECT c.id, c.code, c.status, c.suggested_department_code,"
        " (SELECT count(*) FROM attachments a WHERE a.case_id = c.id) FROM cases c WHERE c.description = :d",
        d=description,
    )
    assert (status, photos) == ("filed", 1) and department, (status, photos, department)
    screenshot(phone, "loop-1-phone-sent")

    # 2. The dispatcher finds it on the desk and dispatches it to the suggestion, from the keyboard.
    dispatcher = _desk(new_context, live_server, "dispatcher")
    item = dispatcher.locator(f'#items .item[data-id="{case_id}"]')
    expect(item).to_contain_text("待派遣")
    item.focus()
    dispatcher.keyboard.press("Enter")
    detail = dispatcher.locator("#detail")
    expect(detail.get_by_role("heading", name=code, level=3)).to_be_visible()
    expect(detail.get_by_role("img", name="照片 1")).to_be_visible()
    dispatcher.keyboard.press("d")
    expect(dispatcher.locator("#f-department")).to_have_value(department)
    expect(dispatcher.locator("#f-send")).to_be_focused()
    dispatcher.keyboard.press("Enter")
    expect(dispatcher.get_by_role("status")).to_have_text("已完成：派遣")
    screenshot(dispatcher, "loop-2-desk-dispatched")

    # 3. The department's handler handles it on the desk, with a result photo.
    handler = _desk(new_context, live_server, f"handler-{department}")
    mine = handler.locator(f'#items .item[data-id="{case_id}"]')
    expect(mine).to_contain_text("待处置")
    mine.click()
    expect(handler.locator("#detail").get_by_role("heading", name=code, level=3)).to_be_visible()
    handler.keyboard.press("h")
    handler.get_by_label("处置结果照片").set_input_files(str(_jpeg(tmp_path / "done.jpg", "seagreen")))
    handler.get_by_label("说明", exact=True).fill("已清运完毕")
    handler.get_by_role("button", name="提交：处置完毕").click()
    expect(handler.get_by_role("status")).to_have_text("已完成：处置完毕")
    expect(handler.locator("#detail .case-head .badge")).to_have_text("核查中")
    screenshot(handler, "loop-3-desk-handled")

    # 4. The inspector checks it on the phone: both photos side by side, one more of the inspector's, passed.
    phone.reload()
    phone.get_by_role("link", name="我的任务").click()
    task = phone.locator("#m-tasks").get_by_role("button", name=re.compile(f"核查 · {code}"))
    expect(task).to_be_visible()
    task.click()
    expect(phone.locator("#m-photos-report img")).to_have_count(1)
    expect(phone.locator("#m-photos-result img")).to_have_count(1)
    phone.get_by_label(re.compile("我的照片")).set_input_files(_jpeg(tmp_path / "checked.jpg", "white"))
    phone.get_by_role("button", name="核查通过").click()
    expect(phone.locator("#m-tasks-message")).to_contain_text("核查结果已记录。")
    screenshot(phone, "loop-4-phone-checked")

    actions = [a for (a,) in _rows(app, "SELECT action FROM case_events WHERE case_id = :id ORDER BY id", id=case_id)]
    assert actions[-4:] == ["dispatch", "handle", "request_check", "check"], actions
    ((passed, all_photos),) = _rows(
        app,
        "SELECT check_passed, (SELECT count(*) FROM attachments WHERE case_id = :id) FROM cases WHERE id = :id",
        id=case_id,
    )
    assert (passed, all_photos) == (True, 3)

    # 5. The big screen colours the cell by case density, with the value the database gives.
    ((reported,),) = _rows(
        app,
        "SELECT count(*) FROM cases WHERE cell_code = :cell AND reported_at > now() - interval '29 days'",
        cell=cell,
    )
    screen = new_context(**BIG_SCREEN).new_page()
    sign_in(screen, live_server, "supervisor", "/dashboard/?indicator=density")
    wait_until(
        screen, "() => { const s = window.citymgmtDashboard; return s && s.refreshes >= 1 && s.loaded.cells >= 1; }"
    )
    screen.evaluate("(code) => window.citymgmtDashboard.focusCell(code)", cell)  # past district zoom: the cells
    wait_until(
        screen,
        "(code) => { const s = window.citymgmtDashboard;"
        " return s.level === 'cell' && s.cellValue(code) !== undefined; }",
        cell,
    )
    shown = screen.evaluate(
        "(code) => { const s = window.citymgmtDashboard;"
        " return {style: s.cellStyle(code), value: s.cellValue(code), empty: s.emptyColor}; }",
        cell,
    )
    assert shown["value"] == round(reported / (area_m2 / 1e6), 2), (shown, reported, area_m2)
    assert shown["style"]["fillColor"] != shown["empty"], shown
    screenshot(screen, "loop-5-dashboard")
