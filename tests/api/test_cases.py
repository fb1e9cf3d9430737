"""POST /api/v1/cases (intake) and GET /api/v1/cases/{id}: what the inspector app and the centre see."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from citymgmt.core.identity import create_user
from dispatch.cases.models import CLOCK_COPIES
from dispatch.sla.sweep import sweep
from dispatch.workflow.views import list_cases
from grids.crs import wgs84_to_gcj02
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("beijing")

FORBIDDEN_CITY = {"lon": 116.3906, "lat": 39.9158}
GARBAGE = {"category_code": "E0102", **FORBIDDEN_CITY, "description": "路边暴露垃圾，约两袋"}


def count(db_session, table: str) -> int:  # type: ignore[no-untyped-def]
    return int(db_session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_an_inspector_report_becomes_a_case_in_its_cell(client, token_for, db_session, clock) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector"))
    assert response.status_code == 201
    case = response.get_json()
    assert case["status"] == "dispatched" and case["source"] == "inspector" and case["urgency"] == "normal"
    assert case["district_code"] == "110101" and case["cell_code"].startswith(case["community_code"])
    assert case["code"].startswith("20261123") and len(case["code"]) >= 13  # the day in Beijing, then a number
    assert case["contact"] is None
    # An inspector's report is filed on arrival and a matching rule dispatches it at once (automatic steps).
    event, routed, filed, dispatched = case["events"]
    assert routed["action"] == "route" and routed["payload"]["department"] == "110101-sanitation"
    assert routed["payload"]["rule"] == "e-sanitation" and routed["actor_id"] is None
    assert (filed["action"], filed["from_status"], filed["to_status"]) == ("file", "reported", "filed")
    assert filed["payload"] == {"automatic": True, "rule": "e-sanitation"}
    assert dispatched["payload"] == {"automatic": True, "rule": "e-sanitation", "department": "110101-sanitation"}
    assert case["department_code"] == case["suggested_department_code"] == "110101-sanitation"
    assert case["version"] == 3 and case["light"] == "green"
    # 4 working hours from Monday 09:30: 2.5 h to noon, 1.5 h after 14:00 → 15:30 in Beijing.
    assert case["due_at"] == case["disposal_due_at"] == "2026-11-23T07:30:00+00:00"
    assert case["warn_at"] == "2026-11-23T06:42:00+00:00"  # 80% of 4 h = 3.2 h → 14:42
    assert event["action"] == "report" and event["to_status"] == "reported" and event["from_status"] is None
    assert event["at"].startswith(clock.now().isoformat()[:19])
    assert event["payload"] == {
        "source": "inspector",
        "category_code": "E0102",
        "cell_code": case["cell_code"],
        "duplicate_candidates": [],
    }
    stored = db_session.execute(
        text("SELECT ST_X(point), ST_Y(point), ST_SRID(point), reporter_id FROM cases WHERE id = :id"),
        {"id": case["id"]},
    ).one()
    assert stored[:3] == (116.3906, 39.9158, 4326) and stored[3] is not None


def test_a_gcj02_report_is_stored_in_wgs84(client, token_for) -> None:  # type: ignore[no-untyped-def]
    lon, lat = wgs84_to_gcj02(116.3906, 39.9158)
    body = {**GARBAGE, "lon": lon, "lat": lat, "crs": "gcj02"}
    case = client.post("/api/v1/cases", json=body, headers=token_for("inspector")).get_json()
    assert case["lon"] == pytest.approx(116.3906, abs=1e-7) and case["lat"] == pytest.approx(39.9158, abs=1e-7)


def test_the_same_idempotency_key_gives_the_same_case(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    headers = {**token_for("inspector"), "Idempotency-Key": "report-2026-0001"}
    first = client.post("/api/v1/cases", json=GARBAGE, headers=headers)
    before = (count(db_session, "cases"), count(db_session, "case_events"))
    for _ in range(9):
        again = client.post("/api/v1/cases", json=GARBAGE, headers=headers)
        assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert (count(db_session, "cases"), count(db_session, "case_events")) == before
    # Keys belong to their reporter: another user's identical key is another report.
    other = client.post(
        "/api/v1/cases", json=GARBAGE, headers={**token_for("operator"), "Idempotency-Key": "report-2026-0001"}
    )
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]


def test_a_retry_gets_its_case_even_when_its_body_would_now_be_refused(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    # Intake looks no key up before it works (the unique key on insert finds a retry): a retry that fails a check
    # today (here a category that does not exist; in life one retired since) still gets the first case.
    headers = {**token_for("inspector"), "Idempotency-Key": "report-2026-0002"}
    first = client.post("/api/v1/cases", json=GARBAGE, headers=headers)
    assert first.status_code == 201
    db_session.execute(text("UPDATE taxonomy_versions SET current = false"))  # no taxonomy: intake would refuse
    db_session.commit()
    again = client.post("/api/v1/cases", json=GARBAGE, headers=headers)
    assert again.status_code == 201
    # The first answer is built from what was written, the retry's read back from the database: the same.
    assert again.get_json() == first.get_json()
    fresh = client.get(f"/api/v1/cases/{first.get_json()['id']}", headers=token_for("operator")).get_json()
    assert {k: v for k, v in fresh.items() if k != "allowed_actions"} == {
        k: v for k, v in first.get_json().items() if k != "allowed_actions"
    }


def test_a_key_used_again_for_another_report_is_refused(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    headers = {**token_for("inspector"), "Idempotency-Key": "report-2026-0003"}
    first = client.post("/api/v1/cases", json=GARBAGE, headers=headers)
    assert first.status_code == 201
    before = (count(db_session, "cases"), count(db_session, "case_events"))
    for other in (
        {**GARBAGE, "description": "另一处垃圾"},
        {**GARBAGE, "lon": 116.3907},
        {**GARBAGE, "urgency": "normal"},
    ):
        refused = client.post("/api/v1/cases", json=other, headers=headers)
        assert refused.status_code == 422, refused.get_json()
        error = refused.get_json()["error"]
        assert error["code"] == "idempotency_key_reused" and error["details"] == {
            "Idempotency-Key": "used for another report"
        }
        assert first.get_json()["code"] in error["message"]
    assert (count(db_session, "cases"), count(db_session, "case_events")) == before
    again = client.post("/api/v1/cases", json=GARBAGE, headers=headers)  # the same report: its case
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]


def test_a_hotline_report_keeps_the_callers_contact(client, token_for) -> None:  # type: ignore[no-untyped-def]
    body = {
        **GARBAGE,
        "source": "hotline",
        "contact": {"name": "张先生", "phone": "138 0013 8000"},
        "urgency": "normal",
    }
    case = client.post("/api/v1/cases", json=body, headers=token_for("operator")).get_json()
    assert case["source"] == "hotline" and case["contact"] == {"name": "张先生", "phone": "138 0013 8000"}


@pytest.mark.parametrize(
    ("change", "status", "field", "message"),
    [
        ({"category_code": "E05"}, 422, "category_code", "E05 is a major class"),
        ({"category_code": "X9999"}, 422, "category_code", "no category X9999"),
        ({"category_code": None}, 422, "category_code", "invalid category_code"),
        ({"urgency": "urgent"}, 422, "urgency", "E0102 has no urgent time limit"),
        ({"urgency": "panic"}, 422, "urgency", "invalid urgency"),
        ({"lon": 117.2, "lat": 39.13}, 422, "nearest_cell", "outside every grid cell"),
        ({"lon": "east"}, 400, "lon", "lon must be a number"),
        ({"lon": 39.9, "lat": 116.4}, 400, "lat", "lon and lat look swapped"),
        ({"description": "x" * 2001}, 422, "description", "invalid description"),
        ({"contact": {"name": "x"}}, 422, "contact", "an inspector's report carries no contact"),
        ({"contact": {"email": "not-an-address"}}, 422, "contact", "invalid contact"),
    ],
)
def test_bad_reports_are_refused_naming_the_field_and_nothing_is_written(  # type: ignore[no-untyped-def]
    client, token_for, db_session, change, status: int, field: str, message: str
) -> None:
    headers = token_for("inspector")
    before = (count(db_session, "cases"), count(db_session, "case_events"))
    body = {k: v for k, v in {**GARBAGE, **change}.items() if v is not None}
    response = client.post("/api/v1/cases", json=body, headers=headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert message in error["message"] and field in error["details"]
    assert (count(db_session, "cases"), count(db_session, "case_events")) == before


def test_a_malformed_idempotency_key_is_a_bad_request(client, token_for) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/cases", json=GARBAGE, headers={**token_for("inspector"), "Idempotency-Key": "x"})
    assert response.status_code == 400 and "Idempotency-Key" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    ("role", "status"), [("handler", 403), ("supervisor", 403), ("inspector", 201), ("dispatcher", 201)]
)
def test_who_may_report(client, token_for, role: str, status: int) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/cases", json=GARBAGE, headers=token_for(role)).status_code == status


def test_an_inspector_cannot_pose_as_the_hotline(client, token_for) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/cases", json={**GARBAGE, "source": "hotline"}, headers=token_for("inspector"))
    assert response.status_code == 403 and response.get_json()["error"]["details"]["source"] == "hotline"


def test_reading_a_case(client, token_for, make_user) -> None:  # type: ignore[no-untyped-def]
    case = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector")).get_json()
    path = f"/api/v1/cases/{case['id']}"
    assert client.get(path, headers=token_for("operator")).get_json()["code"] == case["code"]
    assert client.get(path, headers=token_for("inspector")).status_code == 200  # the reporter
    make_user("t-other-inspector", "inspector")
    other = client.post(
        "/api/v1/auth/token", json={"username": "t-other-inspector", "password": "a-good-long-password"}
    )
    assert client.get(path, headers={"Authorization": f"Bearer {other.get_json()['token']}"}).status_code == 404
    # Not dispatched yet: no handler sees it, and a missing case looks the same.
    assert client.get(path, headers=token_for("handler")).status_code == 404
    assert client.get("/api/v1/cases/999999", headers=token_for("operator")).status_code == 404
    assert client.get(path).status_code == 401


def test_a_second_report_nearby_is_flagged_as_a_candidate_duplicate(client, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("inspector")
    first = client.post("/api/v1/cases", json=GARBAGE, headers=headers).get_json()
    assert first["suspected_duplicate"] is False and first["duplicate_candidates"] == []
    clock.advance(hours=3)
    # About 20 m east, same category: a candidate.
    near = client.post("/api/v1/cases", json={**GARBAGE, "lon": 116.39083}, headers=headers).get_json()
    assert near["suspected_duplicate"] is True
    [candidate] = near["duplicate_candidates"]
    assert candidate["id"] == first["id"] and candidate["code"] == first["code"] and 15 < candidate["distance_m"] < 25
    assert near["events"][0]["payload"]["duplicate_candidates"] == near["duplicate_candidates"]
    # Another category at the same spot, or the same category 100 m away, is not.
    other = client.post("/api/v1/cases", json={**GARBAGE, "category_code": "E0104"}, headers=headers).get_json()
    far = client.post("/api/v1/cases", json={**GARBAGE, "lat": 39.9167}, headers=headers).get_json()
    assert other["suspected_duplicate"] is False and far["suspected_duplicate"] is False


def test_after_the_window_a_report_is_new_again(client, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("inspector")
    client.post("/api/v1/cases", json=GARBAGE, headers=headers)
    clock.advance(hours=24, minutes=1)
    headers = token_for("inspector")  # the first token has expired (12 h)
    later = client.post("/api/v1/cases", json=GARBAGE, headers=headers)
    assert later.status_code == 201, later.get_json()
    assert later.get_json()["suspected_duplicate"] is False


def test_the_duplicate_rule_is_configuration(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.core.config import ConfigError, Settings

    monkeypatch.setenv("CITYMGMT_DUPLICATE_RADIUS_M", "80")
    monkeypatch.setenv("CITYMGMT_DUPLICATE_WINDOW_HOURS", "48")
    settings = Settings.from_env()
    assert (settings.duplicate_radius_m, settings.duplicate_window_hours) == (80.0, 48.0)
    monkeypatch.setenv("CITYMGMT_DUPLICATE_RADIUS_M", "-1")
    with pytest.raises(ConfigError, match=r"CITYMGMT_DUPLICATE_RADIUS_M=-1\.0"):
        Settings.from_env()


def test_listing_cases_with_filters_and_pages(client, token_for) -> None:  # type: ignore[no-untyped-def]
    inspector = token_for("inspector")
    codes = []
    for body in (GARBAGE, {**GARBAGE, "category_code": "E0104"}, {**GARBAGE, "lon": 116.3831, "lat": 39.9250}):
        codes.append(client.post("/api/v1/cases", json=body, headers=inspector).get_json()["code"])
    staff = token_for("operator")
    listed = client.get("/api/v1/cases?page_size=2", headers=staff)
    assert listed.status_code == 200
    assert [c["code"] for c in listed.get_json()] == codes[::-1][:2]  # newest first
    paging = json.loads(listed.headers["X-Pagination"])
    assert paging["total"] == 3 and paging["total_pages"] == 2
    second = client.get("/api/v1/cases?page_size=2&page=2", headers=staff).get_json()
    assert [c["code"] for c in second] == [codes[0]]
    by_district = client.get("/api/v1/cases?cell=110102", headers=staff).get_json()
    assert [c["code"] for c in by_district] == [codes[2]]  # Beihai Park is in Xicheng
    by_category = client.get("/api/v1/cases?category=E0104&status=dispatched", headers=staff).get_json()
    assert [c["code"] for c in by_category] == [codes[1]]
    assert client.get("/api/v1/cases?status=done", headers=staff).status_code == 400
    assert client.get("/api/v1/cases?cell=abc", headers=staff).status_code == 400


def test_the_cell_filter_matches_every_prefix_length_and_the_total_is_bounded(client, token_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    inspector = token_for("inspector")
    made = [client.post("/api/v1/cases", json=GARBAGE, headers=inspector).get_json() for _ in range(3)]
    cell = made[0]["cell_code"]
    staff = token_for("operator")
    for digits in range(6, 16):  # a district, street, community or cell code, and the lengths between
        listed = client.get(f"/api/v1/cases?cell={cell[:digits]}", headers=staff)
        assert len(listed.get_json()) == 3, digits
        assert listed.headers["X-Total-Exact"] == "true"
    assert client.get(f"/api/v1/cases?cell={cell[:5]}9", headers=staff).get_json() == []
    assert client.get(f"/api/v1/cases?cell={cell[:11]}{(int(cell[11]) + 1) % 10}", headers=staff).get_json() == []
    monkeypatch.setattr("citymgmt.api.cases.COUNT_AHEAD", 1)  # counted no further than one past the page
    first = client.get("/api/v1/cases?page_size=1", headers=staff)
    assert json.loads(first.headers["X-Pagination"])["total"] == 2 and first.headers["X-Total-Exact"] == "false"
    assert json.loads(first.headers["X-Pagination"])["next_page"] == 2
    last = client.get("/api/v1/cases?page_size=1&page=3", headers=staff)
    assert [c["code"] for c in last.get_json()] == [made[0]["code"]]
    assert json.loads(last.headers["X-Pagination"])["total"] == 3 and last.headers["X-Total-Exact"] == "true"


def test_the_queue_total_is_bounded_past_the_page(client, token_for, db_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    inspector = token_for("inspector")
    made = [  # 170 m apart: no report is a suspected duplicate of another; each is dispatched by the rules
        client.post("/api/v1/cases", json={**GARBAGE, "lon": GARBAGE["lon"] + 0.002 * i}, headers=inspector).get_json()
        for i in range(3)
    ]
    department = made[0]["department_code"]
    assert department and all(c["department_code"] == department for c in made)
    create_user(db_session, "t-handler-2", PASSWORD, ["handler"], department_code=department)
    db_session.commit()
    signed = client.post("/api/v1/auth/token", json={"username": "t-handler-2", "password": PASSWORD})
    handler = {"Authorization": f"Bearer {signed.get_json()['token']}"}
    whole = client.get("/api/v1/queues/mine", headers=handler)
    assert json.loads(whole.headers["X-Pagination"])["total"] == 3 and whole.headers["X-Total-Exact"] == "true"
    monkeypatch.setattr("citymgmt.api.queues.COUNT_AHEAD", 1)
    first = client.get("/api/v1/queues/mine?page_size=1", headers=handler)
    assert json.loads(first.headers["X-Pagination"])["total"] == 2 and first.headers["X-Total-Exact"] == "false"
    last = client.get("/api/v1/queues/mine?page_size=1&page=2", headers=handler)
    assert json.loads(last.headers["X-Pagination"])["total"] == 3 and last.headers["X-Total-Exact"] == "true"
    assert [len(r.get_json()) for r in (first, last)] == [1, 1]


def test_the_queue_merges_its_states_soonest_deadline_first(client, token_for, db_session) -> None:  # type: ignore[no-untyped-def]
    """The shift leader's tasks in four states, read state by state: one order, soonest deadline first, ties by id,
    the call-backs (no clock) last, each case named by its first task, and paged across the states."""
    inspector = token_for("inspector")
    made = [
        client.post("/api/v1/cases", json={**GARBAGE, "lon": GARBAGE["lon"] + 0.002 * i}, headers=inspector).get_json()
        for i in range(6)
    ]
    ids = [c["id"] for c in made]
    states = [  # (status, hours to the deadline or None, source, verified, check_passed, callback_pending)
        ("handled", 3, "inspector", False, None, False),
        ("reported", 1, "hotline", False, None, False),  # accept (受理)
        ("checking", 3, "inspector", False, True, False),  # close; the deadline of the first: after it, by id
        ("closed", None, "hotline", True, True, True),  # 回访
        ("checking", 2, "inspector", False, None, False),  # the inspector's check: not the leader's
        ("reported", 2, "inspector", True, None, False),  # file (an inspector's report, verified)
    ]
    for case_id, (status, hours, source, verified, passed, callback) in zip(ids, states, strict=True):
        db_session.execute(
            text(
                "UPDATE cases SET status = :status, due_at = now() + make_interval(hours => :hours), source = :source,"
                " verified = :verified, check_passed = :passed, callback_pending = :callback WHERE id = :id"
            ),
            {"status": status, "hours": hours, "source": source, "verified": verified, "passed": passed}
            | {"callback": callback, "id": case_id},
        )
    db_session.commit()
    leader = token_for("leader")
    expected = [
        (ids[1], "accept"),
        (ids[5], "file"),
        (ids[0], "request_check"),
        (ids[2], "close"),
        (ids[3], "callback"),
    ]
    whole = client.get("/api/v1/queues/mine", headers=leader)
    assert [(c["id"], c["task"]) for c in whole.get_json()] == expected
    assert json.loads(whole.headers["X-Pagination"])["total"] == 5
    pages = [client.get(f"/api/v1/queues/mine?page_size=2&page={n}", headers=leader).get_json() for n in (1, 2, 3)]
    assert [(c["id"], c["task"]) for page in pages for c in page] == expected
    assert [c["id"] for c in client.get("/api/v1/queues/mine", headers=token_for("operator")).get_json()] == [
        ids[1],
        ids[0],
        ids[3],
    ]


def test_the_supervisors_queue_is_the_red_cases_not_escalated(
    client, token_for, db_session, clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The overdue task (red, not escalated), read from the clocks: the same cases and count where one case is red,
    where most are, and as escalations (the supervisor's own, the sweep's of an overdue disposal) take them out."""
    inspector = token_for("inspector")
    ids = [
        client.post("/api/v1/cases", json={**GARBAGE, "lon": GARBAGE["lon"] + 0.002 * i}, headers=inspector).get_json()[
            "id"
        ]
        for i in range(6)
    ]

    def lights(rows: list[tuple[str, str, float, bool]]) -> None:  # as any writer would: the clocks follow the cases
        for case_id, (status, light, hours, escalated) in zip(ids, rows, strict=True):
            db_session.execute(
                text(
                    "UPDATE cases SET status = :status, light = :light, due_at = :now + make_interval(hours => :hours),"
                    " escalated = :escalated WHERE id = :id"
                ),
                {"status": status, "light": light, "hours": hours, "escalated": escalated, "id": case_id}
                | {"now": clock.now()},
            )
        db_session.commit()

    supervisor = token_for("supervisor")

    def queue(query: str = "") -> tuple[list[tuple[int, str]], int, str]:
        response = client.get(f"/api/v1/queues/mine{query}", headers=supervisor)
        assert response.status_code == 200
        total = json.loads(response.headers["X-Pagination"])["total"]
        return [(c["id"], c["task"]) for c in response.get_json()], total, response.headers["X-Total-Exact"]

    few = [("dispatched", "green", 5, False)] * 6
    few[3] = ("handled", "red", -2, False)
    lights(few)
    assert queue() == ([(ids[3], "overdue")], 1, "true")
    lights(
        [
            ("filed", "red", -3, False),
            ("dispatched", "red", -4, True),  # escalated, waiting for the department's reply: not the supervisor's
            ("handled", "red", -2, False),
            ("dispatched", "green", 5, False),
            ("checking", "yellow", 1, False),
            ("reported", "red", -1, False),
        ]
    )
    expected = [(ids[0], "overdue"), (ids[2], "overdue"), (ids[5], "overdue")]
    assert queue() == (expected, 3, "true")
    pages = [queue(f"?page_size=1&page={n}")[0] for n in (1, 2, 3)]
    assert [item for page in pages for item in page] == expected
    monkeypatch.setattr("citymgmt.api.queues.COUNT_AHEAD", 1)
    assert queue("?page_size=1") == ([(ids[0], "overdue")], 2, "false")
    monkeypatch.undo()
    version = client.get(f"/api/v1/cases/{ids[0]}", headers=supervisor).get_json()["version"]
    escalated = client.post(
        f"/api/v1/cases/{ids[0]}/actions/escalate",
        json={"note": "请尽快处理"},
        headers={**supervisor, "If-Match": str(version)},
    )
    assert escalated.status_code == 200, escalated.get_json()
    assert queue() == (expected[1:], 2, "true")
    # Past their deadlines at the sweep: the dispatched one turns red and is escalated (督办), the checking one red.
    for case_id, minutes in ((ids[3], -30), (ids[4], -20)):
        db_session.execute(
            text("UPDATE cases SET due_at = :now + make_interval(mins => :minutes) WHERE id = :id"),
            {"now": clock.now(), "minutes": minutes, "id": case_id},
        )
    db_session.commit()
    swept = sweep(db_session, clock.now(), True)
    db_session.commit()
    assert set(swept.overdue) == {ids[3], ids[4]} and swept.escalated == [ids[3]]
    assert queue() == ([*expected[1:], (ids[4], "overdue")], 3, "true")
    copies = db_session.execute(
        text(
            "SELECT count(*) FROM cases c JOIN case_clocks k ON k.case_id = c.id WHERE c.id = ANY (:ids)"
            " AND (c.status, c.light, c.due_at, c.escalated) = (k.status, k.light, k.due_at, k.escalated)"
        ),
        {"ids": ids},
    ).scalar_one()
    assert copies == 6


