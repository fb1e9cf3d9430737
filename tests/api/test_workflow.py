"""The case loop through the API: the main path and every side path, as each role sees and drives it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.usefixtures("beijing")

FORBIDDEN_CITY = {"lon": 116.3906, "lat": 39.9158}
CALL = {
    "category_code": "E0102",
    **FORBIDDEN_CITY,
    "description": "市民来电：路边暴露垃圾",
    "source": "hotline",
    "contact": {"name": "张先生", "phone": "13800000000"},
}


class Desk:
    """Acting on one case as different roles, always with the version last seen."""

    def __init__(self, client, token_for, case: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
        self.client, self.token_for, self.case = client, token_for, case
        self.tokens: dict[str, dict[str, str]] = {}

    def headers(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            self.tokens[role] = self.token_for(role)
        return self.tokens[role]

    def act(self, role: str, action: str, expect: int = 200, version: int | None = None, **body: Any) -> Any:
        headers = {**self.headers(role), "If-Match": f'"{version or self.case["version"]}"'}  # as the ETag came
        response = self.client.post(f"/api/v1/cases/{self.case['id']}/actions/{action}", json=body, headers=headers)
        assert response.status_code == expect, response.get_json()
        if expect == 200:
            self.case = response.get_json()
        return response.get_json()

    def view(self, role: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/cases/{self.case['id']}", headers=self.headers(role))
        assert response.status_code == 200
        assert response.headers["ETag"] == f'"{response.get_json()["version"]}"'
        return response.get_json()


@pytest.fixture
def desk(client, token_for, users, db_session) -> Desk:  # type: ignore[no-untyped-def]
    case = client.post("/api/v1/cases", json=CALL, headers=token_for("operator")).get_json()
    db_session.execute(  # the test inspector walks the cell
        text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, now())"),
        {"u": users["inspector"].id, "c": case["cell_code"]},
    )
    return Desk(client, token_for, case)


def dispatched_to_test_department(desk: Desk) -> None:
    desk.act("operator", "request_verification")  # a hotline report is verified on site before it is filed
    desk.act("inspector", "verify", result="pass")
    desk.act("leader", "file")
    desk.act("dispatcher", "dispatch", department="t-water")


def test_the_main_loop_from_a_call_to_closing(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    assert desk.case["status"] == "reported" and desk.case["suggested_department_code"] == "110101-sanitation"
    assert desk.case["allowed_actions"] == ["cancel", "request_verification", "merge", "comment"]
    assert desk.case["light"] == "green" and desk.case["due_at"] == "2026-11-23T01:50:00+00:00"  # 20 working min
    desk.act("operator", "request_verification")
    assert desk.case["status"] == "verifying"
    assert desk.view("inspector")["allowed_actions"] == ["verify", "comment"]  # in the inspector's cell
    desk.act("inspector", "verify", result="pass", note="现场确认")
    assert desk.case["status"] == "reported"
    assert "request_verification" not in desk.view("operator")["allowed_actions"]  # verified already
    desk.act("leader", "file")
    assert desk.view("dispatcher")["allowed_actions"] == ["dispatch", "comment"]
    desk.act("dispatcher", "dispatch")  # the routing suggestion, confirmed
    assert desk.case["department_code"] == "110101-sanitation"
    assert desk.case["due_at"] == desk.case["disposal_due_at"] == "2026-11-23T07:30:00+00:00"
    desk.act("dispatcher", "approve_return", expect=422)
    desk.act("supervisor", "escalate", note="请尽快处理")
    assert desk.case["escalated"] is True and "escalate" not in desk.view("supervisor")["allowed_actions"]


def test_handling_check_and_close(desk: Desk) -> None:
    dispatched_to_test_department(desk)
    assert desk.view("handler")["allowed_actions"] == [
        "return",
        "request_extension",
        "suspend",
        "handle",
        "comment",
    ]
    desk.act("handler", "handle", note="已清运")
    assert desk.case["status"] == "checking"  # the check is requested automatically
    assert [e["action"] for e in desk.case["events"]][-2:] == ["handle", "request_check"]
    assert desk.case["events"][-1]["payload"] == {"automatic": True}
    desk.act("leader", "close", expect=422)
    desk.act("inspector", "check", result="pass")
    assert desk.case["check_passed"] is True and desk.case["status"] == "checking"
    desk.act("leader", "close")
    assert desk.case["status"] == "closed" and desk.case["due_at"] is None and desk.case["light"] is None
    assert desk.view("leader")["allowed_actions"] == ["callback", "comment"]  # a hotline caller is called back
    assert desk.view("dispatcher")["allowed_actions"] == ["comment"]


def test_a_hotline_report_is_verified_by_phone_where_the_city_allows_it(desk: Desk, app, clock) -> None:  # type: ignore[no-untyped-def]
    """CITYMGMT_PHONE_VERIFICATION_SOURCES: off by default (not offered, refused); with hotline in it, the operator
    verifies the call by phone with a note (an event with who, when and the note), the leader files it, and the
    indicators count a verified public report, not an inspector's verification."""
    assert "verify_by_phone" not in desk.case["allowed_actions"]
    refused = desk.act("operator", "verify_by_phone", expect=422, note="已回访")["error"]
    assert refused["message"] == "verify_by_phone: reports from the hotline source are verified on site, not by phone"
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, phone_verification_sources=("hotline",))
    try:
        assert "verify_by_phone" in desk.view("operator")["allowed_actions"]
        assert "verify_by_phone" not in desk.view("dispatcher")["allowed_actions"]
        desk.act("operator", "verify_by_phone", expect=422)  # the note is required
        desk.act("operator", "verify_by_phone", note="回访来电人，确认路边有垃圾")
        event = desk.case["events"][-1]
        assert event["action"] == "verify_by_phone" and event["actor_id"] is not None and event["at"]
        assert event["payload"] == {"result": "pass", "method": "phone", "note": "回访来电人，确认路边有垃圾"}
        assert desk.case["status"] == "reported"
        assert not {"verify_by_phone", "request_verification"} & set(desk.view("operator")["allowed_actions"])
        desk.act("leader", "file")
    finally:
        app.extensions["citymgmt.settings"] = settings
    assert desk.case["status"] in ("filed", "dispatched")
    day = clock.now().date().isoformat()
    response = desk.client.get(
        f"/api/v1/metrics?group_by=district&from={day}&to={day}&fresh=true", headers=desk.headers("leader")
    )
    assert response.status_code == 200, response.get_json()
    counts = next(g for g in response.get_json()["groups"] if g["key"] == "110101")["counts"]
    assert (counts["verified_public"], counts["verifications"], counts["filed"]) == (1, 0, 1)


