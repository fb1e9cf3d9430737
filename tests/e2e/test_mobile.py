"""The inspector app (/m/) in Chromium on a phone-sized screen, with the phone's position mocked inside the demo
inspector's beat: a report with a photo, a report made offline that sends itself once back online, a check done in
the app. Screenshots of every screen go to var/screenshots/m-*.png.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import text

from citymgmt.core.db import db
from citymgmt.demo import DEMO_INSPECTOR_BEAT, DEMO_PASSWORD
from grids.crs import wgs84_to_gcj02
from tests.e2e.conftest import PHONE, screenshot, sign_in, wait_until, watch_problems

pytestmark = pytest.mark.e2e

FORBIDDEN_CITY = (116.397, 39.918)


@pytest.fixture(scope="module")
def beat_point(app: Flask, beijing: None) -> tuple[float, float, str]:
    """A point inside a cell of the demo inspector's beat, the nearest such cell to the Forbidden City."""
    with app.app_context():
        code, lon, lat = (
            db.session()
            .execute(
                text(
                    "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid_cells"
                    " WHERE code LIKE :beat AND retired_at IS NULL"
                    " ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1"
                ),
                {"beat": DEMO_INSPECTOR_BEAT + "%", "lon": FORBIDDEN_CITY[0], "lat": FORBIDDEN_CITY[1]},
            )
            .one()
        )
        db.session.remove()
    return round(lon, 6), round(lat, 6), code


@pytest.fixture
def query(app: Flask) -> Iterator[Callable[..., list[Any]]]:
    """Rows from the database the live server writes to (what was committed)."""

    def run(sql: str, **params: Any) -> list[Any]:
        with app.app_context():
            rows = list(db.session().execute(text(sql), params).all())
            db.session.remove()
        return rows

    yield run


def jpeg(path: Path, size: tuple[int, int] = (2400, 1800), colour: str = "olive") -> Path:
    Image.new("RGB", size, colour).save(path, "JPEG", quality=80)
    return path


def phone(new_context: Callable[..., BrowserContext], point: tuple[float, float, str]) -> Page:
    context = new_context(
        **PHONE,
        geolocation={"longitude": point[0], "latitude": point[1], "accuracy": 12},
        permissions=["geolocation"],
    )
    return context.new_page()


def choose_category(page: Page, code: str) -> None:
    page.get_by_role("button", name="下一步：选择类别").click()
    page.get_by_label("按名称或编码搜索").fill(code)
    page.locator("#m-categories, #m-recent").get_by_role("button", name=re.compile(code)).first.click()


def test_an_inspector_reports_a_case_with_a_photo(  # type: ignore[no-untyped-def]
    live_server: str, new_context, beat_point, query, tmp_path: Path
) -> None:
    lon, lat, cell = beat_point
    page = phone(new_context, beat_point)
    sign_in(page, live_server, "inspector", "/m/")

    expect(page.locator("#m-accuracy")).to_have_text("±12 米")
    expect(page.locator("#m-cell")).to_contain_text(f"网格 {cell}")
    wait_until(page, "document.querySelectorAll('#m-map .leaflet-overlay-pane path').length > 10")  # outlines
    screenshot(page, "m-place")

    page.get_by_role("button", name="下一步：选择类别").click()
    page.get_by_label("按名称或编码搜索").fill("暴露")
    expect(page.locator("#m-categories").get_by_role("button")).to_have_count(1)
    screenshot(page, "m-category")
    page.get_by_role("button", name=re.compile("暴露垃圾")).click()

    expect(page.locator("#m-chosen-category")).to_have_text("类别：暴露垃圾（E0102）")
    page.get_by_label(re.compile("拍照或选择照片")).set_input_files(jpeg(tmp_path / "street.jpg"))
    expect(page.locator("#m-previews img")).to_have_count(1)
    description = f"路边暴露垃圾 {uuid.uuid4().hex[:8]}"
    page.get_by_label("问题描述").fill(description)
    screenshot(page, "m-details")
    page.get_by_role("button", name="发送", exact=True).click()

    expect(page.locator("#m-result")).to_contain_text(f"网格 {cell}")
    expect(page.locator("#m-result")).to_contain_text("已发送：案件")
    screenshot(page, "m-sent")

    rows = query(
        "SELECT c.cell_code, c.category_code, c.source, c.idempotency_key, a.width, a.height,"
        " ST_X(c.point), ST_Y(c.point) FROM cases c JOIN attachments a ON a.case_id = c.id"
        " WHERE c.description = :d",
        d=description,
    )
    assert len(rows) == 1
    got_cell, category, source, key, width, height, x, y = rows[0]
    assert (got_cell, category, source) == (cell, "E0102", "inspector")
    assert key and (width, height) == (1600, 1200)  # resized on the phone, longest side 1600
    assert abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6

    # The category just used comes first next time.
    page.get_by_role("button", name="继续上报").click()
    page.get_by_role("button", name="下一步：选择类别").click()
    expect(page.locator("#m-recent").get_by_role("button").first).to_contain_text("E0102")


