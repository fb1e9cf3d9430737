"""Evaluation (DOMAIN.md §6): a small set of cases driven through the real workflow by the API, with every figure
computed by hand, from cases and events directly and from the daily roll-ups; the API, the CLI and the scores."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from citymgmt.core.config import Settings
from citymgmt.core.identity import create_user
from citymgmt.core.periodic import registered_periodic
from dispatch.metrics import operations as metrics
from dispatch.metrics.operations import Period
from tests.api.test_workflow import CALL, Desk
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("beijing")

PERIOD = Period(date(2026, 11, 23), date(2026, 11, 24))  # Monday and Tuesday
INSPECTOR_REPORT = {k: v for k, v in CALL.items() if k not in ("source", "contact")}


class City:
    """Six cases in one cell, each with a known outcome (times in Beijing, Monday 23 November 2026)."""

    def __init__(self, client, token_for, users, db_session, clock) -> None:  # type: ignore[no-untyped-def]
        self.client, self.token_for, self.clock = client, token_for, clock
        db_session.execute(
            text("INSERT INTO departments (code, name, name_en, kind) VALUES ('m-roads', '测试道路', 'Roads', 'roads')")
        )
        create_user(db_session, "m-handler", PASSWORD, ["handler"], department_code="m-roads")
        self.dispatcher2 = create_user(db_session, "m-dispatcher", PASSWORD, ["dispatcher"])  # the next shift's
        self.inspector, self.dispatcher, self.leader = users["inspector"], users["dispatcher"], users["leader"]
        self.desks: dict[str, Desk] = {}
        self.tokens: dict[str, dict[str, str]] = {}  # one sign-in per role, shared by the desks
        self.sign_in_all()

    def sign_in_all(self) -> None:
        self.tokens.clear()
        for role, username in (("roads", "m-handler"), ("dispatcher2", "m-dispatcher")):
            response = self.client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            self.tokens[role] = {"Authorization": f"Bearer {response.get_json()['token']}"}

    def report(self, name: str, role: str, body: dict[str, Any]) -> Desk:
        response = self.client.post("/api/v1/cases", json=body, headers=self.token_for(role))
        assert response.status_code == 201, response.get_json()
        self.desks[name] = Desk(self.client, self.token_for, response.get_json())
        self.desks[name].tokens = self.tokens
        return self.desks[name]

    def at(self, beijing: str, day: int = 23) -> None:
        hour, minute = (int(x) for x in beijing.split(":"))
        target = self.clock.at.replace(day=day, hour=hour - 8, minute=minute)
        assert target >= self.clock.at
        self.clock.at = target


@pytest.fixture
def city(client, token_for, users, db_session, clock) -> City:  # type: ignore[no-untyped-def]
    c = City(client, token_for, users, db_session, clock)
    a = c.report("A", "operator", CALL)  # 09:30
    db_session.execute(  # the inspector walks the cell since the day before
        text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, :at)"),
        {"u": c.inspector.id, "c": a.case["cell_code"], "at": clock.at - timedelta(days=1)},
    )
    b, cc, d, e = (c.report(n, "operator", CALL) for n in "BCDE")
    f = c.report("F", "inspector", INSPECTOR_REPORT)
    # F is the inspector's report: filed on arrival, not dispatched (a suspected duplicate of A).
    assert f.case["source"] == "inspector" and f.case["status"] == "filed"
    a.act("operator", "request_verification")
    for desk in (b, cc, d, e):  # hotline reports: verified on site before they are filed (DOMAIN §2)
        desk.act("operator", "request_verification")
        desk.act("inspector", "verify", result="pass")  # at once: on time, and missed by the inspector
        desk.act("leader", "file")  # at once: on time
    c.at("09:35")
    b.act("dispatcher", "dispatch", department="t-water")
    cc.act("dispatcher", "dispatch", department="m-roads")
    d.act("dispatcher", "dispatch", department="t-water")  # never handled: overdue and still open
    f.act("dispatcher", "dispatch", department="t-water")  # likewise
    e.act("leader", "cancel", note="重复")  # filed, then cancelled
    a.act("inspector", "verify", result="pass")  # a verified public report: missed by the inspector
    c.at("09:45")
    a.act("leader", "file")  # within the 20 minutes since the verification
    c.at("10:00")
    a.act("dispatcher", "dispatch", department="t-water")  # 15 minutes after filing: late (10 allowed)
    b.act("handler", "return", note="非我单位职责")
    b.act("dispatcher2", "approve_return")  # the next dispatcher corrects it:
    b.act("dispatcher2", "dispatch", department="m-roads")  # the first dispatch was wrong (错误派遣), not this one
    cc.act("dispatcher", "suspend", note="等待预算")  # suspended: left out of cases due
    c.at("10:30")
    a.act("handler", "handle")  # due 16:00: on time; the check is requested at once
    b.act("roads", "handle")  # due 16:00: on time
    c.at("10:45")
    a.act("inspector", "check", result="pass")
    a.act("leader", "close")  # closed on time
    b.act("inspector", "check", result="fail", note="未处理干净")  # rework, the clock still running
    c.at("09:00", day=24)  # Tuesday
    c.sign_in_all()
    b.act("roads", "handle")  # a day late
    c.at("09:30", day=24)
    b.act("inspector", "check", result="pass")
    b.act("leader", "close")  # closed, not on time
    c.at("10:00", day=24)
    return c


CELL = {
    "closed": 2,  # A, B
    "closed_on_time": 1,  # A (B's last handling was late)
    "overdue_open": 2,  # D, F (C is suspended, E cancelled)
    "overdue_unhandled": 2,  # never handled
    "handled": 2,  # cases, not handlings: A; B (handled twice)
    "handled_on_time": 2,  # their first handlings (B's second was late)
    "reworked": 1,  # B, once
    "filed": 6,
    "filed_on_time": 6,
    "filed_cancelled": 1,  # E
    "dispatched": 6,  # A, B twice, C, D, F
    "dispatched_on_time": 5,  # not A
    "wrong_dispatches": 1,  # B's first
    "reports": 1,  # F
    "valid_reports": 1,
    "verifications": 5,  # A to E
    "verifications_on_time": 5,
    "checks": 3,
    "checks_on_time": 3,
    "verified_public": 5,
    "missed": 5,  # the inspector walks the cell and reported none of them
    "received": 5,  # A to E, calls from the public
    "responded": 5,  # each sent to be verified at once
    "callbacks": 0,  # A and B are closed, their callers not called back yet
    "callbacks_resolved": 0,
    "callbacks_satisfied": 0,
    "callbacks_basically_satisfied": 0,
    "reported_cases": 6,  # A to F, none merged into another
}
T_WATER = {
    **dict.fromkeys(metrics.COUNTS, 0),
    "closed": 1,
    "closed_on_time": 1,
    "overdue_open": 2,
    "overdue_unhandled": 2,
    "handled": 1,
    "handled_on_time": 1,
    "checks": 1,  # the checks of its work (A); dispatches are the centre's, not the department's
    "checks_on_time": 1,
}
M_ROADS = {
    **dict.fromkeys(metrics.COUNTS, 0),
    "closed": 1,
    "handled": 1,  # B, at its first handling (on time)
    "handled_on_time": 1,
    "reworked": 1,  # the wrong dispatch that sent B here first is not charged to the department
    "checks": 2,  # B failed, then passed
    "checks_on_time": 2,
}
INSPECTOR = {
    **dict.fromkeys(metrics.COUNTS, 0),
    "reports": 1,
    "valid_reports": 1,
    "verifications": 5,
    "verifications_on_time": 5,
    "checks": 3,
    "checks_on_time": 3,
    "verified_public": 5,  # the public reports they verified
    "missed": 5,
    "filed": 6,  # the cases filed in the inspector's cell
}


LEADER = {**dict.fromkeys(metrics.COUNTS, 0), "filed": 5, "filed_on_time": 5, "filed_cancelled": 1}  # A–E; E
DISPATCHER = {  # t-dispatcher: A, B, C, D, F; B's dispatch to t-water was wrong
    **dict.fromkeys(metrics.COUNTS, 0),
    "dispatched": 5,
    "dispatched_on_time": 4,  # not A
    "wrong_dispatches": 1,
}
DISPATCHER2 = {**dict.fromkeys(metrics.COUNTS, 0), "dispatched": 1, "dispatched_on_time": 1}  # B again, correctly


def both(db_session, app, group_by: str, period: Period = PERIOD) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """The counts computed directly, after checking the roll-ups say the same."""
    settings, now = app.extensions["citymgmt.settings"], app.extensions["citymgmt.clock"].now()
    metrics.refresh(db_session, now, settings)
    direct = metrics.direct(db_session, group_by, period, now, settings)
    assert metrics.from_rollups(db_session, group_by, period) == direct
    return direct


def test_every_figure_by_hand(city: City, db_session, app) -> None:  # type: ignore[no-untyped-def]
    """One set of cases (building it is what takes time), three views of it."""
    counts_by_cell_department_and_inspector(city, db_session, app)
    the_days_each_figure_stands_on(city, db_session, app)
    the_rates_and_scores(city, db_session, app)


def counts_by_cell_department_and_inspector(city: City, db_session, app) -> None:  # type: ignore[no-untyped-def]
    cell = city.desks["A"].case["cell_code"]
    assert both(db_session, app, "cell")[cell] == CELL
    community = both(db_session, app, "community")
    assert community[city.desks["A"].case["community_code"]] == CELL
    # The areas' own roll-up rows say what their cells' add up to (the city's cases are all in one cell).
    assert both(db_session, app, "street")[city.desks["A"].case["street_code"]] == CELL
    assert both(db_session, app, "district") == {city.desks["A"].case["district_code"]: CELL}
    departments = both(db_session, app, "department")
    assert departments["t-water"] == T_WATER and departments["m-roads"] == M_ROADS
    assert both(db_session, app, "inspector")[str(city.inspector.id)] == INSPECTOR
    assert both(db_session, app, "leader") == {str(city.leader.id): LEADER}  # F was filed by the system
    dispatchers = both(db_session, app, "dispatcher")
    assert dispatchers == {str(city.dispatcher.id): DISPATCHER, str(city.dispatcher2.id): DISPATCHER2}


def the_days_each_figure_stands_on(city: City, db_session, app) -> None:  # type: ignore[no-untyped-def]
    cell = city.desks["A"].case["cell_code"]
    tuesday = both(db_session, app, "cell", Period(date(2026, 11, 24), date(2026, 11, 24)))[cell]
    assert {k: v for k, v in tuesday.items() if v} == {
        "closed": 1,  # B (its second handling is not counted: the case counts as handled on Monday)
        "checks": 1,
        "checks_on_time": 1,
    }
    assert both(db_session, app, "cell", Period(date(2026, 11, 25), date(2026, 12, 31))) == {}


def the_rates_and_scores(city: City, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings, now = app.extensions["citymgmt.settings"], app.extensions["citymgmt.clock"].now()
    metrics.refresh(db_session, now, settings)
    cell = metrics.report(db_session, "cell", PERIOD, now, settings)["groups"][0]
    assert cell["counts"]["due"] == 4 and cell["counts"]["due_for_handling"] == 4  # A, B handled; D, F not
    assert cell["counts"]["overdue_handled"] == 0
    assert cell["rates"] == {
        "closing_rate": 0.5,
        "on_time_closing_rate": 0.25,
        "disposal_rate": 0.5,
        "on_time_disposal_rate": 0.5,
        "rework_rate": 0.5,  # B of A and B
        "on_time_filing_rate": 1.0,
        "accurate_filing_rate": round(5 / 6, 6),
        "on_time_dispatch_rate": round(5 / 6, 6),
        "accurate_dispatch_rate": round(5 / 6, 6),
        "public_report_rate": round(5 / 6, 6),
        "missed_report_rate": round(5 / 6, 6),
        "valid_report_rate": 1.0,
        "response_rate": 1.0,  # 接诉即办: the five calls answered in time
        "resolution_rate": None,  # nobody called back yet
        "satisfaction_rate": None,
    }
    # 10 × volume 1 + 30 × 0.5 + 30 × 0.5 + 30 × (1 − 0.5) = 55
    assert (cell["score"], cell["grade"]) == (55.0, "D")
    departments = {g["key"]: g for g in metrics.report(db_session, "department", PERIOD, now, settings)["groups"]}
    # t-water: due 3 (the most): 10 × 1 + 30 × 1/3 + 30 × 1/3 + 30 × 1 = 60
    assert (departments["t-water"]["score"], departments["t-water"]["grade"]) == (60.0, "C")
    # m-roads: due 1: 10 × 1/3 + 30 × 1 + 30 × 1 (B's first handling) + 30 × (1 − 1) (B reworked) = 63.33
    assert departments["m-roads"]["rates"]["on_time_disposal_rate"] == 1.0
    assert departments["m-roads"]["rates"]["rework_rate"] == 1.0
    assert (departments["m-roads"]["score"], departments["m-roads"]["grade"]) == (63.33, "C")
    assert set(departments["m-roads"]["rates"]) == {
        "closing_rate",
        "on_time_closing_rate",
        "disposal_rate",
        "on_time_disposal_rate",
        "rework_rate",
        "resolution_rate",
        "satisfaction_rate",
    }
    leader = metrics.report(db_session, "leader", PERIOD, now, settings)["groups"]
    # on time 5/5, accurate (5 − 1) / 5: 50 × 1 + 50 × 0.8 = 90
    assert [(g["key"], g["name"], g["rates"], g["score"], g["grade"]) for g in leader] == [
        (
            str(city.leader.id),
            "t-leader",
            {"on_time_filing_rate": 1.0, "accurate_filing_rate": 0.8},
            90.0,
            "A",
        )
    ]
    dispatchers = metrics.report(db_session, "dispatcher", PERIOD, now, settings)["groups"]
    # m-dispatcher 1/1 and 1/1: 100; t-dispatcher 4/5 on time, (5 − 1) / 5 accurate: 80
    assert [(g["key"], g["rates"], g["score"], g["grade"]) for g in dispatchers] == [
        (str(city.dispatcher2.id), {"on_time_dispatch_rate": 1.0, "accurate_dispatch_rate": 1.0}, 100.0, "A"),
        (str(city.dispatcher.id), {"on_time_dispatch_rate": 0.8, "accurate_dispatch_rate": 0.8}, 80.0, "B"),
    ]
    inspector = metrics.report(db_session, "inspector", PERIOD, now, settings)["groups"][0]
    # 40 × 1 + 20 × (1 − 5/6) + 20 × 1 + 20 × 1 = 83.33
    assert (inspector["key"], inspector["score"], inspector["grade"]) == (str(city.inspector.id), 83.33, "B")
    assert inspector["name"] == "t-inspector"
    weighted = settings.with_overrides({"metrics_weights": json.dumps({"inspector": {"1-missed_report_rate": 1}})})
    inspector = metrics.report(db_session, "inspector", PERIOD, now, weighted)["groups"][0]
    assert (inspector["score"], inspector["grade"]) == (16.67, "E")  # 100 × (1 − 5/6)


def test_disposal_is_counted_per_case_and_wrong_dispatches_against_their_dispatcher(
    client, token_for, users, db_session, clock, app
) -> None:  # type: ignore[no-untyped-def]
    """Issue 26's six cases of one department, by hand: counted per handling, as the system once did, a reworked
    case handled late and then on time counted twice and lifted the department from C to B (disposal 5/6, on-time
    disposal 4/6, rework 1/5 = 0.2: 10 + 30 × 0.8 + 30 × 4/6 + 30 × 0.8 = 78); counted per case as DOMAIN.md §6
    defines them it is disposal 4/5, on-time disposal 3/5, rework 1/4: 10 + 30 × 0.8 + 30 × 0.6 + 30 × 0.75 =
    74.5, C. With a re-dispatch, an extension, a suspension and a merged duplicate on the way."""
    city = City(client, token_for, users, db_session, clock)
    p, q, r, s, t, u = (city.report(name, "operator", CALL) for name in "PQRSTU")  # Monday 09:30
    db_session.execute(  # the inspector walks the cell
        text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, :at)"),
        {"u": city.inspector.id, "c": p.case["cell_code"], "at": clock.at - timedelta(days=1)},
    )
    for desk in (p, q, r, s, t, u):
        desk.act("operator", "request_verification")
        desk.act("inspector", "verify", result="pass")
        desk.act("leader", "file")  # by 09:50: on time
    m = city.report("M", "inspector", INSPECTOR_REPORT)  # the inspector reports P's problem again
    assert m.case["status"] == "filed"  # filed on arrival, held as a suspected duplicate
    m.act("operator", "merge", original=p.case["id"])  # not a valid report
    city.at("09:35")
    for desk in (p, q, s, t, u):
        desk.act("dispatcher", "dispatch", department="m-roads")  # 4 working hours: due 15:35
    r.act("dispatcher", "dispatch", department="t-water")  # the wrong department
    assert p.case["disposal_due_at"] == "2026-11-23T07:35:00+00:00"
    city.at("10:00")
    r.act("handler", "return", note="非我单位职责")
    r.act("dispatcher2", "approve_return")
    r.act("dispatcher2", "dispatch", department="m-roads")  # corrected by the next dispatcher, on time
    u.act("dispatcher2", "suspend", note="等待预算")  # suspended: not due
    city.at("10:30")
    for desk in (p, q, r):
        desk.act("roads", "handle")  # on time
    city.at("10:45")
    for desk in (p, q, r):
        desk.act("inspector", "check", result="pass")
        desk.act("leader", "close")
    city.at("16:30")
    s.act("roads", "handle")  # late (due 15:35)
    city.at("16:45")
    s.act("inspector", "check", result="fail", note="未处理干净")  # rework
    s.act("roads", "request_extension", hours=4, note="需要更换设备")
    s.act("dispatcher2", "approve_extension")  # 15:35 + 4 working hours (2 h 25 on Monday, 1 h 35 from 08:00)
    assert s.case["disposal_due_at"] == "2026-11-24T01:35:00+00:00"  # Tuesday 09:35
    city.at("09:00", day=24)
    city.sign_in_all()
    s.act("roads", "handle")  # on time, with the extension
    city.at("09:30", day=24)
    s.act("inspector", "check", result="pass")
    s.act("leader", "close")
    city.at("10:00", day=24)  # T, due Monday 15:35, never handled: overdue and open

    departments = both(db_session, app, "department")
    assert departments["m-roads"] == {
        **dict.fromkeys(metrics.COUNTS, 0),
        "closed": 4,  # P, Q, R, S
        "closed_on_time": 4,  # S's last handling was on time, with its extension
        "overdue_open": 1,  # T (U is suspended)
        "overdue_unhandled": 1,
        "handled": 4,  # P, Q, R, S: cases, not the five handlings
        "handled_on_time": 3,  # S's first handling was late
        "reworked": 1,  # S
        "checks": 5,
        "checks_on_time": 5,
    }
    assert "t-water" not in departments or departments["t-water"]["wrong_dispatches"] == 0
    dispatchers = both(db_session, app, "dispatcher")
    assert dispatchers[str(city.dispatcher.id)] == {
        **dict.fromkeys(metrics.COUNTS, 0),
        "dispatched": 6,
        "dispatched_on_time": 6,
        "wrong_dispatches": 1,  # R to t-water
    }
    assert dispatchers[str(city.dispatcher2.id)] == {
        **dict.fromkeys(metrics.COUNTS, 0),
        "dispatched": 1,
        "dispatched_on_time": 1,
    }
    inspector = both(db_session, app, "inspector")[str(city.inspector.id)]
    assert (inspector["reports"], inspector["valid_reports"]) == (1, 0)  # M was merged into P
    assert (inspector["missed"], inspector["filed"]) == (5, 7)  # Q to U; P to U and M filed in their cell

    settings, now = app.extensions["citymgmt.settings"], app.extensions["citymgmt.clock"].now()
    for fresh in (False, True):
        groups = {g["key"]: g for g in metrics.report(db_session, "department", PERIOD, now, settings, fresh)["groups"]}
        roads = groups["m-roads"]
        assert roads["rates"] == {
            "closing_rate": 0.8,  # 4 / 5
            "on_time_closing_rate": 0.8,
            "disposal_rate": 0.8,  # 4 / (4 + T)
            "on_time_disposal_rate": 0.6,  # 3 / 5
            "rework_rate": 0.25,  # 1 / 4
            "resolution_rate": None,  # no call-backs
            "satisfaction_rate": None,
        }
        assert (roads["score"], roads["grade"]) == (74.5, "C")
        people = {g["key"]: g for g in metrics.report(db_session, "dispatcher", PERIOD, now, settings, fresh)["groups"]}
        # t-dispatcher: 50 × 6/6 + 50 × 5/6 = 91.67
        assert people[str(city.dispatcher.id)]["rates"]["accurate_dispatch_rate"] == round(5 / 6, 6)
        assert (people[str(city.dispatcher.id)]["score"], people[str(city.dispatcher.id)]["grade"]) == (91.67, "A")
        assert people[str(city.dispatcher2.id)]["rates"]["accurate_dispatch_rate"] == 1.0
        inspectors = metrics.report(db_session, "inspector", PERIOD, now, settings, fresh)["groups"]
        # valid reports 0 / 1 (40), missed 5 / 7 (20), verifications 6 / 6 (20), checks 5 / 5 (20):
        # 40 × 0 + 20 × 2/7 + 20 + 20 = 45.71
        assert [(g["rates"]["valid_report_rate"], g["score"]) for g in inspectors] == [(0.0, 45.71)]


def test_suspension_and_resumption_move_the_case_in_and_out_of_cases_due(city: City, db_session, app) -> None:  # type: ignore[no-untyped-def]
    cell = city.desks["C"].case["cell_code"]
    city.desks["C"].act("dispatcher", "resume", note="预算到位")  # 3 h 35 working were left at 10:00 Monday
    assert city.desks["C"].case["disposal_due_at"] == "2026-11-24T07:35:00+00:00"  # Tuesday 15:35
    assert both(db_session, app, "cell")[cell]["overdue_open"] == 2
    city.at("15:35", day=24)
    assert both(db_session, app, "cell")[cell]["overdue_open"] == 3  # its deadline passed: the job found the day
    assert both(db_session, app, "department")["m-roads"]["overdue_unhandled"] == 1


def test_grades_are_by_the_bands() -> None:
    bands = metrics.grades_from(Settings())
    assert [metrics.grade(v, bands) for v in (100, 90, 89.99, 75, 60, 59.9, 40, 39.99, 0, None)] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "D",
        "D",
        "E",
        "E",
        None,
    ]


def test_a_group_with_nothing_due_is_not_rated() -> None:
    """A department with nothing closed or overdue gets no score and no grade ("—"), not 0.0 and E for its volume;
    one with cases due is scored over the components that have a value."""
    weights = metrics.weights_from(Settings())["department"]
    zero = dict.fromkeys(metrics.COUNTS, 0)
    idle = metrics.indicators(zero, "department")
    assert metrics.group_score("department", idle, 10, weights) is None
    handled_not_due = metrics.indicators({**zero, "handled": 2, "handled_on_time": 2}, "department")
    assert metrics.group_score("department", handled_not_due, 10, weights) is None
    busy = metrics.indicators({**zero, "closed": 5, "handled": 5, "handled_on_time": 4}, "department")
    # volume 5/10 = 0.5 (10), closing 1.0 (30), on-time disposal 0.8 (30), 1 - rework 1.0 (30): 89 of 100
    assert metrics.group_score("department", busy, 10, weights) == 89.0
    assert metrics.group_score("region", idle, 10, metrics.weights_from(Settings())["region"]) is None


def rollups(db_session) -> list[Any]:  # type: ignore[no-untyped-def]
    return list(db_session.execute(text("SELECT * FROM metric_days ORDER BY dim, day, key")))


def test_the_api_for_supervisors_leaders_and_admins(city: City, client, token_for, db_session, app) -> None:  # type: ignore[no-untyped-def]
    job = registered_periodic()["metrics-rollup"]
    assert job.every == 3600
    assert job.func(db_session, city.clock.at, app.extensions["citymgmt.settings"]) == {
        "days_rebuilt": 2
    }  # the first build: Monday and Tuesday
    built = rollups(db_session)
    assert (
        job.func(db_session, city.clock.at, app.extensions["citymgmt.settings"])["days_rebuilt"] >= 1
    )  # the last hour again: same rows
    assert rollups(db_session) == built
    query = "/api/v1/metrics?group_by=department&from=2026-11-23&to=2026-11-24"
    for role in ("supervisor", "leader", "admin"):
        body = client.get(query, headers=token_for(role)).get_json()
        groups = {g["key"]: g for g in body["groups"]}
        assert body["source"] == "rollups" and body["from"] == "2026-11-23"
        assert groups["t-water"]["grade"] == "C" and groups["t-water"]["counts"]["closed"] == 1
        assert groups["t-water"]["name"] == "测试供水"
    fresh = client.get(query + "&fresh=true", headers=token_for("supervisor")).get_json()
    assert fresh["source"] == "direct" and {g["key"]: g for g in fresh["groups"]}["m-roads"]["score"] == 63.33
    for group_by, person, rates in (
        ("dispatcher", city.dispatcher, {"on_time_dispatch_rate": 0.8, "accurate_dispatch_rate": 0.8}),
        ("leader", city.leader, {"on_time_filing_rate": 1.0, "accurate_filing_rate": 0.8}),
    ):
        for source in ("", "&fresh=true"):
            people = client.get(
                f"/api/v1/metrics?group_by={group_by}&from=2026-11-23&to=2026-11-24{source}",
                headers=token_for("leader"),
            )
            assert people.status_code == 200, people.get_json()
            mine = {g["key"]: g for g in people.get_json()["groups"]}[str(person.id)]
            assert (mine["name"], mine["rates"]) == (person.display_name, rates)
    for role in ("operator", "dispatcher", "handler", "inspector"):
        assert client.get(query, headers=token_for(role)).status_code == 403
    assert client.get(query).status_code == 401
    bad = client.get("/api/v1/metrics?group_by=planet&from=2026-11-23&to=x", headers=token_for("supervisor"))
    assert bad.status_code == 400, bad.get_json()
    assert set(bad.get_json()["error"]["details"]) == {"group_by", "to"}
    backwards = client.get(
        "/api/v1/metrics?group_by=cell&from=2026-11-24&to=2026-11-23", headers=token_for("supervisor")
    )
    assert backwards.status_code == 422 and backwards.get_json()["error"]["details"] == {"to": "before from"}


def test_the_report_command(city: City, app, db_session) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["metrics", "refresh"]).exit_code == 0
    args = ["metrics", "report", "--from", "2026-11-23", "--to", "2026-11-24", "--group-by", "department"]
    csv_out = runner.invoke(cli, [*args, "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.splitlines()
    assert lines[0].startswith("department,name,score,grade,closing_rate,on_time_closing_rate,")
    assert any(line.startswith("m-roads,测试道路,63.33,C,1.0,0.0,1.0,1.0,1.0,") for line in lines), "\n".join(lines)
    as_json = json.loads(runner.invoke(cli, [*args, "--format", "json"]).output)
    assert {g["key"] for g in as_json["groups"]} >= {"t-water", "m-roads"}
    md = runner.invoke(cli, [*args, "--format", "md", "--fresh"]).output
    assert "| t-water | 测试供水 | 60.0 | C | 33.33% |" in md
    people = runner.invoke(cli, [*args[:-1], "dispatcher", "--format", "csv"])
    assert people.exit_code == 0, people.output
    assert people.output.splitlines()[0].startswith("dispatcher,name,score,grade,on_time_dispatch_rate,")
    assert f"{city.dispatcher.id},t-dispatcher,80.0,B,0.8,0.8," in people.output
    wrong = runner.invoke(
        cli, ["metrics", "report", "--from", "2026-13-01", "--to", "2026-11-24", "--group-by", "cell"]
    )
    assert wrong.exit_code == 1 and "from='2026-13-01' is not a date" in wrong.output


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("metrics_weights", "{not json", "not JSON"),
        ("metrics_weights", '{"department": {"closing_rate": -1}}', "weight >= 0"),
        ("metrics_weights", '{"city": {"closing_rate": 1}}', "department|inspector|region|leader|dispatcher"),
        ("metrics_weights", '{"inspector": {"charm": 1}}', "components volume_score"),
        ("metrics_grades", "A:90,B:95", "best first"),
        ("metrics_grades", "A:x", "GRADE:LOWER_BOUND"),
    ],
)
def test_bad_weights_and_grades_stop_start_up(variable: str, value: str, says: str) -> None:
    from citymgmt.core.config import ConfigError

    with pytest.raises(ConfigError, match=says):
        Settings(**{variable: value}).validate()
