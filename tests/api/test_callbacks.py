"""Call-backs (回访): closing a public or hotline case opens a call-back in the operators' queue; the caller's answer
is an event; an unsatisfied caller may reopen the case as rework; 接诉即办's three rates count them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from citymgmt.core.identity import create_user
from dispatch.metrics import operations as metrics
from tests.api.test_workflow import CALL, Desk, dispatched_to_test_department
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("beijing")
NOTE = {"note": "垃圾又堆起来了"}


@pytest.fixture
def open_call(client, token_for, users, db_session):  # type: ignore[no-untyped-def]
    """A new case of the source given (a hotline call by default), in a cell the test inspector walks."""
    assigned: set[str] = set()

    def report(source: str = "hotline") -> Desk:
        body: dict[str, Any] = {**CALL, "source": source}
        if source == "inspector":
            body.pop("contact")
            body.pop("source")
        role = "inspector" if source == "inspector" else "operator"
        response = client.post("/api/v1/cases", json=body, headers=token_for(role))
        assert response.status_code == 201, response.get_json()
        case = response.get_json()
        if case["cell_code"] not in assigned:
            db_session.execute(
                text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, now())"),
                {"u": users["inspector"].id, "c": case["cell_code"]},
            )
            assigned.add(case["cell_code"])
        return Desk(client, token_for, case)

    return report


def handled_checked_closed(desk: Desk) -> None:
    desk.act("handler", "handle", note="已清运")
    desk.act("inspector", "check", result="pass")
    desk.act("leader", "close")


def closed(desk: Desk) -> Desk:
    dispatched_to_test_department(desk)
    handled_checked_closed(desk)
    return desk


def tasks(desk: Desk, role: str) -> dict[int, str]:
    response = desk.client.get("/api/v1/queues/mine?page_size=500", headers=desk.headers(role))
    assert response.status_code == 200
    return {item["id"]: item["task"] for item in response.get_json()}


def test_closing_a_hotline_case_opens_its_call_back(open_call) -> None:  # type: ignore[no-untyped-def]
    desk = closed(open_call())
    me = desk.case["id"]
    assert desk.case["callback_pending"] is True and desk.case["events"][-1]["payload"] == {"callback": True}
    assert tasks(desk, "operator")[me] == "callback" and "callback" in desk.view("operator")["allowed_actions"]
    assert me not in tasks(desk, "dispatcher") and me not in tasks(desk, "handler")
    desk.act("dispatcher", "callback", expect=403, result="satisfied", resolved=True)
    refused = desk.act("operator", "callback", expect=422, resolved=True)["error"]
    assert refused["details"] == {"result": "satisfied or basically_satisfied or unsatisfied"}
    refused = desk.act("operator", "callback", expect=422, result="satisfied")["error"]
    assert refused["details"] == {"resolved": "required"}
    refused = desk.act("operator", "callback", expect=422, result="pleased", resolved=True)["error"]
    assert "result" in refused["details"]  # the schema names the field
    desk.act("operator", "callback", result="basically_satisfied", resolved=True, note="来电人表示基本满意")
    event = desk.case["events"][-1]
    assert event["action"] == "callback" and event["actor_id"] is not None and event["at"]
    assert event["payload"] == {"result": "basically_satisfied", "resolved": True, "note": "来电人表示基本满意"}
    assert desk.case["status"] == "closed" and desk.case["callback_pending"] is False
    assert me not in tasks(desk, "operator") and "callback" not in desk.view("operator")["allowed_actions"]
    desk.act("operator", "callback", expect=422, result="satisfied", resolved=True)  # once


def test_an_inspectors_own_report_is_not_called_back(open_call, db_session, client) -> None:  # type: ignore[no-untyped-def]
    desk = open_call("inspector")  # filed and dispatched on arrival, to the locality's department
    assert desk.case["status"] == "dispatched"
    create_user(db_session, "t-local-handler", PASSWORD, ["handler"], department_code=desk.case["department_code"])
    db_session.commit()
    token = client.post("/api/v1/auth/token", json={"username": "t-local-handler", "password": PASSWORD})
    desk.tokens["handler"] = {"Authorization": f"Bearer {token.get_json()['token']}"}
    handled_checked_closed(desk)
    assert desk.case["status"] == "closed" and desk.case["callback_pending"] is False
    assert desk.case["id"] not in tasks(desk, "operator")


def test_an_unsatisfied_caller_reopens_the_case_as_rework_only_when_configured(open_call, app) -> None:  # type: ignore[no-untyped-def]
    kept = closed(open_call())
    kept.act("operator", "callback", result="unsatisfied", resolved=False)
    assert kept.case["status"] == "closed"  # CITYMGMT_CALLBACK_REWORK is off by default
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, callback_rework=True)
    try:
        desk = closed(open_call())
        satisfied = closed(open_call())
        satisfied.act("operator", "callback", result="satisfied", resolved=True)
        assert satisfied.case["status"] == "closed"
        desk.act("operator", "callback", result="unsatisfied", resolved=False, **NOTE)
        event = desk.case["events"][-1]
        assert event["payload"] == {
            "result": "unsatisfied",
            "resolved": False,
            "rework": True,
            "note": "垃圾又堆起来了",
        }
        assert (event["from_status"], event["to_status"]) == ("closed", "dispatched")
        assert desk.case["status"] == "dispatched" and desk.case["department_code"] == "t-water"
        assert desk.case["light"] is not None and desk.case["due_at"] == desk.case["disposal_due_at"]  # its clock runs
        assert tasks(desk, "handler")[desk.case["id"]] == "handle"
        handled_checked_closed(desk)  # handled, checked and closed again: called back again
        assert desk.case["callback_pending"] is True
        desk.act("operator", "callback", result="satisfied", resolved=True)
        assert desk.case["status"] == "closed"
    finally:
        app.extensions["citymgmt.settings"] = settings


def test_the_three_rates_against_a_hand_computed_scenario(open_call, app, clock, db_session) -> None:  # type: ignore[no-untyped-def]
    """Four calls and an inspector's report on one day:
    A answered at once, called back satisfied and solved; B answered 30 min late (the acceptance limit is 20 min),
    basically satisfied, not solved; C answered at once, unsatisfied and not solved, reopened as rework, closed
    again and unsatisfied again (counted once, by its last call-back); D never answered; the inspector's report is
    no call from the public.
    response (响应率) = answered in time / received = 2 / 4; resolution (解决率) = solved / called back = 1 / 3;
    satisfaction (满意率) = (satisfied + basically satisfied) / called back = 2 / 3."""
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, callback_rework=True)
    try:
        a, b, c, _d = open_call(), open_call(), open_call("public"), open_call()
        open_call("inspector")
        a.act("operator", "request_verification")
        c.act("operator", "request_verification")
        clock.advance(minutes=30)
        b.act("operator", "request_verification")
        for desk in (a, b, c):
            desk.act("inspector", "verify", result="pass")
            desk.act("leader", "file")
            desk.act("dispatcher", "dispatch", department="t-water")
            handled_checked_closed(desk)
        a.act("operator", "callback", result="satisfied", resolved=True)
        b.act("operator", "callback", result="basically_satisfied", resolved=False)
        c.act("operator", "callback", result="unsatisfied", resolved=False)
        handled_checked_closed(c)
        c.act("leader", "callback", result="unsatisfied", resolved=False)
    finally:
        app.extensions["citymgmt.settings"] = settings

    day = clock.now().date().isoformat()
    leader = a.headers("leader")

    def figures(group_by: str, key: str, fresh: bool) -> dict[str, Any]:
        query = f"group_by={group_by}&from={day}&to={day}" + ("&fresh=true" if fresh else "")
        response = a.client.get(f"/api/v1/metrics?{query}", headers=leader)
        assert response.status_code == 200, response.get_json()
        return next(g for g in response.get_json()["groups"] if g["key"] == key)

    metrics.refresh(db_session, clock.now(), settings)  # what the hourly job does
    for fresh in (True, False):
        district = figures("district", "110101", fresh)
        counts = {k: district["counts"][k] for k in metrics.COUNTS if k.startswith(("received", "respon", "callback"))}
        assert counts == {
            "received": 4,
            "responded": 2,
            "callbacks": 3,
            "callbacks_resolved": 1,
            "callbacks_satisfied": 1,
            "callbacks_basically_satisfied": 1,
        }
        rates = district["rates"]
        assert (rates["response_rate"], rates["resolution_rate"], rates["satisfaction_rate"]) == (
            0.5,
            round(1 / 3, 6),
            round(2 / 3, 6),
        )
        department = figures("department", "t-water", fresh)
        assert department["counts"]["callbacks"] == 3 and department["counts"]["received"] == 0
        assert department["rates"]["satisfaction_rate"] == round(2 / 3, 6)
        assert "response_rate" not in department["rates"]  # departments get a case once it is answered


def test_the_case_names_who_acted_and_offers_only_live_originals(open_call, users) -> None:  # type: ignore[no-untyped-def]
    """The desk's history says who acted (the case's `actors`: name and roles of each event's actor_id); a
    suspected duplicate is offered only originals that are still live, not one merged into another case since."""
    first, second = open_call(), open_call()
    third = open_call()  # a duplicate candidate of both
    assert {d["id"] for d in third.case["duplicate_candidates"]} == {first.case["id"], second.case["id"]}
    second.act("operator", "merge", original=first.case["id"])
    third.case = third.view("operator")
    assert [d["id"] for d in third.case["duplicate_candidates"]] == [first.case["id"]]
    listed = third.client.get("/api/v1/cases?status=cancelled", headers=third.headers("operator")).get_json()
    assert {c["id"]: c["duplicate_of"] for c in listed}[second.case["id"]] == first.case["id"]  # the lists say so
    third.act("operator", "merge", original=second.case["id"], expect=422)  # nor accepted as one
    third.act("operator", "request_verification")
    third.act("inspector", "verify", result="pass")
    actors = {a["id"]: a for a in third.case["actors"]}
    assert {e["actor_id"] for e in third.case["events"] if e["actor_id"]} == set(actors)
    assert actors[users["operator"].id]["roles"] == ["operator"]
    assert actors[users["inspector"].id]["display_name"] == users["inspector"].display_name
