"""The admin's console in Chromium (/admin/): one test per section, each through the pages only, every page watched
for console errors, uncaught exceptions and failed requests. A refused form answers 422 with the form and the
refusal named by field: those answers, and only those, are expected among the page's problems.

What the tests change stays out of the other tests' way: new departments and accounts with codes of their own, a
rule that only a word of its own sets off, calendar days in the 2090s.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import DESK, screenshot, sign_in, watch_problems

pytestmark = pytest.mark.e2e


def _admin(new_context: Callable[..., BrowserContext], live_server: str, path: str) -> tuple[Page, list[str]]:
    page = new_context(**DESK).new_page()
    problems = watch_problems(page)
    sign_in(page, live_server, "admin", path)
    return page, problems


def _refused(problems: list[str], path: str) -> list[str]:
    """The page's problems less the expected 422 answers to refused forms posted to `path` (and the console's note of
    them, which Chromium writes for a document answered with an error status)."""
    return [
        p
        for p in problems
        if not p.startswith("422 ") or not p.split(" ", 1)[1].split("?")[0].endswith(path)
        if not ("status of 422" in p and p.startswith("console error"))
    ]


def test_an_admin_creates_changes_and_retires_a_department(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    page, problems = _admin(new_context, live_server, "/admin/")
    expect(page.get_by_role("heading", name="管理", level=1)).to_be_visible()
    page.get_by_role("link", name="部门", exact=True).first.click()
    expect(page.locator("#departments")).to_contain_text("bj-water")
    code = f"t-{uuid.uuid4().hex[:8]}"

    page.get_by_text("新建部门").click()
    form = page.locator("#department-new")
    form.get_by_label("代码").fill(code)
    form.get_by_role("textbox", name="名称", exact=True).fill("测试市容所")
    form.get_by_label("类型").select_option("sanitation")
    form.get_by_label("区", exact=True).fill("999999")  # no such district: refused, the field named
    form.get_by_role("button", name="创建部门").click()
    expect(page.get_by_role("alert")).to_contain_text("未保存")
    expect(page.locator("#p-district")).to_contain_text("须为现行区的 6 位行政区划代码")  # the refusal in Chinese
    page.locator("#department-new").get_by_label("区", exact=True).fill("110101")
    page.locator("#department-new").get_by_role("button", name="创建部门").click()
    expect(page.get_by_role("status")).to_have_text(f"已创建部门 {code}。")
    expect(page.locator(f"#d-{code}")).to_contain_text("测试市容所")

    page.locator(f"#d-{code}").get_by_role("link", name=code).click()
    expect(page.get_by_role("heading", name=f"部门 {code}")).to_be_visible()
    page.get_by_label("电话").fill("010-6500 1234")
    page.get_by_label("上级部门").select_option("110101-sanitation")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"已保存部门 {code}。")
    expect(page.locator(f"#d-{code}")).to_contain_text("010-6500 1234")
    expect(page.locator(f"#d-{code}")).to_contain_text("110101-sanitation")

    page.locator(f"#d-{code}").get_by_role("link", name=code).click()
    page.get_by_label(f"确认停用 {code}").check()
    page.get_by_role("button", name="停用该部门").click()
    expect(page.get_by_role("status")).to_contain_text(f"已停用部门 {code}")
    expect(page.locator(f"#d-{code}")).to_have_class("ad-retired")
    expect(page.locator(f"#d-{code}")).to_contain_text("已停用")
    screenshot(page, "admin-departments")
    assert _refused(problems, "/admin/departments") == []


def test_an_admin_sets_a_holiday_on_the_calendar_and_clears_it(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    page, problems = _admin(new_context, live_server, "/admin/calendar?month=2026-10")
    # China's National Day holiday and its make-up Saturday, as chinese-calendar has them.
    expect(page.locator("#day-2026-10-01")).to_have_attribute("data-workday", "no")
    expect(page.locator("#day-2026-10-01")).to_contain_text("休息日")
    expect(page.locator("#day-2026-10-10")).to_have_attribute("data-workday", "yes")
    page.get_by_role("link", name="下个月").click()
    expect(page.locator("#h-month")).to_have_text("2026-11")

    page.goto(f"{live_server}/admin/calendar?month=2093-03")
    page.get_by_role("link", name="2093-03-04").click()  # a Wednesday: the form takes the day
    expect(page.get_by_label("日期")).to_have_value("2093-03-04")
    page.get_by_role("button", name="设置", exact=True).click()  # nothing chosen: refused, the field named
    expect(page.locator("#p-workday")).to_have_text("请选择工作日或休息日。")
    page.get_by_label("休息日").check()
    page.get_by_label("说明").fill("测试停工日")
    page.get_by_role("button", name="设置", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("2093-03-04 已设为休息日。")
    day = page.locator("#day-2093-03-04")
    expect(day).to_have_attribute("data-workday", "no")
    expect(day).to_contain_text("测试停工日")
    screenshot(page, "admin-calendar")
    day.get_by_role("button", name="清除 2093-03-04 的设置").click()
    expect(page.get_by_role("status")).to_have_text("已清除 2093-03-04 的设置。")
    expect(page.locator("#day-2093-03-04")).to_have_attribute("data-workday", "yes")
    assert _refused(problems, "/admin/calendar") == []


def _add_rule(page: Page, rule: str) -> None:
    """Put a rule at the head of the YAML's list of rules (after its `rules:` line), as an admin would type it."""
    source = page.get_by_label("规则", exact=True)
    text = source.input_value()
    assert "rules:\n" in text
    source.fill(text.replace("rules:\n", f"rules:\n{rule}\n", 1))


