"""The supervisor's pages (/supervise/): who may open them, a case read as it stands, escalation (督办) from the page.

Through the Flask test client on the real database; the same pages in Chromium, reached from the big screen, are in
tests/e2e/test_dashboard.py.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from tests.web.test_sessions import csrf_of, sign_in

pytestmark = pytest.mark.usefixtures("beijing")

CALL = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "路边暴露垃圾"}


@pytest.fixture
def case(client: FlaskClient, token_for, clock) -> dict:  # type: ignore[no-untyped-def]
    # Reported after every case other tests of the suite left in its database, so that it leads the newest reports.
    clock.at = max(clock.at, datetime.now(UTC) + timedelta(days=1))
    response = client.post("/api/v1/cases", json=CALL, headers=token_for("operator"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_the_supervisor_reads_a_case_and_escalates_it_with_a_note(client: FlaskClient, case, token_for) -> None:  # type: ignore[no-untyped-def]
    reader = token_for("supervisor")  # a bearer token, got before the browser session exists
    assert sign_in(client, "t-supervisor").status_code == 302
    listing = client.get("/supervise/").get_data(as_text=True)
    assert "<h1>监督</h1>" in listing and f'href="/supervise/cases/{case["id"]}"' in listing  # the newest reports

    page = client.get(f"/supervise/cases/{case['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f"案件 {case['code']}" in html
    assert "暴露垃圾" in html and "路边暴露垃圾" in html  # the category's name, the description
    assert "t-operator · 受理员" in html  # who reported, with the role
    assert 'id="escalate"' in html and "督办" in html

    token = csrf_of(html)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', html)
    assert version, html
    empty = client.post(f"/supervise/cases/{case['id']}/escalate", data={"csrf_token": token, "version": version[1]})
    assert empty.status_code == 422 and "请填写给部门的说明。" in empty.get_data(as_text=True)

    sent = client.post(
        f"/supervise/cases/{case['id']}/escalate",
        data={"csrf_token": token, "version": version[1], "note": "请今天内处理"},
    )
    assert sent.status_code == 302
    after = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "已督办：部门须答复。" in after and "请今天内处理" in after and 'id="escalate"' not in after
    api = client.get(f"/api/v1/cases/{case['id']}", headers=reader).get_json()
    escalation = [e for e in api["events"] if e["action"] == "escalate"]
    assert api["escalated"] is True and len(escalation) == 1 and escalation[0]["payload"]["note"] == "请今天内处理"
    assert f'href="/supervise/cases/{case["id"]}"' in client.get("/supervise/").get_data(as_text=True)

    again = client.post(  # the version the page showed is stale now: nothing is written, the case is shown again
        f"/supervise/cases/{case['id']}/escalate",
        data={"csrf_token": token, "version": version[1], "note": "再次督办"},
    )
    assert again.status_code == 409 and "已重新加载" in again.get_data(as_text=True)
    current = client.get(f"/api/v1/cases/{case['id']}", headers=reader).get_json()["version"]
    twice = client.post(  # the current version, and the case is escalated already: refused, said in Chinese
        f"/supervise/cases/{case['id']}/escalate",
        data={"csrf_token": token, "version": str(current), "note": "再次督办"},
    )
    said = twice.get_data(as_text=True)
    assert twice.status_code == 422 and "现在不能“督办”（案件当前为" in said and "not possible" not in said
    events = client.get(f"/api/v1/cases/{case['id']}", headers=reader).get_json()["events"]
    assert [e["action"] for e in events].count("escalate") == 1


def test_a_leader_reads_but_may_not_escalate_and_others_are_refused(client: FlaskClient, case, make_user) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/supervise/cases/{case['id']}").headers["Location"].startswith("/login?next=/supervise/")
    sign_in(client, "t-leader")
    html = client.get(f"/supervise/cases/{case['id']}?lang=en").get_data(as_text=True)
    assert f"Case {case['code']}" in html and 'id="escalate"' not in html
    token = csrf_of(html)
    refused = client.post(f"/supervise/cases/{case['id']}/escalate", data={"csrf_token": token, "version": "1"})
    assert refused.status_code == 403
    assert client.get("/supervise/cases/999999999").status_code == 404
    assert client.get("/supervise/cases/99999999999999999999").status_code == 404  # beyond a bigint: no 500
    client.post("/logout", data={"csrf_token": token})
    sign_in(client, "t-inspector")
    assert client.get(f"/supervise/cases/{case['id']}").status_code == 403


@pytest.mark.parametrize(
    ("role", "lands"),
    [
        ("inspector", "/m/"),
        ("operator", "/desk/"),
        ("dispatcher", "/desk/"),
        ("handler", "/desk/"),
        ("supervisor", "/supervise/"),
        ("leader", "/dashboard/"),
        ("admin", "/admin/"),
    ],
)
def test_signing_in_lands_each_role_on_its_own_app(client: FlaskClient, users, role: str, lands: str) -> None:  # type: ignore[no-untyped-def]
    signed_in = sign_in(client, f"t-{role}")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == lands
    assert client.get(lands).status_code == 200
    assert client.get("/login").headers["Location"] == lands  # signed in already: on to the app
    assert client.get("/login?next=/").headers["Location"] == "/"  # an explicit next is followed


def test_each_list_pages_through_its_cases_as_the_api_pages_them(client: FlaskClient, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    clock.at = max(clock.at, datetime.now(UTC) + timedelta(days=1))
    operator = token_for("operator")
    for n in range(21):  # more than a page of newest reports, whatever the suite left before
        sent = client.post("/api/v1/cases", json={**CALL, "description": f"翻页 {n}"}, headers=operator)
        assert sent.status_code == 201, sent.get_json()
    reader = token_for("supervisor")
    expected = [c["id"] for c in client.get("/api/v1/cases?page=2&page_size=20", headers=reader).get_json()]
    assert len(expected) >= 1
    sign_in(client, "t-supervisor")
    first = client.get("/supervise/").get_data(as_text=True).split('id="list-newest"')[1]
    assert "第 1–20 件" in first
    last_on_first = [int(i) for i in re.findall(r'href="/supervise/cases/(\d+)"', first)][-1]
    # The next page's link carries its number and the cursor of this page's last case (keyset paging): a report
    # that arrives meanwhile does not push that case onto the next page again, as the page's number alone does.
    older = re.search(r'href="(/supervise/\?newest=2&amp;newest_after=[A-Za-z0-9_-]+)#list-newest" rel="next"', first)
    assert older is not None, first
    sent = client.post("/api/v1/cases", json={**CALL, "description": "翻页时新报"}, headers=operator)
    assert sent.status_code == 201, sent.get_json()
    for link, ids in ((html.unescape(older[1]), expected), ("/supervise/?newest=2", [last_on_first, *expected][:20])):
        second = client.get(link).get_data(as_text=True).split('id="list-newest"')[1]
        shown = [int(i) for i in re.findall(r'href="/supervise/cases/(\d+)"', second)]
        assert shown == ids, link
        assert "第 21–" in second and 'href="/supervise/#list-newest"' in second  # back to the newer page
    odd_cursors = ("newest=2&newest_after=x", "newest=2&newest_after=" + "A" * 23, "newest=2&newest_after=")
    for odd in ("newest=abc", "newest=-3", "newest=²", "newest=99999999999", "overdue=0&escalated=x", *odd_cursors):
        assert client.get(f"/supervise/?{odd}").status_code == 200, odd