def test_suspensions_in_all_are_capped(desk: Desk, app, clock) -> None:  # type: ignore[no-untyped-def]
    """CITYMGMT_MAX_SUSPENSION_DAYS (here 1, with two suspensions allowed): a case suspended for 25 hours may not be
    suspended again, with the reason; the handler is not offered the request."""
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, max_suspensions=2, max_suspension_days=1)
    try:
        dispatched_to_test_department(desk)
        desk.act("dispatcher", "suspend", note="等待施工许可")
        clock.advance(hours=25)
        desk.tokens.clear()
        desk.act("dispatcher", "resume")
        assert "suspend" not in desk.view("handler")["allowed_actions"]
        refused = desk.act("handler", "suspend", expect=422, note="仍需等待")["error"]
        assert refused["message"] == "suspend: this case has been suspended 1.0 days in all, the most allowed is 1 days"
        assert "suspend" not in refused["details"]["allowed_actions"]
    finally:
        app.extensions["citymgmt.settings"] = settings


def test_a_case_is_not_closed_while_its_escalation_waits_for_a_reply(desk: Desk) -> None:
    dispatched_to_test_department(desk)
    desk.act("supervisor", "escalate", note="请尽快处理")
    desk.act("handler", "handle", note="已清运")
    desk.act("inspector", "check", result="pass")
    assert desk.case["check_passed"] is True and "close" not in desk.view("leader")["allowed_actions"]
    refused = desk.act("leader", "close", expect=422)["error"]
    assert refused["message"] == (
        "close: the escalation (督办) waits for the department's reply: the case closes once it is answered"
    )
    desk.act("handler", "reply", note="已清运完毕")
    assert desk.case["escalated"] is False and "close" in desk.view("leader")["allowed_actions"]
    desk.act("leader", "close")
    assert desk.case["status"] == "closed"