def test_an_admin_edits_the_rules_sees_the_errors_by_line_and_explains_a_report(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    page, problems = _admin(new_context, live_server, "/admin/rules")
    revision = re.search(r"修订版 (\d+)", page.locator("#h-book").inner_text())
    assert revision
    expect(page.locator("#rule-e-sanitation")).to_contain_text("派往属地的 sanitation 部门")
    word = f"测{uuid.uuid4().hex[:6]}"
    code = f"t-{uuid.uuid4().hex[:8]}"
    original = page.get_by_label("规则", exact=True).input_value()
    _add_rule(
        page,
        f"- {{code: {code}, name: 测试规则, priority: 5, when: {{category: E0601, keywords: [{word}]}},"
        " then: {department: no-such-department}}",
    )
    page.get_by_role("button", name="保存规则").click()
    problem = page.locator("#rule-problems li")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("rules.0.then.department")
    typed = page.get_by_label("规则", exact=True).input_value().splitlines()
    line = next(i for i, t in enumerate(typed, 1) if code in t)
    expect(problem).to_contain_text(f"第 {line} 行")
    source = page.get_by_label("规则", exact=True)
    source.fill(source.input_value().replace("no-such-department", "bj-water"))
    page.get_by_role("button", name="保存规则").click()
    expect(page.get_by_role("status")).to_contain_text("规则已保存：新增 1 条")
    expect(page.locator(f"#rule-{code}")).to_contain_text("测试规则")
    after = re.search(r"修订版 (\d+)", page.locator("#h-book").inner_text())
    assert after and int(after[1]) > int(revision[1])

    page.get_by_role("link", name="解释派遣").click()
    page.get_by_label("类别代码").fill("E0601")
    page.get_by_label("经度").fill("116.3906")
    page.get_by_label("纬度").fill("39.9158")
    page.get_by_label("描述").fill(f"路边{word}")
    page.get_by_role("button", name="解释", exact=True).click()
    expect(page.locator("#explain-rule")).to_have_text(code)
    expect(page.locator("#explain-department")).to_contain_text("bj-water")
    expect(page.locator(f'.ad-considered li[data-rule="{code}"]')).to_contain_text(f"问题描述含有 {word}")
    screenshot(page, "admin-rules-explained")

    page.get_by_role("link", name="派遣规则").first.click()  # the book as it was: the test's rule retired again
    page.get_by_label("规则", exact=True).fill(original)
    page.get_by_role("button", name="保存规则").click()
    expect(page.get_by_role("status")).to_contain_text("停用 1 条")
    assert _refused(problems, "/admin/rules") == []


def test_an_admin_creates_an_account_resets_its_password_deactivates_it_and_manages_notifications(
    live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    page, problems = _admin(new_context, live_server, "/admin/accounts")
    username = f"t-{uuid.uuid4().hex[:8]}"
    page.get_by_text("新建账号").click()
    form = page.locator("#account-new")
    form.get_by_label("用户名").fill(username)
    form.get_by_label("显示名称").fill("测试受理员")
    form.get_by_label("受理员").check()
    form.get_by_role("button", name="创建账号").click()
    expect(page.locator("#account-created")).to_contain_text(f"已创建账号 {username}。")
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 12

    # The new account signs in with the password shown once.
    other = new_context(**DESK).new_page()
    problems_other = watch_problems(other)
    other.goto(f"{live_server}/login")
    other.get_by_label("用户名").fill(username)
    other.get_by_label("密码").fill(password)
    other.get_by_role("button", name="登录").click()
    expect(other).to_have_url(f"{live_server}/desk/")

    page.get_by_label("按用户名、姓名或部门查找").fill(username)
    page.get_by_role("button", name="查找").click()
    row = page.locator(f"#u-{username}")
    row.get_by_role("button", name=f"为 {username} 重设密码").click()
    expect(page.locator("#password-reset")).to_contain_text(f"{username} 的新密码")
    assert page.locator("#new-password").inner_text() != password
    other.goto(f"{live_server}/desk/")  # signed out at once by the new password
    expect(other).to_have_url(re.compile(re.escape(f"{live_server}/login")))

    page.goto(f"{live_server}/admin/accounts?q={username}")
    page.locator(f"#u-{username}").get_by_role("button", name=f"停用 {username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{username} 已停用")
    expect(page.locator(f"#u-{username}")).to_have_class("ad-retired")
    screenshot(page, "admin-accounts")

    page.get_by_role("link", name="通知", exact=True).first.click()
    expect(page.get_by_role("heading", name="通知", level=1)).to_be_visible()
    expect(page.locator("#failures")).to_contain_text(re.compile("无：所有通知均已送达。|尝试次数"))
    address = f"{username}@example.org"
    page.get_by_text("新建通知渠道").click()
    form = page.locator("#channel-new")
    form.get_by_label("部门").select_option("bj-water")
    form.get_by_label("地址").fill("not an address")  # refused, the field named
    form.get_by_role("button", name="添加渠道").click()
    expect(page.get_by_role("alert")).to_contain_text("未保存")
    expect(page.locator("#p-target")).to_be_visible()
    page.locator("#channel-new").get_by_label("地址").fill(address)
    page.locator("#channel-new").get_by_role("button", name="添加渠道").click()
    expect(page.get_by_role("status")).to_contain_text("已添加通知渠道")
    row = page.locator("#channels tr", has_text=address)
    expect(row).to_contain_text("bj-water")
    row.get_by_role("button", name=re.compile("停用通知渠道")).click()
    expect(page.get_by_role("status")).to_contain_text("已停用通知渠道")
    expect(page.locator("#channels tr", has_text=address)).to_have_class("ad-retired")
    assert _refused(problems, "/admin/notifications/channels") == []
    assert [p for p in problems_other if "/desk/" not in p and "/api/" not in p] == []
