"""Where a change goes (docs/architecture.md, "Where a change goes"): a state is added in `State`, and every other
place that must follow it is named here, so that a state added in one place and forgotten in another fails this
test instead of showing a user a bare code or leaving a case without a clock."""

from __future__ import annotations

from flask import Flask

from dispatch.cases.models import DISPOSAL, FINAL_STATES, OPEN_STATES, State
from dispatch.workflow.moves import MOVES, STEP_LIMITS

STATES = {s.value for s in State}


def test_every_state_has_its_words_for_people(app: Flask) -> None:
    from citymgmt.open311.georeport import STATUS_NOTES, UPDATE_STATUS
    from citymgmt.web import dashboard
    from citymgmt.web.desk import STATUS_NAMES

    assert set(STATUS_NAMES) == STATES  # the desk's
    assert set(STATUS_NOTES) == STATES  # what the public is told (Open311, zh-CN and English)
    assert set(UPDATE_STATUS) == STATES  # Open311's servicerequestupdates status
    with app.test_request_context():
        assert set(dashboard.strings()["states"]) == STATES  # the big screen's


def test_every_state_has_a_clock_or_is_said_to_have_none() -> None:
    # The department's step runs on its category's limit, the centre's on STEP_LIMITS; the rest stop the clock.
    assert {DISPOSAL, *STEP_LIMITS, *FINAL_STATES, State.suspended} == set(State)


def test_every_open_state_has_a_move_out_of_it() -> None:
    leaving = {state for move in MOVES for state in move.states}
    assert set(OPEN_STATES) <= leaving


def test_every_action_has_its_label_and_is_in_the_api() -> None:
    """An action is a `Move` in MOVES; the API's path takes it from there, and the desk needs its label."""
    from citymgmt.api.cases import ACTION
    from citymgmt.web.desk import ACTION_NAMES

    actions = {move.action for move in MOVES}
    assert actions <= set(ACTION_NAMES)
    assert set(ACTION["schema"]["enum"]) == actions  # type: ignore[index]
