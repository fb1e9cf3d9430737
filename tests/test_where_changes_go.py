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


def test_every_module_of_periodic_or_outbox_jobs_is_imported_by_the_app() -> None:
    """A periodic job is `@periodic` on a function of its feature, an outbox job `@outbox.job`; the app, the worker
    and the scheduler know them only if their module is in MODEL_AND_JOB_MODULES (else they never run)."""
    import re

    from citymgmt.app import MODEL_AND_JOB_MODULES
    from tests.conftest import REPO

    registering = re.compile(r"^@(periodic|outbox\.job|job)\(", re.MULTILINE)
    modules = {
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for package in ("citymgmt", "grids", "dispatch")
        for path in (REPO / package).rglob("*.py")
        if registering.search(path.read_text(encoding="utf-8")) and path.name != "periodic.py"
    }
    assert modules >= {"dispatch.sla.sweep", "dispatch.notifications.operations"}  # the scan finds them
    assert modules <= set(MODEL_AND_JOB_MODULES)


def test_every_routing_condition_of_the_file_format_is_tested() -> None:
    """A routing condition is a field of ConditionsSchema (the rule file's format) with its test in CONDITIONS; a
    field without a test would be accepted and then ignored. (Its words on the desk: tests/web/test_desk.py.)"""
    from dispatch.routing.match import CONDITIONS
    from dispatch.routing.rules import ConditionsSchema

    assert set(ConditionsSchema().fields) == set(CONDITIONS)