def test_a_passed_check_ends_the_inspectors_step_and_starts_the_closing_clock(
    desk: Desk, db_session, app, clock
) -> None:  # type: ignore[no-untyped-def]
    """The inspector's step ends when the check passes: the case waits for the leader on a clock of its own
    (CITYMGMT_CLOSING_HOURS, here working hours: CITYMGMT_CENTRE_HOURS=working), and a late close is the closing
    step's, not the check's."""
    from dispatch.sla.sweep import sweep

    dispatched_to_test_department(desk)
    desk.act("handler", "handle")
    check_due = desk.case["due_at"]
    clock.advance(minutes=40)
    desk.tokens.clear()
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, closing_hours=2.5, centre_hours="working")
    try:
        desk.act("inspector", "check", result="pass")  # 10:10 Beijing, within the check's hour
    finally:
        app.extensions["citymgmt.settings"] = settings
    assert desk.case["events"][-1]["action"] == "check"
    # 2.5 working hours to close: 1 h 50 to the lunch break, 40 min after it: 14:40 Beijing.
    assert desk.case["due_at"] == "2026-11-23T06:40:00+00:00" != check_due
    assert desk.case["light"] == "green"
    clock.advance(hours=5)
    swept = sweep(db_session, clock.now(), app.extensions["citymgmt.settings"].sla_escalate_overdue)
    assert desk.case["id"] in swept.overdue
    overdue = desk.view("leader")["events"][-1]
    assert overdue["action"] == "overdue" and overdue["payload"]["step"] == "closing"
    desk.case = desk.view("leader")
    desk.act("leader", "close")
    close = desk.case["events"][-1]
    assert close["action"] == "close" and desk.case["status"] == "closed"


def test_a_failed_check_is_rework_for_the_same_department_with_the_clock_running(desk: Desk) -> None:
    dispatched_to_test_department(desk)
    due = desk.case["disposal_due_at"]
    desk.act("handler", "handle")
    desk.act("inspector", "check", result="fail", note="仍有垃圾")
    assert desk.case["status"] == "dispatched" and desk.case["department_code"] == "t-water"
    assert desk.case["disposal_due_at"] == due and desk.case["due_at"] == due
    assert desk.case["events"][-1]["payload"] == {"result": "fail", "rework": True, "note": "仍有垃圾"}


def test_return_approved_then_redispatched_elsewhere_is_recorded(desk: Desk) -> None:
    dispatched_to_test_department(desk)
    desk.act("handler", "return", expect=422)  # a note is required
    desk.act("handler", "return", note="非我单位职责")
    assert desk.case["pending_request"]["kind"] == "return"
    desk.act("handler", "handle", expect=422)
    desk.act("dispatcher", "approve_return")
    assert desk.case["status"] == "filed" and desk.case["department_code"] is None
    desk.act("dispatcher", "dispatch", department="110101-sanitation")
    assert desk.case["events"][-1]["payload"] == {"department": "110101-sanitation", "redispatch_from": "t-water"}


def test_extensions_add_working_time_up_to_the_maximum(desk: Desk) -> None:
    dispatched_to_test_department(desk)
    assert desk.case["disposal_due_at"] == "2026-11-23T07:30:00+00:00"  # Monday 15:30 in Beijing
    desk.act("handler", "request_extension", expect=422, note="需要更多时间")  # no hours
    desk.act("handler", "request_extension", hours=4, note="需要吊车")
    desk.act("dispatcher", "reject_extension", note="不批准")
    assert desk.case["pending_request"] is None and desk.case["extensions_granted"] == 0
    desk.act("handler", "request_extension", hours=4, note="需要吊车")
    desk.act("dispatcher", "approve_extension")
    # 4 more working hours from 15:30: 2.5 h to 18:00, then 1.5 h from Tuesday 08:00.
    assert desk.case["disposal_due_at"] == "2026-11-24T01:30:00+00:00" == desk.case["due_at"]
    desk.act("handler", "request_extension", hours=1, note="再延一次")
    desk.act("dispatcher", "approve_extension")
    assert "request_extension" not in desk.case["allowed_actions"]  # what is not listed is refused
    refused = desk.act("handler", "request_extension", expect=422, hours=1, note="第三次")
    assert refused["error"]["message"] == "request_extension: this case has had its 2 extensions"


