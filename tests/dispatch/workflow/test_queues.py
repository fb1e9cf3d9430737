"""The work queues' OR of a state's tasks: the terms they share are taken out, and it folds to them alone only
where the rest holds whatever the case (IS NULL and IS NOT NULL), never where NULL fails both sides."""

from __future__ import annotations

from sqlalchemy import and_, or_

from dispatch.cases.models import Case
from dispatch.workflow.queues import _either

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