def test_a_handlers_replies_and_the_escalated_list_are_read_from_the_clocks(
    client, token_for, users, department, db_session, clock
) -> None:  # type: ignore[no-untyped-def]
    """The escalated cases (督办) are found on their clocks, which copy the escalation and the department while a
    case has one (no index of cases may name what the sweep writes): the department's replies in every open state, the
    supervisors' list of escalations newest first, as the supervisor, the sweep and the reply change them."""
    inspector = token_for("inspector")
    ids = [
        client.post("/api/v1/cases", json={**GARBAGE, "lon": GARBAGE["lon"] + 0.002 * i}, headers=inspector).get_json()[
            "id"
        ]
        for i in range(5)
    ]
    rows = [  # (state, light, deadline in hours, escalated), all of the handler's department
        ("dispatched", "green", 5, True),
        ("suspended", None, None, True),  # no light: its clock is kept for its escalation
        ("handled", "yellow", 1, True),
        ("dispatched", "yellow", -1, False),  # overdue at the sweep: escalated by it
        ("checking", "green", 3, False),
    ]
    for case_id, (status, light, hours, escalated) in zip(ids, rows, strict=True):
        db_session.execute(
            text(
                "UPDATE cases SET status = :status, light = :light, due_at = :due, warn_at = :warn,"
                " escalated = :escalated, department_code = :department,"
                " escalation_due_at = CASE WHEN :escalated THEN :now + interval '8 hours' END WHERE id = :id"
            ),
            {"status": status, "light": light, "escalated": escalated, "id": case_id, "department": department}
            | {"now": clock.now()}
            | (
                {"due": None, "warn": None}
                if hours is None
                else {"due": clock.now() + timedelta(hours=hours), "warn": clock.now() - timedelta(hours=3)}
            ),
        )
    db_session.commit()
    handler = token_for("handler")

    def replies() -> list[int]:
        response = client.get("/api/v1/queues/mine", headers=handler)
        assert response.status_code == 200
        return sorted(c["id"] for c in response.get_json() if c["task"] == "reply")

    def escalations() -> tuple[list[int], int]:
        listed = list_cases(db_session, users["supervisor"], {"escalated": True}, 0, 10, count_ahead=100)
        return [c.id for c in listed.cases], listed.total

    assert replies() == ids[:3]
    assert escalations() == ([ids[2], ids[1], ids[0]], 3)  # newest first
    swept = sweep(db_session, clock.now(), True)
    db_session.commit()
    assert swept.escalated == [ids[3]]
    assert replies() == ids[:4] and escalations() == ([ids[3], ids[2], ids[1], ids[0]], 4)
    version = client.get(f"/api/v1/cases/{ids[1]}", headers=handler).get_json()["version"]
    replied = client.post(
        f"/api/v1/cases/{ids[1]}/actions/reply",
        json={"note": "已安排施工队，今日处理"},
        headers={**handler, "If-Match": str(version)},
    )
    assert replied.status_code == 200, replied.get_json()
    assert replies() == [ids[0], ids[2], ids[3]] and escalations() == ([ids[3], ids[2], ids[0]], 3)
    same = " AND ".join(f"c.{name} IS NOT DISTINCT FROM k.{name}" for name in CLOCK_COPIES)
    copies = db_session.execute(
        text(
            f"SELECT count(*) FILTER (WHERE {same}), count(*) FROM cases c JOIN case_clocks k ON k.case_id = c.id"  # noqa: S608 (names only)
            " WHERE c.id = ANY (:ids) AND (c.light IS NOT NULL OR c.escalated)"
        ),
        {"ids": ids},
    ).one()
    assert tuple(copies) == (4, 4)  # the reply ended the suspended case's escalation: its clock is no longer kept