def test_suspension_freezes_the_clock(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    dispatched_to_test_department(desk)
    desk.act("handler", "suspend", note="需等待预算")
    assert desk.case["status"] == "dispatched" and desk.case["pending_request"]["kind"] == "suspension"
    desk.act("dispatcher", "resume", note="先处理")  # rejecting the request
    assert desk.case["pending_request"] is None and desk.case["status"] == "dispatched"
    desk.act("handler", "suspend", note="需等待预算")
    desk.act("dispatcher", "suspend", note="同意挂账")
    assert desk.case["status"] == "suspended" and desk.case["due_at"] is None
    clock.advance(days=7)  # a week later, same time of day: 4 working hours were left
    desk.tokens.clear()
    desk.act("dispatcher", "resume", note="预算到位")
    assert desk.case["status"] == "dispatched"
    assert desk.case["disposal_due_at"] == "2026-11-30T07:30:00+00:00"
    assert "suspend" not in desk.view("handler")["allowed_actions"]  # once is the most (max_suspensions)
    refused = desk.act("handler", "suspend", expect=422, note="again")
    assert refused["error"]["message"] == "suspend: this case has been suspended 1 times, the most allowed"
    refused = desk.act("dispatcher", "suspend", expect=422, note="again")
    assert refused["error"]["code"] == "action_not_allowed"


def test_escalation_waits_for_the_departments_reply(desk: Desk) -> None:
    dispatched_to_test_department(desk)
    desk.act("handler", "reply", expect=422, note="nothing to reply to")
    desk.act("supervisor", "escalate", note="领导督办：今天必须解决")
    desk.act("supervisor", "escalate", expect=422, note="again")
    desk.act("handler", "reply", note="已安排人员")
    assert desk.case["escalated"] is False


def test_the_machine_refuses_with_reasons(desk: Desk, client, token_for) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/cases/{desk.case['id']}/actions/file"
    missing = client.post(url, json={}, headers=token_for("leader"))
    assert missing.status_code == 428 and missing.get_json()["error"]["details"] == {"If-Match": "required"}
    stale = desk.act("leader", "file", expect=409, version=desk.case["version"] + 5)
    assert stale["error"]["details"] == {"version": desk.case["version"]}
    wrong_role = desk.act("operator", "file", expect=403)
    assert wrong_role["error"]["details"]["allowed_roles"] == ["leader"]
    not_now = desk.act("dispatcher", "dispatch", expect=422)
    assert not_now["error"]["code"] == "action_not_allowed"
    assert not_now["error"]["details"]["allowed_actions"] == ["comment"]
    assert desk.act("leader", "fly", expect=404)["error"]["message"] == "no action fly"
    unverified = desk.act("leader", "file", expect=422)  # a hotline report: verified on site first (DOMAIN §3)
    assert unverified["error"]["message"] == (
        "file: a hotline report is filed after it is verified on site (核实): request the verification"
    )
    assert "file" not in desk.view("leader")["allowed_actions"]
    desk.act("operator", "request_verification")
    desk.act("inspector", "verify", result="pass", note="现场属实")
    assert "file" in desk.view("leader")["allowed_actions"]
    desk.act("leader", "file")
    assert "cancel" not in desk.view("operator")["allowed_actions"]
    cancelled = desk.act("operator", "cancel", expect=422, note="不属实")
    assert "shift leader" in cancelled["error"]["message"]
    desk.act("leader", "cancel", note="不属实")
    assert desk.case["status"] == "cancelled"
    other = client.post(
        f"/api/v1/cases/{desk.case['id']}/actions/comment",
        json={"note": "x"},
        headers={**token_for("handler"), "If-Match": str(desk.case["version"])},
    )
    assert other.status_code == 404  # another department's case does not exist for this handler


def test_merge_makes_a_duplicate_of_the_original(desk: Desk, client, token_for) -> None:  # type: ignore[no-untyped-def]
    again = client.post("/api/v1/cases", json=CALL, headers=token_for("operator")).get_json()
    assert again["duplicate_candidates"][0]["id"] == desk.case["id"]
    second = Desk(client, token_for, again)
    second.act("operator", "merge", expect=422)
    second.act("operator", "merge", original=again["id"], expect=422)
    second.act("operator", "merge", original=desk.case["id"])
    assert second.case["status"] == "cancelled" and second.case["duplicate_of"] == desk.case["id"]
    assert second.case["events"][-1]["payload"] == {"original": desk.case["id"], "original_code": desk.case["code"]}
    linked = desk.view("operator")["events"][-1]
    assert linked["action"] == "merged_in" and linked["payload"]["duplicate"] == again["id"]
    assert linked["payload"]["reporter_id"] is not None


def test_actions_carry_photos(desk: Desk, client, token_for) -> None:  # type: ignore[no-untyped-def]
    import io

    from PIL import Image

    dispatched_to_test_department(desk)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buffer, "JPEG")
    response = client.post(
        f"/api/v1/cases/{desk.case['id']}/actions/handle",
        data={"note": "处理后", "photos": (io.BytesIO(buffer.getvalue()), "after.jpg")},
        headers={**token_for("handler"), "If-Match": str(desk.case["version"])},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    case = response.get_json()
    handle = next(e for e in case["events"] if e["action"] == "handle")
    [photo] = case["photos"]
    assert photo["width"] == 64 and photo["event_id"] is not None and handle["payload"] == {"note": "处理后"}


def test_each_roles_queue_shows_its_next_task(desk: Desk, client, token_for) -> None:  # type: ignore[no-untyped-def]
    def tasks(role: str) -> dict[int, str]:
        response = client.get("/api/v1/queues/mine?page_size=500", headers=desk.headers(role))
        assert response.status_code == 200
        return {item["id"]: item["task"] for item in response.get_json()}

    me = desk.case["id"]
    assert tasks("operator")[me] == "accept" and tasks("leader")[me] == "accept"  # both may accept or cancel
    assert me not in tasks("handler") and me not in tasks("inspector")
    desk.act("operator", "request_verification")
    assert tasks("inspector")[me] == "verify"
    desk.act("inspector", "verify", result="pass")
    assert tasks("leader")[me] == "file"
    desk.act("leader", "file")
    assert tasks("dispatcher")[me] == "dispatch"
    desk.act("dispatcher", "dispatch", department="t-water")
    assert tasks("handler")[me] == "handle"
    desk.act("handler", "request_extension", hours=2, note="缺材料")
    assert tasks("handler")[me] == "awaiting_approval" and tasks("dispatcher")[me] == "approve"
    desk.act("dispatcher", "approve_extension")
    desk.act("handler", "handle")
    assert tasks("inspector")[me] == "check" and me not in tasks("handler")
    desk.act("inspector", "check", result="pass")
    assert tasks("leader")[me] == "close" and me not in tasks("inspector")
    desk.act("leader", "close")
    assert tasks("operator")[me] == "callback" and tasks("leader")[me] == "callback"  # 回访 of the hotline caller
    assert all(me not in tasks(role) for role in ("dispatcher", "handler", "inspector"))
    desk.act("operator", "callback", result="satisfied", resolved=True)
    assert all(me not in tasks(role) for role in ("operator", "leader", "dispatcher", "handler", "inspector"))
    assert client.get("/api/v1/queues/mine").status_code == 401


def test_a_report_not_found_on_site_is_cancelled(desk: Desk) -> None:
    desk.act("operator", "request_verification")
    desk.act("inspector", "verify", expect=422)  # pass or fail is required
    desk.act("inspector", "verify", result="fail", note="现场未发现")
    assert desk.case["status"] == "cancelled" and desk.case["light"] is None
    assert desk.case["events"][-1]["payload"] == {"result": "fail", "note": "现场未发现"}


def test_without_the_automatic_check_the_centre_requests_it(desk: Desk, app) -> None:  # type: ignore[no-untyped-def]
    original = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = original.with_overrides({"auto_request_check": False})
    try:
        dispatched_to_test_department(desk)
        desk.act("handler", "handle")
        assert desk.case["status"] == "handled"
        desk.act("inspector", "check", expect=422)
        desk.act("operator", "request_check")
        assert desk.case["status"] == "checking" and desk.case["events"][-1]["actor_id"] is not None
    finally:
        app.extensions["citymgmt.settings"] = original


def test_a_suspected_duplicate_waits_and_its_reporter_follows_the_original(client, token_for, make_user) -> None:  # type: ignore[no-untyped-def]
    first = client.post("/api/v1/cases", json=CALL | {"source": None, "contact": None}, headers=token_for("inspector"))
    original = first.get_json()
    assert original["status"] == "dispatched"
    make_user("t-inspector-2", "inspector")
    second_token = client.post(
        "/api/v1/auth/token", json={"username": "t-inspector-2", "password": "a-good-long-password"}
    )
    other = {"Authorization": f"Bearer {second_token.get_json()['token']}"}
    again = client.post("/api/v1/cases", json=CALL | {"source": None, "contact": None}, headers=other).get_json()
    assert again["suspected_duplicate"] is True
    assert again["status"] == "filed" and again["department_code"] is None  # filed, not dispatched twice
    assert client.get(f"/api/v1/cases/{original['id']}", headers=other).status_code == 404
    Desk(client, token_for, again).act("operator", "merge", original=original["id"])
    assert client.get(f"/api/v1/cases/{original['id']}", headers=other).status_code == 200