def test_a_phone_that_says_online_but_reaches_no_server_shows_offline_and_sends_later(  # type: ignore[no-untyped-def]
    live_server: str, new_context, beat_point, query
) -> None:
    """A weak signal: the browser says online (navigator.onLine stays true) but no request reaches the server. The
    app judges by its own requests: the badge shows, the report waits, and both clear once the server answers."""
    page = phone(new_context, beat_point)
    sign_in(page, live_server, "inspector", "/m/")
    expect(page.locator("#m-cell")).to_contain_text(beat_point[2])
    expect(page.locator("#m-offline")).to_be_hidden()
    wait_until(page, "localStorage.getItem('citymgmt.m.categories') !== null")

    page.route(re.compile(r"/(api/v1|m/token)"), lambda route: route.abort("internetdisconnected"))
    choose_category(page, "E0104")
    description = f"道路不洁（弱信号）{uuid.uuid4().hex[:8]}"
    page.get_by_label("问题描述").fill(description)
    page.get_by_role("button", name="发送", exact=True).click()
    expect(page.locator("#m-result")).to_have_text("无网络：上报已保存在手机上，恢复联网后自动发送。")
    expect(page.locator("#m-offline")).to_be_visible()
    expect(page.locator("#m-pending")).to_have_text("待发送：1")
    assert page.evaluate("navigator.onLine") is True  # what the badge must not follow
    assert query("SELECT count(*) FROM cases WHERE description = :d", d=description) == [(0,)]

    page.unroute_all()  # the signal comes back; no browser event says so
    expect(page.locator("#m-pending")).to_be_hidden()
    expect(page.locator("#m-offline")).to_be_hidden()
    assert query("SELECT count(*) FROM cases WHERE description = :d", d=description) == [(1,)]