def test_the_light_filter_lists_the_cases_of_that_light_newest_first(
    client, token_for, db_session, clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    inspector = token_for("inspector")
    made = []
    for i in range(5):  # 170 m apart, a minute apart: dispatched to the same department, newest last
        body = {**GARBAGE, "lon": GARBAGE["lon"] + 0.002 * i}
        made.append(client.post("/api/v1/cases", json=body, headers=inspector).get_json())
        clock.advance(minutes=1)
    lights = ["red", "green", "red", "yellow", "red"]
    for case, light in zip(made, lights, strict=True):  # as any writer of a light would (the clocks follow)
        db_session.execute(text("UPDATE cases SET light = :light WHERE id = :id"), {"light": light, "id": case["id"]})
    red = [c["code"] for c, light in zip(made, lights, strict=True) if light == "red"][::-1]
    department = made[0]["department_code"]
    create_user(db_session, "t-handler-3", PASSWORD, ["handler"], department_code=department)
    db_session.commit()
    signed = client.post("/api/v1/auth/token", json={"username": "t-handler-3", "password": PASSWORD})
    handler = {"Authorization": f"Bearer {signed.get_json()['token']}"}
    for who, query in (  # the clocks alone (a supervisor), with another filter, and with the handler's visibility
        (token_for("supervisor"), "light=red"),
        (token_for("operator"), "light=red&status=dispatched"),
        (handler, "light=red"),
    ):
        listed = client.get(f"/api/v1/cases?{query}", headers=who)
        assert [c["code"] for c in listed.get_json()] == red, query
        assert all(c["light"] == "red" for c in listed.get_json())
        assert json.loads(listed.headers["X-Pagination"])["total"] == 3 and listed.headers["X-Total-Exact"] == "true"
        pages = [client.get(f"/api/v1/cases?{query}&page_size=1&page={n}", headers=who).get_json() for n in (1, 2, 3)]
        assert [c["code"] for page in pages for c in page] == red, query
    assert [c["code"] for c in client.get("/api/v1/cases?light=yellow", headers=handler).get_json()] == [
        made[3]["code"]
    ]
    assert client.get("/api/v1/cases?light=red&status=filed", headers=handler).get_json() == []
    assert client.get("/api/v1/cases?light=blue", headers=handler).status_code == 400
    monkeypatch.setattr("citymgmt.api.cases.COUNT_AHEAD", 1)  # counted no further than one past the page
    first = client.get("/api/v1/cases?light=red&page_size=1", headers=token_for("supervisor"))
    assert json.loads(first.headers["X-Pagination"])["total"] == 2 and first.headers["X-Total-Exact"] == "false"


def test_listing_shows_each_role_only_what_it_may_see(client, token_for, make_user) -> None:  # type: ignore[no-untyped-def]
    mine = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector")).get_json()["code"]
    client.post("/api/v1/cases", json=GARBAGE, headers=token_for("operator"))
    assert [c["code"] for c in client.get("/api/v1/cases", headers=token_for("inspector")).get_json()] == [mine]
    assert len(client.get("/api/v1/cases", headers=token_for("supervisor")).get_json()) == 2
    assert client.get("/api/v1/cases", headers=token_for("handler")).get_json() == []  # nothing dispatched yet
    assert client.get("/api/v1/cases").status_code == 401


def test_mine_lists_only_the_callers_own_reports(client, token_for, db_session, users) -> None:  # type: ignore[no-untyped-def]
    mine = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector")).get_json()
    other = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("operator")).get_json()
    db_session.execute(  # the inspector walks the cell: the operator's case is visible, but not "mine"
        text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, now())"),
        {"u": users["inspector"].id, "c": other["cell_code"]},
    )
    db_session.commit()
    seen = client.get("/api/v1/cases", headers=token_for("inspector")).get_json()
    assert {c["id"] for c in seen} == {mine["id"], other["id"]}
    listed = client.get("/api/v1/cases?mine=true", headers=token_for("inspector")).get_json()
    assert [c["id"] for c in listed] == [mine["id"]]
    assert client.get("/api/v1/cases?mine=true", headers=token_for("supervisor")).get_json() == []
    assert client.get("/api/v1/cases?mine=perhaps", headers=token_for("inspector")).status_code == 400
