"""The admin's console (/admin/): admins only, CSRF as every page, every change through its domain operation with a
refusal named by field, and no input that makes a 500.

Through the Flask test client on the real database; the same pages in Chromium are in tests/e2e/test_admin.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citymgmt.core.audit import AuditEntry
from citymgmt.core.identity import authenticate
from tests.web.test_sessions import csrf_of, sign_in

pytestmark = pytest.mark.usefixtures("beijing")

PAGES = (
    "/admin/",
    "/admin/departments",
    "/admin/departments/bj-water",
    "/admin/calendar",
    "/admin/rules",
    "/admin/rules/explain",
    "/admin/notifications",
    "/admin/accounts",
)
POSTS = (
    "/admin/departments",
    "/admin/departments/bj-water",
    "/admin/departments/bj-water/retire",
    "/admin/calendar",
    "/admin/calendar/2026-12-24/clear",
    "/admin/rules",
    "/admin/accounts",
    "/admin/accounts/t-operator/password",
    "/admin/accounts/t-operator/deactivate",
    "/admin/notifications/channels",
    "/admin/notifications/channels/999999999/retire",
)


def _admin(client: FlaskClient) -> str:
    assert sign_in(client, "t-admin").status_code == 302
    return csrf_of(client.get("/admin/").get_data(as_text=True))


def _audit(session: Session, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    rows = session.execute(
        select(AuditEntry.actor, AuditEntry.target, AuditEntry.details)
        .where(AuditEntry.action == action)
        .order_by(AuditEntry.id)
    )
    return [(a, t, d) for a, t, d in rows]


def test_only_admins_open_the_console_and_every_form_needs_the_csrf_token(client: FlaskClient, users) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/admin/").headers["Location"].startswith("/login?next=/admin/")
    for role in ("supervisor", "leader", "operator", "inspector"):
        sign_in(client, f"t-{role}")
        token = csrf_of(client.get("/").get_data(as_text=True))
        for path in PAGES:
            assert client.get(path).status_code == 403, (role, path)
        for path in POSTS:
            assert client.post(path, data={"csrf_token": token}).status_code == 403, (role, path)
        client.post("/logout", data={"csrf_token": token})
    signed = sign_in(client, "t-admin")
    assert signed.headers["Location"] == "/admin/"  # an admin lands on the console
    for path in PAGES:
        assert client.get(path).status_code == 200, path
        english = client.get(f"{path}?lang=en")  # every page in English too
        assert english.status_code == 200 and ">Administration</a>" in english.get_data(as_text=True), path
    client.get("/admin/?lang=zh_CN")
    for path in POSTS:  # no token: refused before the view, nothing written
        refused = client.post(path, data={"name": "x"})
        assert refused.status_code == 403 and "此表单已无法提交" in refused.get_data(as_text=True), path
    home = client.get("/").get_data(as_text=True)
    assert 'href="/admin/"' in home and "管理" in home


def test_departments_are_created_changed_and_retired_with_each_refusal_named(
    client: FlaskClient, users, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    token = _admin(client)
    listing = client.get("/admin/departments").get_data(as_text=True)
    assert "bj-water" in listing and "110101-sanitation" in listing

    bad = client.post(
        "/admin/departments",
        data={"csrf_token": token, "code": "t bad", "name": "", "kind": "nonsense", "district": "999999"},
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "未保存" in html
    for field in ("code", "name", "kind", "district"):
        assert f'id="p-{field}"' in html, field
    assert 'value="999999"' in html  # what was typed comes back
    # The refusals in Chinese, by the error's code and field; English where the table has no text.
    assert "须为现行区的 6 位行政区划代码" in html and "no live district" not in html
    assert "部分字段有误" in html and "the department is not valid" not in html
    english = client.post(
        "/admin/departments?lang=en",
        data={"csrf_token": token, "code": "t-x", "name": "x", "kind": "sanitation", "district": "999999"},
    ).get_data(as_text=True)
    assert "no live district 999999" in english  # in English, the domain's own words
    client.get("/admin/?lang=zh_CN")

    made = client.post(
        "/admin/departments",
        data={
            "csrf_token": token,
            "code": "t-parks",
            "name": "测试公园管理处",
            "kind": "landscaping",
            "district": "110101",
            "phone": "010-1234",
        },
    )
    assert made.status_code == 302 and made.headers["Location"].endswith("#d-t-parks")
    assert "已创建部门 t-parks。" in client.get(made.headers["Location"]).get_data(as_text=True)
    again = client.post(
        "/admin/departments", data={"csrf_token": token, "code": "t-parks", "name": "又一个", "kind": "landscaping"}
    )
    assert again.status_code == 409 and 'id="p-code"' in again.get_data(as_text=True)

    edit = client.get("/admin/departments/t-parks").get_data(as_text=True)
    assert 'value="测试公园管理处"' in edit
    changed = client.post(
        "/admin/departments/t-parks",
        data={
            "csrf_token": token,
            "name": "测试公园管理处（东城）",
            "name_en": "",
            "kind": "landscaping",
            "district": "110101",
            "phone": "",
        },
    )
    assert changed.status_code == 302
    ((name, phone, name_en),) = db_session.execute(
        text("SELECT name, phone, name_en FROM departments WHERE code = 't-parks'")
    ).all()
    assert (name, phone, name_en) == ("测试公园管理处（东城）", None, "测试公园管理处（东城）")
    refused = client.post(
        "/admin/departments/t-parks",
        data={"csrf_token": token, "name": "x", "kind": "landscaping", "parent": "t-parks"},
    )
    assert refused.status_code == 422 and 'id="p-parent"' in refused.get_data(as_text=True)

    unconfirmed = client.post("/admin/departments/t-parks/retire", data={"csrf_token": token})
    assert unconfirmed.status_code == 422 and "勾选" in unconfirmed.get_data(as_text=True)
    retired = client.post("/admin/departments/t-parks/retire", data={"csrf_token": token, "confirm": "yes"})
    assert retired.status_code == 302
    after = client.get(retired.headers["Location"]).get_data(as_text=True)
    assert "已停用部门 t-parks" in after and 'id="d-t-parks" class="ad-retired"' in after
    assert client.get("/admin/departments/t-parks").status_code == 404  # retired: no longer changed
    assert [t for _, t, _ in _audit(db_session, "department.create")][-1] == "t-parks"
    assert [(a, t) for a, t, _ in _audit(db_session, "department.retire")][-1] == ("t-admin", "t-parks")
    changes = _audit(db_session, "department.update")[-1][2]["changes"]
    assert changes["name"] == ["测试公园管理处", "测试公园管理处（东城）"] and changes["phone"] == ["010-1234", None]


def test_the_calendar_shows_a_month_and_a_day_is_set_and_cleared(
    client: FlaskClient, users, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    token = _admin(client)
    october = client.get("/admin/calendar?month=2026-10").get_data(as_text=True)
    # National Day: Thursday 1 October 2026 is a day off; chinese-calendar's make-up Saturday 10 October is worked.
    assert re.search(r'id="day-2026-10-01" class="off special[^"]*"', october), october
    assert re.search(r'id="day-2026-10-10" class="work special[^"]*"', october)
    assert client.get("/admin/calendar?month=2026-13").status_code == 400
    assert client.get("/admin/calendar?month=３０００-01").status_code == 400

    bad = client.post("/admin/calendar", data={"csrf_token": token, "day": "2026-02-30", "note": "x" * 201})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="p-day"' in html and 'id="p-workday"' in html and 'id="p-note"' in html
    done = client.post(
        "/admin/calendar", data={"csrf_token": token, "day": "2026-12-24", "workday": "no", "note": "平安夜调休"}
    )
    assert done.status_code == 302 and done.headers["Location"].startswith("/admin/calendar?month=2026-12")
    december = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "2026-12-24 已设为休息日。" in december and "平安夜调休" in december
    assert re.search(r'id="day-2026-12-24" class="off special override"', december)
    api = client.get("/api/v1/calendar?year=2026").get_json()
    assert {"day": "2026-12-24", "is_workday": False, "source": "admin"}.items() <= next(
        d for d in api if d["day"] == "2026-12-24"
    ).items()

    cleared = client.post("/admin/calendar/2026-12-24/clear", data={"csrf_token": token})
    assert cleared.status_code == 302
    december = client.get(cleared.headers["Location"]).get_data(as_text=True)
    assert "已清除 2026-12-24 的设置。" in december
    assert re.search(r'id="day-2026-12-24" class="work"', december)
    assert all(d["day"] != "2026-12-24" for d in client.get("/api/v1/calendar?year=2026").get_json())
    assert client.post("/admin/calendar/not-a-day/clear", data={"csrf_token": token}).status_code == 404
    assert [t for _, t, _ in _audit(db_session, "calendar.set")][-1] == "2026-12-24"
    assert [t for _, t, _ in _audit(db_session, "calendar.clear")][-1] == "2026-12-24"


def test_the_rules_are_read_edited_with_errors_by_line_and_explained(
    client: FlaskClient, users, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    token = _admin(client)
    page = client.get("/admin/rules").get_data(as_text=True)
    revision = re.search(r"修订版 (\d+)", page)
    assert revision and 'id="rule-e-sanitation"' in page and "区环卫" in page
    source = re.search(r'<textarea id="f-source" name="source"[^>]*>(.*?)</textarea>', page, re.S)
    assert source and "e-tree-keywords" in source.group(1)
    yaml_text = source.group(1).replace("&#34;", '"').replace("&#39;", "'").replace("&gt;", ">").replace("&lt;", "<")
    yaml_text = yaml_text.replace("&amp;", "&")

    broken = yaml_text.replace("department: bj-water", "department: no-such-dept", 1)
    refused = client.post("/admin/rules", data={"csrf_token": token, "source": broken})
    html = refused.get_data(as_text=True)
    line = next(i for i, text_ in enumerate(broken.splitlines(), 1) if "no-such-dept" in text_)
    assert refused.status_code == 422 and f"第 {line} 行" in html and "在用部门的编码" in html
    assert "规则文件有误" in html and "no live department" not in html  # zh-CN first: no English in the page
    syntax = client.post("/admin/rules", data={"csrf_token": token, "source": "rules: [\n  - {code: x"})
    html = syntax.get_data(as_text=True)
    assert syntax.status_code == 422 and "第 2 行" in html and "YAML 文本" in html and "not valid YAML" not in html
    misspelt = yaml_text.replace("keywords:", "keyword:", 1)
    html = client.post("/admin/rules", data={"csrf_token": token, "source": misspelt}).get_data(as_text=True)
    assert "没有这个字段" in html and "Unknown field" not in html
    english = client.post("/admin/rules?lang=en", data={"csrf_token": token, "source": broken})
    assert "no live department no-such-dept" in english.get_data(as_text=True)
    client.get("/admin/rules?lang=zh_CN")
    empty = client.post("/admin/rules", data={"csrf_token": token, "source": "rules: []"})
    assert empty.status_code == 422  # retiring every rule needs the box ticked

    tree = "keywords: [树, 枝, tree]"
    assert tree in yaml_text
    edited = yaml_text.replace(tree, "keywords: [树, 枝, tree, 井]")
    saved = client.post("/admin/rules", data={"csrf_token": token, "source": edited})
    assert saved.status_code == 302
    after = client.get("/admin/rules").get_data(as_text=True)
    assert "规则已保存：新增 0 条，修改 1 条" in after
    new_revision = re.search(r"修订版 (\d+)", after)
    assert new_revision and int(new_revision[1]) > int(revision[1])
    assert _audit(db_session, "rules.import")[-1][2]["updated"] == 1

    explained = client.get("/admin/rules/explain?category=E0601&lon=116.3906&lat=39.9158&description=井盖旁堆物")
    html = explained.get_data(as_text=True)
    assert explained.status_code == 200 and 'id="explain-rule">e-tree-keywords<' in html
    assert "问题描述含有 井" in html  # the keyword found, in the desk's words
    by_address = client.get("/admin/rules/explain?category=E0102&address=no such place at all 999")
    assert by_address.status_code == 422 and 'id="p-address"' in by_address.get_data(as_text=True)
    for query in (
        "category=E0102&lon=abc&lat=nan",
        "category=E0102&lon=1e999&lat=39.9",
        "category=E0102&lon=0&lat=0",
        "category=ZZ&lon=116.39&lat=39.91",
        "category=E0102&lon=116.39&lat=39.91&at=yesterday&urgency=x&source=y",
        "category=E0102",
        "category=%00&lon=116.39&lat=39.91",
    ):
        answer = client.get(f"/admin/rules/explain?{query}")
        html = answer.get_data(as_text=True)
        assert 400 <= answer.status_code < 500, (query, answer.status_code)
        assert 'role="alert"' in html or 'class="ad-problem"' in html or "输入有误" in html, query  # says what


def test_accounts_are_created_given_a_new_password_and_deactivated(
    client: FlaskClient, users, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    token = _admin(client)
    listing = client.get("/admin/accounts?q=t-").get_data(as_text=True)
    assert 'id="u-t-operator"' in listing and 'id="u-inspector"' not in listing

    bad = client.post(
        "/admin/accounts", data={"csrf_token": token, "username": "Bad Name", "roles": ["handler", "king"]}
    )
    assert bad.status_code == 422 and 'id="p-username"' in bad.get_data(as_text=True)
    no_dept = client.post("/admin/accounts", data={"csrf_token": token, "username": "t-fixer", "roles": ["handler"]})
    assert no_dept.status_code == 422 and 'id="p-department"' in no_dept.get_data(as_text=True)
    made = client.post(
        "/admin/accounts",
        data={
            "csrf_token": token,
            "username": "t-fixer",
            "display_name": "处置员 丙",
            "roles": ["handler"],
            "department": "bj-water",
        },
    )
    html = made.get_data(as_text=True)
    assert made.status_code == 201 and "已创建账号 t-fixer。" in html
    password = re.search(r'<code class="ad-secret" id="new-password">([^<]+)</code>', html)
    assert password
    assert authenticate(db_session, "t-fixer", password[1]).department_code == "bj-water"
    assert password[1] not in str(_audit(db_session, "user.create")[-1])

    reset = client.post("/admin/accounts/t-fixer/password", data={"csrf_token": token})
    fresh = re.search(r'id="new-password">([^<]+)<', reset.get_data(as_text=True))
    assert reset.status_code == 200 and fresh and fresh[1] != password[1]
    assert authenticate(db_session, "t-fixer", fresh[1]).username == "t-fixer"

    mine = client.post("/admin/accounts/t-admin/deactivate", data={"csrf_token": token})
    assert mine.status_code == 409 and "不能停用自己的账号" in mine.get_data(as_text=True)
    gone = client.post("/admin/accounts/t-fixer/deactivate", data={"csrf_token": token})
    assert gone.status_code == 302
    assert 'id="u-t-fixer" class="ad-retired"' in client.get("/admin/accounts?q=fixer").get_data(as_text=True)
    assert client.post("/admin/accounts/t-fixer/deactivate", data={"csrf_token": token}).status_code == 409
    assert client.post("/admin/accounts/nobody-here/password", data={"csrf_token": token}).status_code == 404
    assert [a for a, _, _ in _audit(db_session, "user.deactivate")][-1] == "t-admin"
    for page in ("0", "-1", "x", "²", "99999999999"):
        assert client.get(f"/admin/accounts?page={page}").status_code == 200


def test_notification_channels_are_listed_added_and_disabled_with_each_refusal_named(
    client: FlaskClient, users, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    token = _admin(client)
    page = client.get("/admin/notifications").get_data(as_text=True)
    assert 'id="channel-new"' in page and 'id="channels"' in page and "citymgmt notify channels" not in page

    def add(**fields: Any) -> Any:
        return client.post("/admin/notifications/channels", data={"csrf_token": token, **fields})

    refusals = (  # each bad input, and the field it is named by
        ({"kind": "email", "target": "not an address", "events": "new_work"}, "target"),
        ({"kind": "webhook", "target": "ftp://example.org/x", "secret": "a-secret-of-some-length"}, "target"),
        ({"kind": "webhook", "target": "https://example.org/hook", "secret": "short"}, "secret"),
        ({"kind": "webhook", "target": "https://example.org/hook", "secret": "s" * 201}, "secret"),
        (
            {"kind": "webhook", "target": "https://example.org/" + "x" * 500, "secret": "a-secret-of-some-length"},
            "target",
        ),
        ({"kind": "email", "target": "w@example.org", "department": "no-such-dept"}, "department"),
        ({"kind": "pigeon", "target": "w@example.org"}, "kind"),
        ({"kind": "email", "target": "w@example.org", "events": "gossip"}, "events"),
    )
    channels = text("SELECT count(*) FROM notification_channels")
    before = db_session.execute(channels).scalar()  # other tests' channels may be there
    for fields, field in refusals:
        refused = add(**{"events": "new_work", **fields})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and "未保存" in html, fields
        assert f'id="p-{field}"' in html, (fields, html[html.find("p-") - 200 : html.find("p-") + 200])
    assert 'value="w@example.org"' in html  # what was typed comes back
    assert db_session.execute(channels).scalar() == before, "nothing refused was written"

    made = add(department="bj-water", kind="email", target="water@example.org", events=["new_work", "sla_warn"])
    assert made.status_code == 302 and "#c-" in made.headers["Location"]
    channel_id = int(made.headers["Location"].split("#c-")[1])
    listing = client.get(made.headers["Location"]).get_data(as_text=True)
    assert f"已添加通知渠道 {channel_id}" in listing and f'id="c-{channel_id}"' in listing
    hook = add(kind="webhook", target="https://example.org/hook", secret="a-secret-of-some-length", events="sla_warn")
    assert hook.status_code == 302
    assert "a-secret-of-some-length" not in client.get("/admin/notifications").get_data(as_text=True)  # never shown

    disabled = client.post(f"/admin/notifications/channels/{channel_id}/retire", data={"csrf_token": token})
    assert disabled.status_code == 302
    after = client.get(disabled.headers["Location"]).get_data(as_text=True)
    assert f'id="c-{channel_id}" class="ad-retired"' in after and "已停用" in after
    again = client.post(f"/admin/notifications/channels/{channel_id}/retire", data={"csrf_token": token})
    assert again.status_code == 404 and f"未停用：没有现行的通知渠道 {channel_id}" in again.get_data(as_text=True)
    assert [(a, t) for a, t, _ in _audit(db_session, "notification_channel.add")][-2] == ("t-admin", str(channel_id))
    assert [(a, t) for a, t, _ in _audit(db_session, "notification_channel.retire")][-1] == ("t-admin", str(channel_id))
    ((retired_at,),) = db_session.execute(
        text("SELECT retired_at FROM notification_channels WHERE id = :id"), {"id": channel_id}
    ).all()
    assert retired_at is not None


def test_every_refusal_text_is_said_in_both_languages(app) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.errors import Conflict, NotFound, ValidationError
    from citymgmt.web.refusals import REFUSAL_TEXTS, refusal_fields, refusal_message

    kinds = {"validation_error": ValidationError, "not_found": NotFound}
    for (code, field), _text in REFUSAL_TEXTS.items():
        kind = kinds.get(code, Conflict)
        exc = kind("english words", details={field: "x-1"} if field else {"a": "b", "c": "d"}, code=code)
        with app.test_request_context("/?lang=zh_CN"):
            said = refusal_message(exc)
            assert said != "english words" and not re.search("[a-z]{4,} [a-z]{4,}", said), (code, field, said)
            assert "%(" not in said and (field is None or refusal_fields(exc)[field] == said)
        with app.test_request_context("/?lang=en"):
            assert refusal_message(exc) == "english words" and refusal_fields(exc) == exc.details
    with app.test_request_context("/?lang=zh_CN"):  # no text for the code: the domain's English
        odd = Conflict("the case changed meanwhile", details={"version": "3"})
        assert refusal_message(odd) == "the case changed meanwhile"
        assert refusal_message(NotFound("no live channel 7", details={"channel": "7"})) == "没有现行的通知渠道 7"


def test_no_input_makes_a_server_error(client: FlaskClient, users) -> None:  # type: ignore[no-untyped-def]
    token = _admin(client)
    odd = ("x" * 5000, "\x00", "１２３", "../%")
    for value in odd:
        for path in POSTS:
            fields = (
                "code",
                "name",
                "name_en",
                "kind",
                "district",
                "street",
                "parent",
                "phone",
                "day",
                "workday",
                "note",
                "source",
                "username",
                "roles",
                "department",
                "display_name",
                "password",
                "confirm",
                "target",
                "secret",
                "events",
            )
            answer = client.post(path, data={"csrf_token": token, **dict.fromkeys(fields, value)})
            assert answer.status_code < 500, (path, value, answer.status_code)
        for path in ("/admin/calendar?month=", "/admin/accounts?q=", "/admin/rules/explain?category=E0102&address="):
            assert client.get(path + value.replace("%", "%25")).status_code < 500, (path, value)
        assert client.get(f"/admin/departments/{value.replace('%', '%25').replace('/', '_') or 'x'}").status_code in (
            400,  # a NUL character: refused before any view (citymgmt.core.inputs)
            404,
        )