def test_a_report_made_offline_sends_itself_once_online_without_a_duplicate(  # type: ignore[no-untyped-def]
    live_server: str, new_context, beat_point, query, tmp_path: Path
) -> None:
    page = phone(new_context, beat_point)
    sign_in(page, live_server, "inspector", "/m/")
    expect(page.locator("#m-cell")).to_contain_text(beat_point[2])
    # The service worker has kept the shell, and the categories are kept for offline use.
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    wait_until(page, "localStorage.getItem('citymgmt.m.categories') !== null")

    page.context.set_offline(True)
    page.reload()  # the app opens with no network, from the service worker's cache
    expect(page.locator("#m-offline")).to_be_visible()
    expect(page.locator("#m-cell")).to_have_text("离线：发送时再匹配网格。")
    choose_category(page, "E0104")
    page.get_by_label(re.compile("拍照或选择照片")).set_input_files(jpeg(tmp_path / "road.jpg", (800, 600), "grey"))
    expect(page.locator("#m-previews img")).to_have_count(1)
    description = f"道路不洁（离线）{uuid.uuid4().hex[:8]}"
    page.get_by_label("问题描述").fill(description)
    page.get_by_role("button", name="发送", exact=True).click()

    expect(page.locator("#m-result")).to_have_text("无网络：上报已保存在手机上，恢复联网后自动发送。")
    expect(page.locator("#m-pending")).to_have_text("待发送：1")
    screenshot(page, "m-offline-pending")
    keys = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('citymgmt-m', 1);
            open.onsuccess = () => {
                const all = open.result.transaction('reports').objectStore('reports').getAll();
                all.onsuccess = () => resolve(all.result.map((r) => [r.key, r.photos.length, r.status]));
            };
        })"""
    )
    assert len(keys) == 1 and keys[0][1:] == [1, "pending"]

    page.context.set_offline(False)
    expect(page.locator("#m-pending")).to_be_hidden()
    expect(page.locator("#m-offline")).to_be_hidden()
    rows = query(
        "SELECT c.idempotency_key, c.cell_code, count(a.id) FROM cases c LEFT JOIN attachments a ON a.case_id = c.id"
        " WHERE c.description = :d GROUP BY c.id",
        d=description,
    )
    assert rows == [(keys[0][0], beat_point[2], 1)]

    # A report the server refuses (outside every cell) is marked not accepted, with why, and not sent again.
    page.get_by_role("button", name="继续上报").click()
    page.context.set_geolocation({"longitude": 116.30, "latitude": 39.99, "accuracy": 20})  # Haidian: no cells
    expect(page.locator("#m-cell")).to_contain_text("outside")
    choose_category(page, "E0104")
    page.get_by_role("button", name="发送", exact=True).click()
    expect(page.locator("#m-result")).to_contain_text("未被受理：")
    expect(page.locator("#m-failed li")).to_have_count(1)
    expect(page.locator("#m-pending")).to_be_hidden()
    screenshot(page, "m-failed")
    page.locator("#m-failed").get_by_role("button", name="放弃").click()
    expect(page.locator("#m-failed li")).to_have_count(0)

    # Sending it again with the same key (as after a lost answer) makes no second case.
    status = page.evaluate(
        """async ([key, description, lon, lat]) => {
            const form = new FormData();
            form.append('category_code', 'E0104');
            form.append('lon', lon); form.append('lat', lat); form.append('description', description);
            const r = await citymgmt.api('POST', '/api/v1/cases', {form, headers: {'Idempotency-Key': key}});
            return r.status;
        }""",
        [keys[0][0], description, str(beat_point[0]), str(beat_point[1])],
    )
    assert status in (200, 201)
    assert query("SELECT count(*) FROM cases WHERE description = :d", d=description) == [(1,)]


def _api(client: FlaskClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _photo_upload(colour: str) -> tuple[io.BytesIO, str]:
    data = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(data, "JPEG")
    data.seek(0)
    return data, f"{colour}.jpg"


def test_the_inspector_passes_a_check_in_the_app(  # type: ignore[no-untyped-def]
    app: Flask, live_server: str, new_context, beat_point, query, tmp_path: Path
) -> None:
    # A case in the beat, reported, dispatched and handled with a result photo: awaiting the inspector's check.
    client = app.test_client()
    lon, lat, _ = beat_point
    description = f"待核查 {uuid.uuid4().hex[:8]}"
    reported = client.post(
        "/api/v1/cases",
        data={
            "category_code": "E0102",
            "lon": str(lon),
            "lat": str(lat),
            "description": description,
            "photos": _photo_upload("red"),
        },
        headers={**_api(client, "inspector"), "Idempotency-Key": uuid.uuid4().hex},
        content_type="multipart/form-data",
    )
    assert reported.status_code == 201, reported.get_json()
    case = reported.get_json()
    if case["status"] == "filed":
        dispatched = client.post(
            f"/api/v1/cases/{case['id']}/actions/dispatch",
            json={"department": "bj-water"},
            headers={**_api(client, "dispatcher"), "If-Match": str(case["version"])},
        )
        assert dispatched.status_code == 200, dispatched.get_json()
        case = dispatched.get_json()
    assert case["status"] == "dispatched"
    handled = client.post(
        f"/api/v1/cases/{case['id']}/actions/handle",
        data={"note": "已清理", "photos": _photo_upload("green")},
        headers={**_api(client, f"handler-{case['department_code']}"), "If-Match": str(case["version"])},
        content_type="multipart/form-data",
    )
    assert handled.status_code == 200, handled.get_json()
    assert handled.get_json()["status"] == "checking"

    page = phone(new_context, beat_point)
    sign_in(page, live_server, "inspector", "/m/")
    page.get_by_role("link", name="我的任务").click()
    task = page.locator("#m-tasks").get_by_role("button", name=re.compile(f"核查 · {case['code']}"))
    expect(task).to_be_visible()
    expect(task).to_contain_text("暴露垃圾")  # the category's name, not its code, and the time left, not a date
    expect(task).not_to_contain_text("E0102")
    expect(task.locator(".m-countdown")).to_have_text(re.compile(r"^(剩余|已超时) \d"))
    screenshot(page, "m-tasks")
    task.click()

    expect(page.get_by_role("heading", name=case["code"])).to_be_visible()
    expect(page.locator("#m-photos-report img")).to_have_count(1)
    expect(page.locator("#m-photos-result img")).to_have_count(1)
    href = page.get_by_role("link", name="导航前往").get_attribute("href")
    assert href is not None and href.startswith(f"geo:{lat}") and f",{lon}?q=" in href
    page.get_by_label(re.compile("我的照片")).set_input_files(jpeg(tmp_path / "checked.jpg", (900, 1200), "white"))
    expect(page.locator("#m-act-previews img")).to_have_count(1)
    screenshot(page, "m-task")
    page.get_by_role("button", name="核查通过").click()

    expect(page.locator("#m-tasks-message")).to_contain_text("核查结果已记录。")
    expect(page.locator("#m-tasks").get_by_role("button", name=re.compile(case["code"]))).to_have_count(0)
    rows = query(
        "SELECT c.status, c.check_passed, e.payload->>'result', (SELECT count(*) FROM attachments a"
        " WHERE a.event_id = e.id) FROM cases c JOIN case_events e ON e.case_id = c.id AND e.action = 'check'"
        " WHERE c.id = :id",
        id=case["id"],
    )
    assert rows == [("checking", True, "pass", 1)]  # checked: the case waits for the shift leader to close it

    # The inspector follows the report to its closing in "my reports".
    page.get_by_role("link", name="我的上报").click()
    mine = page.locator(f'#m-reports li[data-case="{case["id"]}"]')
    expect(mine).to_contain_text("核查中")
    expect(mine.locator(".m-countdown")).to_have_count(1)
    version = query("SELECT version FROM cases WHERE id = :id", id=case["id"])[0][0]
    closed = client.post(
        f"/api/v1/cases/{case['id']}/actions/close",
        json={},
        headers={**_api(client, "leader"), "If-Match": str(version)},
    )
    assert closed.status_code == 200, closed.get_json()
    page.get_by_role("link", name="我的任务").click()
    page.get_by_role("link", name="我的上报").click()
    expect(mine).to_have_attribute("data-status", "closed")
    expect(mine).to_contain_text("已结案")
    expect(mine.locator(".m-countdown")).to_have_count(0)
    screenshot(page, "m-reports")
    mine.get_by_role("button").click()  # its page: what became of it, nothing to do
    expect(page.locator("#m-task-state")).to_contain_text("已结案")
    expect(page.locator("#m-act")).to_be_hidden()
    screenshot(page, "m-report")
    page.get_by_role("link", name="我的任务").click()

    # A public report in the beat, sent for verification (核实): the inspector confirms it.
    operator = _api(client, "operator")
    public = client.post(
        "/api/v1/cases",
        json={
            "category_code": "E0102",
            "lon": lon,
            "lat": lat,
            "description": f"市民反映 {uuid.uuid4().hex[:8]}",
            "source": "public",
        },
        headers={**operator, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert public.status_code == 201, public.get_json()
    verifying = client.post(
        f"/api/v1/cases/{public.get_json()['id']}/actions/request_verification",
        json={},
        headers={**operator, "If-Match": str(public.get_json()["version"])},
    )
    assert verifying.status_code == 200 and verifying.get_json()["status"] == "verifying"
    code = verifying.get_json()["code"]
    page.reload()
    page.locator("#m-tasks").get_by_role("button", name=re.compile(f"核实 · {code}")).click()
    page.get_by_role("button", name="属实：问题存在").click()
    expect(page.locator("#m-tasks-message")).to_contain_text("核实结果已记录。")
    assert query("SELECT status, verified FROM cases WHERE code = :c", c=code) == [("reported", True)]


SMALL_PHONE = {**PHONE, "viewport": {"width": 360, "height": 640}}


def test_on_a_small_phone_unsent_reports_are_retried_with_backoff_and_sent_now(  # type: ignore[no-untyped-def]
    live_server: str, new_context, beat_point, query
) -> None:
    """Sign-in lands in the app; the main button is on the first screen at 360×640; the pin's cell is drawn
    stronger; a report refused with a 503 is tried again by itself (no `online` event), a 429 waits the Retry-After
    it gives, "send now" sends at once; then the inspector signs out."""
    context = new_context(
        **SMALL_PHONE,
        geolocation={"longitude": beat_point[0], "latitude": beat_point[1], "accuracy": 12},
        permissions=["geolocation"],
    )
    page = context.new_page()
    problems = watch_problems(page)
    page.goto(f"{live_server}/login")
    page.get_by_label("用户名").fill("inspector")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/m/")  # the inspector's own app, not a page of links
    expect(page.locator("#m-cell")).to_contain_text(beat_point[2])
    wait_until(page, "document.querySelectorAll('#m-map path[stroke=\"#b42318\"]').length === 1")  # the pin's cell
    button = page.get_by_role("button", name="下一步：选择类别").bounding_box()
    assert button is not None and button["y"] + button["height"] <= 640, button  # no scrolling to the main action
    screenshot(page, "m-place-360x640")
    assert problems == []

    answers = {"n": 0}

    def busy_then_through(route: Any) -> None:
        if route.request.method != "POST":
            return route.continue_()
        answers["n"] += 1
        if answers["n"] == 1:
            return route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "down"}})
        if answers["n"] == 2:
            return route.fulfill(
                status=429, headers={"Retry-After": "3600"}, json={"error": {"code": "too_many", "message": "slow"}}
            )
        return route.continue_()

    page.route(re.compile(r".*/api/v1/cases$"), busy_then_through)
    choose_category(page, "E0104")
    description = f"重试上报 {uuid.uuid4().hex[:8]}"
    page.get_by_label("问题描述").fill(description)
    page.get_by_role("button", name="发送", exact=True).click()
    expect(page.locator("#m-result")).to_have_attribute("data-outcome", "queued")
    expect(page.locator("#m-pending")).to_have_text("待发送：1")
    wait_until(page, "() => window.citymgmtMobile.retry.at > Date.now() + 3000 * 1000")  # the 429's hour, waited
    assert answers["n"] == 2  # the second try came by itself, after the 503
    expect(page.locator("#m-retry")).to_contain_text("后重试")
    screenshot(page, "m-retry")
    assert query("SELECT count(*) FROM cases WHERE description = :d", d=description) == [(0,)]

    page.get_by_role("button", name="立即发送").click()
    expect(page.locator("#m-pending-line")).to_be_hidden()
    assert answers["n"] == 3
    assert query("SELECT count(*) FROM cases WHERE description = :d", d=description) == [(1,)]

    page.get_by_role("link", name="我的上报").click()
    code = query("SELECT code FROM cases WHERE description = :d", d=description)[0][0]
    expect(page.locator("#m-reports").get_by_role("button", name=re.compile(code))).to_contain_text("道路不洁")
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(f"{live_server}/login")
    assert page.evaluate("fetch('/api/v1/auth/me').then(r => r.status)") == 401


def test_the_gcj02_shift_in_the_browser_matches_the_python_one(page: Page) -> None:
    page.add_script_tag(path=str(Path(__file__).resolve().parents[2] / "citymgmt/web/static/js/map.js"))
    points = [(116.397, 39.918), (121.4737, 31.2304), (113.2644, 23.1291), (2.35, 48.85), (87.6, 43.8)]
    shifted = page.evaluate("(points) => points.map(([x, y]) => citymgmt.map.wgs84ToGcj02(x, y))", points)
    for (x, y), (sx, sy) in zip(points, shifted, strict=True):
        ex, ey = wgs84_to_gcj02(x, y)
        assert abs(sx - ex) < 1e-9 and abs(sy - ey) < 1e-9, (x, y)
    assert shifted[3] == [2.35, 48.85]  # outside China: unchanged
    assert abs(shifted[0][0] - 116.397) > 1e-3  # inside: shifted by hundreds of metres
