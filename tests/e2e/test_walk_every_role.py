"""Every role of README's table does its work through the pages only, in Chromium, on the demo city:

the inspector reports a problem from the phone (/m/) and follows it in "my reports"; the operator enters a hotline
call with the desk's new-case form, found by address, and sends it for verification; the inspector verifies it on
the phone; the shift leader files it on the desk; the dispatcher dispatches it; the supervisor opens it from
/supervise/ and escalates it (督办) with a note; the department's handler replies to the escalation and handles the
case with a result photo; the inspector checks it on the phone; the shift leader closes it and the operator records
the call-back (回访); the supervisor reads the reply and the call-back; the shift leader opens the big screen; the admin
lands on the console after signing in, adds a department, sets a holiday, adds a rule for the department and sees it
explained, then retires the rule (and reads the page of links). No request is made by hand: the database is only
read, for the ids the pages show as codes. Every page fails the test on a console error, an uncaught exception, a
failed request or an answer of 400 or more.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import text

from citymgmt.core.db import db
from citymgmt.demo import DEMO_INSPECTOR_BEAT, DEMO_PASSWORD
from tests.e2e.conftest import DESK, screenshot, sign_in, wait_until, watch_problems
from tests.e2e.test_desk import jpeg as jpeg_bytes
from tests.e2e.test_mobile import choose_category, jpeg, phone

pytestmark = pytest.mark.e2e

# 其他事件 without a keyword a rule knows: the demo rules suggest the street office, the dispatcher dispatches.
CATEGORY = "E0601"
BIG_SCREEN = {"viewport": {"width": 1920, "height": 1080}}


def _rows(app: Flask, sql: str, **params: Any) -> list[Any]:
    with app.app_context():
        rows = list(db.session().execute(text(sql), params).all())
        db.session.remove()
    return rows


def test_every_role_does_its_work_in_the_pages(
    app: Flask, live_server: str, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    # Two cells of the inspector's beat that the other browser tests leave alone, with their door numbers.
    (report_cell, lon, lat, _), (call_cell, _, _, address) = _rows(
        app,
        "SELECT c.code, round(ST_X(a.point)::numeric, 6)::float8, round(ST_Y(a.point)::numeric, 6)::float8,"
        " a.address FROM grid_cells c JOIN addresses a ON a.cell_code = c.code"
        " WHERE c.code LIKE :beat AND c.retired_at IS NULL ORDER BY c.code DESC OFFSET 3 LIMIT 4",
        beat=DEMO_INSPECTOR_BEAT + "%",
    )[::3]
    problems: dict[str, list[str]] = {}

    def open_page(name: str, user: str, path: str, **options: Any) -> Page:
        page = new_context(**options).new_page()
        problems[name] = watch_problems(page)
        sign_in(page, live_server, user, path)
        return page

    def desk(name: str, user: str) -> Page:
        page = open_page(name, user, "/desk/", **DESK)
        expect(page.locator("#count")).to_have_text(re.compile(r"^(共 \d+ 件|暂无案件。)$"))
        return page

    def act(page: Page, case_id: int, action: str, key: str, done: str) -> None:
        """Open the case from the list and do the action by its key, sending the form as it comes."""
        page.locator(f'#items .item[data-id="{case_id}"]').click()
        expect(page.locator(f'#detail .actions button[data-action="{action}"]')).to_be_visible()
        page.keyboard.press(key)
        page.locator("#f-send").click()
        expect(page.get_by_role("status")).to_have_text(f"已完成：{done}")

    # 1. The inspector reports from the phone, at the (mocked) GPS position.
    inspector = phone(new_context, (lon, lat, report_cell))
    problems["phone"] = watch_problems(inspector)
    sign_in(inspector, live_server, "inspector", "/m/")
    expect(inspector.locator("#m-cell")).to_contain_text(f"网格 {report_cell}")
    choose_category(inspector, CATEGORY)
    inspector.get_by_label(re.compile("拍照或选择照片")).set_input_files(jpeg(tmp_path / "scene.jpg", (800, 600)))
    expect(inspector.locator("#m-previews img")).to_have_count(1)
    inspector.get_by_label("问题描述").fill(f"巡查发现：路边废弃家具 {uuid.uuid4().hex[:8]}")
    inspector.get_by_role("button", name="发送", exact=True).click()
    expect(inspector.locator("#m-result")).to_contain_text("已发送：案件")
    report_code = re.search(r"\d{13,}", inspector.locator("#m-result").inner_text())
    assert report_code is not None

    # 2. The operator enters a hotline call at the desk, the place found by its door number, and asks for it to be
    # verified on site.
    operator = desk("operator", "operator")
    operator.get_by_role("button", name="新建案件").click()
    form = operator.get_by_role("dialog", name="新建案件")
    form.get_by_label("工单号").fill(f"12345-{uuid.uuid4().hex[:12]}")
    form.get_by_label("诉求类型").select_option(label="投诉")
    form.get_by_label("来电人姓名").fill("李先生")
    form.get_by_label("来电人电话").fill("138 0000 5678")
    form.get_by_label("类别").fill(f"其他事件 ({CATEGORY})")
    form.get_by_label("描述").fill("市民来电：胡同里有废弃自行车")
    form.get_by_label("照片").set_input_files(
        [{"name": "call.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes("#8e44ad")}]
    )
    form.get_by_label("地址", exact=True).press_sequentially(address[3:])
    form.get_by_role("option", name=address, exact=True).click()
    expect(form.locator("#intake-place")).to_have_text(f"网格 {call_cell}")
    expect(form.locator("#intake-duplicates")).to_have_text(re.compile("附近没有该类别的未结案件|疑似重复"))
    form.get_by_role("button", name="创建案件").click()
    expect(operator.get_by_role("status")).to_have_text(re.compile(r"^已创建案件 \d{13,}。$"))
    found = re.search(r"\d{13,}", operator.get_by_role("status").inner_text())
    assert found is not None
    code = found.group(0)
    ((case_id,),) = _rows(app, "SELECT id FROM cases WHERE code = :code", code=code)
    expect(operator.locator("#detail").get_by_role("heading", name=code, level=3)).to_be_visible()
    operator.locator('#detail button[data-action="request_verification"]').click()
    operator.locator("#f-send").click()
    expect(operator.get_by_role("status")).to_have_text("已完成：发起核实")
    screenshot(operator, "walk-desk-operator-verification")

    # 3. The inspector verifies it on the phone.
    inspector.get_by_role("link", name="我的任务").click()
    inspector.locator("#m-tasks").get_by_role("button", name=re.compile(f"核实 · {code}")).click()
    expect(inspector.get_by_role("heading", name=code)).to_be_visible()
    screenshot(inspector, "walk-phone-verify")
    inspector.get_by_role("button", name="属实：问题存在").click()
    expect(inspector.locator("#m-tasks-message")).to_contain_text("核实结果已记录。")

    # 4. The shift leader files it.
    leader = desk("leader", "leader")
    act(leader, case_id, "file", "f", "立案")
    expect(leader.locator("#detail .case-head .badge")).to_have_text("已立案")

    # 5. The dispatcher dispatches it to the rule's suggestion.
    dispatcher = desk("dispatcher", "dispatcher")
    act(dispatcher, case_id, "dispatch", "d", "派遣")
    ((department,),) = _rows(app, "SELECT department_code FROM cases WHERE id = :id", id=case_id)
    assert department and department.startswith("street-"), department

    # 6. The supervisor opens it from the newest reports on /supervise/ and escalates it (督办) with a note.
    supervisor = open_page("supervise", "supervisor", "/supervise/", **DESK)
    supervisor.locator("#list-newest").get_by_role("link", name=code).click()
    expect(supervisor.get_by_role("heading", name=f"案件 {code}")).to_be_visible()
    supervisor.get_by_label("给部门的说明").fill("请今天内处理")
    supervisor.get_by_role("button", name="督办").click()
    expect(supervisor.get_by_role("status")).to_have_text("已督办：部门须答复。")
    expect(supervisor.locator("#case-status")).to_contain_text("已督办")
    screenshot(supervisor, "walk-supervise-escalated")

    # 7. The department's handler replies to the escalation, then handles the case with a result photo.
    handler = desk("handler", f"handler-{department}")
    handler.locator(f'#items .item[data-id="{case_id}"]').click()
    expect(handler.locator('#detail .actions button[data-action="reply"]')).to_be_visible()
    handler.keyboard.press("y")
    handler.locator("#f-note").fill("已安排人员今天处理")
    handler.locator("#f-send").click()
    expect(handler.get_by_role("status")).to_have_text("已完成：回复")
    expect(handler.locator('#detail .actions button[data-action="handle"]')).to_be_visible()
    handler.keyboard.press("h")
    handler.get_by_label("处置结果照片").set_input_files(
        [{"name": "done.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes("#27ae60")}]
    )
    handler.get_by_label("说明", exact=True).fill("已移走废弃自行车")
    handler.get_by_role("button", name="提交：处置完毕").click()
    expect(handler.get_by_role("status")).to_have_text("已完成：处置完毕")
    expect(handler.locator("#detail .case-head .badge")).to_have_text("核查中")

    # 8. The inspector checks it on the phone, with a photo of their own.
    inspector.reload()
    inspector.get_by_role("link", name="我的任务").click()
    inspector.locator("#m-tasks").get_by_role("button", name=re.compile(f"核查 · {code}")).click()
    expect(inspector.locator("#m-photos-result img")).to_have_count(1)
    inspector.get_by_label(re.compile("我的照片")).set_input_files(jpeg(tmp_path / "checked.jpg", (600, 800), "white"))
    inspector.get_by_role("button", name="核查通过").click()
    expect(inspector.locator("#m-tasks-message")).to_contain_text("核查结果已记录。")
    screenshot(inspector, "walk-phone-checked")
    # and follows the own report in "my reports": filed, waiting for the dispatcher.
    ((report_id,),) = _rows(app, "SELECT id FROM cases WHERE code = :code", code=report_code.group(0))
    inspector.get_by_role("link", name="我的上报").click()
    expect(inspector.locator(f'#m-reports li[data-case="{report_id}"]')).to_contain_text("已立案")

    # 9. The shift leader closes it; the operator calls the caller back and records the answer.
    leader.keyboard.press("u")
    act(leader, case_id, "close", "c", "结案")
    expect(leader.locator("#detail .case-head .badge")).to_have_text("已结案")
    screenshot(leader, "walk-desk-leader-closed")
    operator.keyboard.press("u")
    operator.locator(f'#items .item[data-id="{case_id}"]').click()
    expect(operator.locator("#detail").get_by_role("heading", name=code, level=3)).to_be_visible()
    operator.locator('#detail button[data-action="callback"]').click()
    operator.locator("#action-form").get_by_label("说明").fill("来电人表示已处理，满意")
    operator.locator("#action-form").get_by_role("button", name="满意", exact=True).click()
    expect(operator.get_by_role("status")).to_have_text("已完成：回访")
    expect(operator.locator('#detail button[data-action="callback"]')).to_have_count(0)
    actions = [
        a
        for (a,) in _rows(
            app, "SELECT action FROM case_events WHERE case_id = :id AND action <> 'route' ORDER BY id", id=case_id
        )
    ]
    assert actions == [
        "report",
        "request_verification",
        "verify",
        "file",
        "dispatch",
        "escalate",
        "reply",
        "handle",
        "request_check",
        "check",
        "close",
        "callback",
    ], actions

    # 10. The supervisor reads it again: the department's reply and the call-back in its history, nothing to escalate.
    supervisor.get_by_role("link", name="监督", exact=True).click()
    supervisor.locator("#list-newest").get_by_role("link", name=code).click()
    expect(supervisor.locator(".sv-history")).to_contain_text("已安排人员今天处理")
    expect(supervisor.locator(".sv-history")).to_contain_text("来电人表示已处理，满意")
    expect(supervisor.get_by_role("button", name="督办")).to_have_count(0)

    # 11. The shift leader opens the big screen: today's two reports are in its figures.
    screen = open_page("dashboard", "leader", "/dashboard/", **BIG_SCREEN)
    wait_until(screen, "() => window.citymgmtDashboard && window.citymgmtDashboard.refreshes >= 1")
    assert screen.evaluate("() => window.citymgmtDashboard.headline.reported") >= 2
    screenshot(screen, "walk-dashboard-leader")

    # 12. The admin, signing in with no page to return to, lands on the console (管理) and does the admin's work there:
    # a new department, a holiday, a rule for it, and the rule seen at work in an explanation.
    admin = new_context(**DESK).new_page()
    problems["admin"] = watch_problems(admin)
    admin.goto(f"{live_server}/login")
    admin.get_by_label("用户名").fill("admin")
    admin.get_by_label("密码").fill(DEMO_PASSWORD)
    admin.get_by_role("button", name="登录").click()
    expect(admin).to_have_url(f"{live_server}/admin/")
    department = f"walk-{uuid.uuid4().hex[:6]}"
    admin.get_by_role("link", name="部门", exact=True).first.click()
    admin.get_by_text("新建部门").click()
    form = admin.locator("#department-new")
    form.get_by_label("代码").fill(department)
    form.get_by_role("textbox", name="名称", exact=True).fill("巡查测试养护所")
    form.get_by_label("类型").select_option("roads")
    form.get_by_role("button", name="创建部门").click()
    expect(admin.get_by_role("status")).to_have_text(f"已创建部门 {department}。")

    admin.get_by_role("link", name="工作日历").first.click()
    admin.goto(f"{live_server}/admin/calendar?month=2094-05")
    admin.get_by_role("link", name="2094-05-05").click()
    admin.get_by_label("休息日").check()
    admin.get_by_label("说明").fill("巡查测试假日")
    admin.get_by_role("button", name="设置", exact=True).click()
    expect(admin.get_by_role("status")).to_have_text("2094-05-05 已设为休息日。")
    expect(admin.locator("#day-2094-05-05")).to_have_attribute("data-workday", "no")

    word = f"巡{uuid.uuid4().hex[:6]}"
    admin.get_by_role("link", name="派遣规则").first.click()
    rules = admin.get_by_label("规则", exact=True)
    demo_rules = rules.input_value()
    rule = (
        f"- {{code: {department}, name: 巡查测试规则, priority: 6,"
        f" when: {{category: {CATEGORY}, keywords: [{word}]}}, then: {{department: {department}}}}}"
    )
    rules.fill(rules.input_value().replace("rules:\n", f"rules:\n{rule}\n", 1))
    admin.get_by_role("button", name="保存规则").click()
    expect(admin.get_by_role("status")).to_contain_text("规则已保存：新增 1 条")
    admin.get_by_role("link", name="解释派遣").click()
    admin.get_by_label("类别代码").fill(CATEGORY)
    admin.get_by_label("地址").fill(address)
    admin.get_by_label("描述").fill(f"路边{word}")
    admin.get_by_role("button", name="解释", exact=True).click()
    expect(admin.locator("#explain-rule")).to_have_text(department)
    expect(admin.locator("#explain-department")).to_contain_text("巡查测试养护所")
    screenshot(admin, "walk-admin-explained")
    admin.get_by_role("link", name="派遣规则").first.click()  # the walk's rule retired again: the demo book as it was
    admin.get_by_label("规则", exact=True).fill(demo_rules)
    admin.get_by_role("button", name="保存规则").click()
    expect(admin.get_by_role("status")).to_contain_text("停用 1 条")
    admin.goto(f"{live_server}/")  # the page of links to what the role can use
    expect(admin.get_by_role("heading", level=1)).to_contain_text("您好")
    expect(admin.get_by_role("link", name="管理", exact=True)).to_be_visible()
    expect(admin.get_by_role("link", name="监督指挥大屏")).to_be_visible()

    assert {name: found for name, found in problems.items() if found} == {}
