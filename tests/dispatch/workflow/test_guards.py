"""The move table's guards: their two forms agree (the queues select what `allowed_actions` lists), and what
`allowed_actions` lists is exactly what `act` accepts, over cases driven at random round the loop."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select, text

from citymgmt.core.errors import DomainError
from citymgmt.core.identity import create_user
from dispatch.cases.models import SOURCES, STATES, Case
from dispatch.intake.operations import Report, report_case
from dispatch.workflow.moves import ACTIONS, BY_ACTION, MOVES, act, allowed_actions
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("beijing")

CALL = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "市民来电", "source": "hotline"}
WALKS, STEPS = 4, 20
ENDINGS = ("cancel", "merge", "close")  # moves that end a walk

# What each action is given, so that only the move table can refuse it (never the body).
BODIES: dict[str, dict[str, Any]] = {
    "verify": {"result": "pass"},
    "check": {"result": "pass"},
    "dispatch": {"department": "t-water"},
    "request_extension": {"hours": 2},
}


@pytest.fixture
def people(db_session, users) -> list[Any]:  # type: ignore[no-untyped-def]
    """Everyone who may act: a user of each role, a handler of another department, and a dispatcher who also
    handles for the test department; the inspector walks the demo cell of the calls."""
    db_session.execute(
        text("INSERT INTO departments (code, name, name_en, kind) VALUES ('t-gas', '测试燃气', 'Test gas', 'gas')")
    )
    other = create_user(db_session, "t-gas-handler", PASSWORD, ["handler"], department_code="t-gas")
    both = create_user(db_session, "t-both", PASSWORD, ["dispatcher", "handler"], department_code="t-water")
    db_session.commit()
    return [*users.values(), other, both]


def _new_case(db_session, app, reporter, now) -> Case:  # type: ignore[no-untyped-def]
    """A hotline call in the demo cell, which the test inspector walks."""
    case = report_case(db_session, reporter, Report(**CALL), None, now, app.extensions["citymgmt.settings"]).case
    db_session.execute(
        text(
            "INSERT INTO inspector_cells (user_id, cell_code, assigned_at)"
            " SELECT id, CAST(:cell AS varchar), now() FROM users WHERE username = 't-inspector'"
            " AND NOT EXISTS (SELECT 1 FROM inspector_cells WHERE cell_code = :cell AND unassigned_at IS NULL)"
        ),
        {"cell": case.cell_code},
    )
    assert case in db_session  # intake's case is the session's: changes to it are written
    return case


def test_each_guard_selects_in_sql_the_cases_it_lets_through(db_session, app, people, clock) -> None:  # type: ignore[no-untyped-def]
    """For every move and every user, over cases of every mix of the guarded fields: the cases a move's guard lets
    through one by one are the cases its condition selects (what the queues show is what the case page offers)."""
    settings = app.extensions["citymgmt.settings"]
    operator = next(u for u in people if u.username == "t-operator")
    rng = random.Random(20261206)
    cases = [_new_case(db_session, app, operator, clock.now()) for _ in range(60)]
    for case in cases:
        case.status = rng.choice(STATES)
        case.source = rng.choice(SOURCES)
        case.verified = rng.random() < 0.5
        case.escalated = rng.random() < 0.3
        case.check_passed = rng.choice([None, True, False])
        case.pending_request = rng.choice(
            [None, None, {"kind": "return"}, {"kind": "extension", "hours": 1}, {"kind": "suspension"}]
        )
        case.extensions_granted = rng.randint(0, settings.max_extensions + 1)
        case.suspensions = rng.randint(0, settings.max_suspensions + 1)
        cap = round(settings.max_suspension_days * 86400)
        case.suspended_seconds = rng.choice([0, cap - 1, cap, cap + 1])
        case.department_code = rng.choice([None, "t-water", "t-gas"])
    db_session.flush()
    ids = [c.id for c in cases]
    for move in MOVES:
        for user in (u for u in people if u.has_role(*move.roles)):
            by_python = {
                c.id for c in cases if c.status in move.states and move.guard.why_not(c, user, settings) is None
            }
            by_sql = set(
                db_session.execute(
                    select(Case.id).where(
                        Case.id.in_(ids), Case.status.in_(move.states), move.guard.holds(user, settings)
                    )
                ).scalars()
            )
            assert by_sql == by_python, f"{move.action} as {user.username}"


def test_what_is_listed_is_what_succeeds(db_session, app, people, clock) -> None:  # type: ignore[no-untyped-def]
    """Cases driven round the loop by random listed moves of random people; at every step, for every person and
    every action: listed by allowed_actions exactly when act accepts it."""
    settings = app.extensions["citymgmt.settings"]
    operator = next(u for u in people if u.username == "t-operator")
    rng = random.Random(7)
    original = _new_case(db_session, app, operator, clock.now())  # what merges name
    for _walk in range(WALKS):
        case = _new_case(db_session, app, operator, clock.now())
        for _step in range(STEPS):
            clock.advance(minutes=rng.randint(1, 90))
            for user in people:
                listed = set(allowed_actions(case, user, settings))
                for action in ACTIONS:
                    if not user.has_role(*BY_ACTION[action].roles):
                        continue  # refused for the role, first and alike by both (the access tests cover it)
                    body = {"note": "测试", **BODIES.get(action, {})}
                    if action == "merge":
                        body["original"] = original.id
                    savepoint = db_session.begin_nested()
                    try:
                        act(db_session, case.id, action, user, case.version, body, clock.now(), settings)
                        accepted = True
                    except DomainError:
                        accepted = False
                    savepoint.rollback()
                    db_session.refresh(case)
                    assert accepted == (action in listed), f"{action} by {user.username} on a {case.status} case"
            choices = [(u, a) for u in people for a in allowed_actions(case, u, settings) if a != "comment"]
            onward = [(u, a) for u, a in choices if a not in ENDINGS]  # mostly onward, to reach the later steps
            if not choices:
                break
            user, action = rng.choice(onward if onward and rng.random() < 0.9 else choices)
            body = {"note": "测试", **BODIES.get(action, {})}
            if action == "merge":
                body["original"] = original.id
            if action == "check":
                body["result"] = rng.choice(["pass", "fail"])
            act(db_session, case.id, action, user, case.version, body, clock.now(), settings)
