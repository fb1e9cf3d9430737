"""The work queues' OR of a state's tasks: the terms they share are taken out, and it folds to them alone only
where the rest holds whatever the case (IS NULL and IS NOT NULL), never where NULL fails both sides. A condition is
read on the cases' clocks only where it asks for a light or an escalation and reads nothing else than what the clocks
copy."""

from __future__ import annotations

from sqlalchemy import and_, or_

from dispatch.cases.models import Case, CaseClock
from dispatch.workflow.queues import _either, _on_clock

DEPARTMENT = Case.department_code == "roads"


def test_a_handlers_dispatched_cases_are_their_departments_whatever_their_request() -> None:
    tasks = [
        and_(Case.escalated.is_(True), DEPARTMENT),
        and_(DEPARTMENT, Case.pending_request.is_(None)),
        and_(DEPARTMENT, Case.pending_request.is_not(None)),
    ]
    assert _either(tasks).compare(DEPARTMENT)


def test_the_shared_terms_are_taken_out_and_the_rest_kept() -> None:
    tasks = [and_(Case.escalated.is_(True), DEPARTMENT), and_(DEPARTMENT, Case.pending_request.is_(None))]
    assert _either(tasks).compare(and_(DEPARTMENT, or_(Case.escalated.is_(True), Case.pending_request.is_(None))))


def test_a_comparison_and_its_opposite_are_not_folded_away() -> None:
    """`urgency = 'urgent'` and `urgency <> 'urgent'` both fail where the urgency is null."""
    tasks = [and_(DEPARTMENT, Case.urgency == "urgent"), and_(DEPARTMENT, Case.urgency != "urgent")]
    assert _either(tasks).compare(and_(DEPARTMENT, or_(Case.urgency == "urgent", Case.urgency != "urgent")))


def test_conditions_sharing_nothing_stay_an_or() -> None:
    tasks = [Case.escalated.is_(True), Case.pending_request.is_(None)]
    assert _either(tasks).compare(or_(*tasks))


def test_the_overdue_task_is_read_on_the_clocks() -> None:
    overdue = and_(Case.escalated.is_(False), Case.light == "red")
    on_clock = _on_clock(overdue)
    assert on_clock is not None
    assert on_clock.compare(and_(CaseClock.escalated.is_(False), CaseClock.light == "red"))


def test_a_handlers_replies_to_escalations_are_read_on_the_clocks() -> None:
    """An escalated case's clock is the case's as it is (the trigger copies it while the case has an escalation)."""
    reply = and_(Case.escalated.is_(True), DEPARTMENT)
    on_clock = _on_clock(reply)
    assert on_clock is not None
    assert on_clock.compare(and_(CaseClock.escalated.is_(True), CaseClock.department_code == "roads"))


def test_a_condition_without_a_light_or_an_escalation_or_reading_more_stays_on_the_cases() -> None:
    """A case with no light and no escalation has no clock, or one not kept since; the clocks copy only the light,
    deadlines, state, department and escalation."""
    assert _on_clock(Case.escalated.is_(False)) is None
    assert _on_clock(and_(Case.escalated.is_(False), DEPARTMENT)) is None
    assert _on_clock(or_(Case.light == "red", Case.escalated.is_(True))) is None  # the light in one branch only
    assert _on_clock(and_(Case.light == "red", Case.category_code == "E0102")) is None
    assert _on_clock(and_(Case.escalated.is_(True), Case.pending_request.is_(None))) is None
