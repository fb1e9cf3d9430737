"""Work queues: what is waiting for me now, soonest deadline first, whatever my roles.

A case waits in one state at a time, so the queue is read state by state: for each state some task of the user can be
in, the cases of that state its tasks select, soonest deadline first, as far as the page needs (each on the index of
open cases by state and deadline, or on the partial index its guard names, whichever is cheaper for that one
condition; or, where the tasks ask for a light, on the cases' clocks, which copy what they read), then merged. One
OR over every state and task instead reads every case any task could select and sorts them all before the first page
is known."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, True_

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.identity import User
from dispatch.cases.models import CLOCK_COPIES, Case, CaseClock, Light, State
from dispatch.workflow.moves import BY_ACTION
from dispatch.workflow.views import ReadsAsItsCase
from grids.models import InspectorCell


@dataclass(frozen=True)
class Task:
    """A task of the work queues: the moves whose being possible puts a case in the queue (their states, roles and
    guards are the move table's), optionally narrowed to some of their states, and who is assigned beyond that."""

    name: str
    actions: tuple[str, ...]
    states: tuple[str, ...] | None = None  # None: the moves' own
    narrowed_by: Callable[[User], ColumnElement[bool]] | None = None  # e.g. the inspector's cells, a red light
    # Instead of the moves being possible: the user's case waits, in the moves' states, for someone else's answer to
    # one of these moves.
    waiting: Callable[[User], ColumnElement[bool]] | None = None


def _awaiting_approval(user: User) -> ColumnElement[bool]:
    """The handler's department's case waits for the dispatcher's answer to a request (a return, an extension)."""
    return and_(Case.department_code == user.department_code, Case.pending_request.is_not(None))


def _in_beat(user: User) -> ColumnElement[bool]:
    """The case is in one of the inspector's cells. Written as `= ANY` of the cells' array (computed once, before
    the cases are read) rather than `IN (subquery)`: the planner then reads the cases of those cells by their index
    instead of walking every open case in deadline order to test each against the cells."""
    beat = select(func.array_agg(InspectorCell.cell_code)).where(
        InspectorCell.user_id == user.id, InspectorCell.unassigned_at.is_(None)
    )
    return Case.cell_code == any_(cast(beat.scalar_subquery(), ARRAY(String)))


# In the order a case's task is named when several hold (a handler's reply before its handling).
TASKS: tuple[Task, ...] = (
    Task("reply", ("reply",)),
    Task("handle", ("handle",)),
    Task("awaiting_approval", ("return", "request_extension"), waiting=_awaiting_approval),
    Task("check", ("check",), narrowed_by=_in_beat),
    Task("verify", ("verify",), narrowed_by=_in_beat),
    Task("dispatch", ("dispatch",)),
    Task("approve", ("approve_return", "approve_extension", "resume"), states=(State.dispatched,)),
    Task("file", ("file",)),
    Task("close", ("close",)),
    Task("callback", ("callback",)),  # 回访: the caller of a closed public or hotline case
    Task("accept", ("request_verification",)),
    Task("request_check", ("request_check",)),
    Task("overdue", ("escalate",), narrowed_by=lambda user: Case.light == Light.red),
)


def _any(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """OR, leaving one condition as it is (`or_` of one wraps it: a plain `true` is then no longer seen as one)."""
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


def _terms(condition: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The condition's AND terms (itself alone if it is no AND)."""
    if isinstance(condition, BooleanClauseList) and condition.operator is operators.and_:
        return list(condition.clauses)
    return [condition]


def _is(condition: ColumnElement[bool]) -> bool:
    return isinstance(condition, BinaryExpression) and condition.operator in (operators.is_, operators.is_not)


def _either(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """The OR of the conditions, with the terms they all share taken out of it, and as only those terms if what is
    left of them holds either way (`pending_request IS NULL` in one, `IS NOT NULL` in another). A handler's
    dispatched cases are their department's whatever their request or escalation: PostgreSQL then counts them on the
    index of department and state alone, where it would read every one of them to test the OR it does not fold."""
    if len(conditions) == 1:
        return conditions[0]
    terms = [_terms(c) for c in conditions]
    shared = [t for t in terms[0] if all(any(t.compare(u) for u in other) for other in terms[1:])]
    if not shared:
        return or_(*conditions)
    rest = [[t for t in each if not any(t.compare(s) for s in shared)] for each in terms]
    if any(not each for each in rest):  # one of them is the shared terms alone
        return and_(*shared)
    left = [each[0] if len(each) == 1 else and_(*each) for each in rest]
    # Only IS (NOT) comparisons, never NULL: `x = 1` and `x <> 1` both fail where x is null.
    if any(_is(a) and a.compare(~b) for a in left for b in left):
        return and_(*shared)
    return and_(*shared, or_(*left))


_STATUS = Case.__table__.c.status
_ON_STATE: dict[Any, Callable[[str, Any], bool]] = {
    operators.eq: lambda state, value: state == value,
    operators.ne: lambda state, value: state != value,
    operators.in_op: lambda state, values: state in values,
    operators.not_in_op: lambda state, values: state not in values,
}


def _in_state(condition: ColumnElement[bool], state: str) -> ColumnElement[bool]:
    """The condition on a case known to be in `state`: its comparisons of the state (a guard's, e.g. RESUMABLE's
    `status = 'suspended' OR ...`) made true or false, which PostgreSQL folds away. It does not see that
    `status = 'dispatched' AND status = 'suspended'` is false, and reads every dispatched case for such a term
    instead of only those the rest of the condition's indexes find."""

    def known(element: Any, **kw: Any) -> Any:
        if (
            isinstance(element, BinaryExpression)
            and element.operator in _ON_STATE
            and isinstance(element.left, Column)
            and element.left.compare(_STATUS)
            and isinstance(element.right, BindParameter)
        ):
            return true() if _ON_STATE[element.operator](state, element.right.value) else false()
        return None

    if isinstance(condition, True_):  # every case of the state (no guard): kept so, to be known as such
        return condition
    return visitors.replacement_traverse(condition, dict[str, Any](), known)


def _tasks(user: User, settings: Settings) -> dict[str, list[tuple[str, ColumnElement[bool]]]]:
    """For each state, the (task, condition) pairs of the user's roles there, from the move table, in TASKS's order:
    the first that holds names a case's task. The conditions leave the state out (the state is the key)."""
    by_state: dict[str, list[tuple[str, ColumnElement[bool]]]] = {}
    for task in TASKS:
        holds: dict[str, list[ColumnElement[bool]]] = {}
        for action in task.actions:
            move = BY_ACTION[action]
            if not user.has_role(*move.roles):
                continue
            for state in move.states:
                if task.states is not None and state not in task.states:
                    continue
                if task.waiting is not None:
                    holds[state] = [task.waiting(user)]
                else:
                    holds.setdefault(state, []).append(move.guard.holds(user, settings))
        for state, conditions in holds.items():
            condition = _any(conditions)
            narrowed = and_(condition, task.narrowed_by(user)) if task.narrowed_by else condition
            by_state.setdefault(state, []).append((task.name, _in_state(narrowed, state)))
    return by_state


# The case's columns its clock copies (`case_clocks`, kept by the trigger on cases and by the sweep), with the clock's
# own: a condition on these alone that asks for a light or an escalation is the same on the clock, where the overdue
# task and the handlers' replies have their indexes (`ix_case_clocks_overdue`, `ix_case_clocks_escalated_department`)
# and on cases would read every open case for its light or escalation (which cannot be indexed there: the sweep's
# writes of them must stay in the row's page).
_CASES = Case.__table__.c
_CLOCKS = CaseClock.__table__.c
_ON_CLOCK = ((_CASES.id, _CLOCKS.case_id), *((_CASES[name], _CLOCKS[name]) for name in CLOCK_COPIES))


# A branch's key, state and deadline, on cases or on their clocks.
_KEYS: dict[Any, tuple[Any, Any, Any]] = {
    Case: (Case.id, Case.status, Case.due_at),
    CaseClock: (CaseClock.case_id, CaseClock.status, CaseClock.due_at),
}


def _copy(column: Any) -> Any:
    """The clock's copy of a column of cases; None for any other column."""
    return next((clock for case, clock in _ON_CLOCK if column.compare(case)), None)


def _asks(term: ColumnElement[bool]) -> bool:
    """Whether the term holds only for a case with a light (`light = ...`, `light IN (...)`) or an escalation
    (`escalated IS true`): only such a case's clock is the case's as it is now (CaseClock)."""
    if not (isinstance(term, BinaryExpression) and isinstance(term.left, Column)):
        return False
    if term.operator in (operators.eq, operators.in_op) and term.left.compare(_CASES.light):
        return True
    return (
        term.operator in (operators.is_, operators.eq)
        and term.left.compare(_CASES.escalated)
        and isinstance(term.right, True_)
    )


def _on_clock(condition: ColumnElement[bool]) -> ColumnElement[bool] | None:
    """The condition on the case's clock instead, where one of its AND terms asks for a light or an escalation (every
    case with either has its clock, and the clock copies it as it is) and it reads nothing the clock does not copy;
    else None."""
    columns = [e for e in visitors.iterate(condition) if isinstance(e, Column)]
    if not any(_asks(t) for t in _terms(condition)) or any(_copy(c) is None for c in columns):
        return None

    def copied(element: Any, **kw: Any) -> Any:
        return _copy(element) if isinstance(element, Column) else None

    return visitors.replacement_traverse(condition, dict[str, Any](), copied)


@dataclass
class QueueItem(ReadsAsItsCase):
    """A case waiting for the user, and what is expected of them (`task`); anything else is the case's."""

    case: Case
    task: str


def my_queue(
    session: Session, user: User, settings: Settings, offset: int, limit: int, count_ahead: int | None = None
) -> tuple[list[QueueItem], int, bool]:
    """The cases waiting for the user, each with its task, soonest deadline first (then by id); their total and
    whether it is exact: with `count_ahead`, counted no further than that many past the page (list_cases's bound).

    Read state by state (the module's docstring): each state's cases as far as the page's end, merged and cut to
    the page; counted state after state, no further than the bound in all. A case is in one state: none is read
    twice."""
    by_state = _tasks(user, settings)
    if not by_state:
        return [], 0, True
    bound = None if count_ahead is None else offset + limit + count_ahead
    read_at_scale(session)
    pages: list[Select[Any]] = []
    # The states where the same condition selects, and the table read: cases, or their clocks (_on_clock).
    counted: list[tuple[list[str], ColumnElement[bool], Any]] = []
    for state, tasks in by_state.items():
        on_clock = [(name, _on_clock(condition)) for name, condition in tasks]
        table: Any = Case
        if all(condition is not None for _, condition in on_clock):
            tasks, table = [(name, condition) for name, condition in on_clock if condition is not None], CaseClock
        key, status, due_at = _KEYS[table]
        selects = _either([c for _, c in tasks])
        same = next((s for s, condition, t in counted if t is table and condition.compare(selects)), None)
        if same is not None:
            same.append(state)
        else:
            counted.append(([state], selects, table))
        # The state as a literal, so that the planner matches it to the partial index of open cases by state.
        waiting = (status == literal(state, String, literal_execute=True), selects)
        task = case(*[(condition, name) for name, condition in tasks], else_=None) if len(tasks) > 1 else None
        named = task if task is not None else literal(tasks[0][0], String)
        pages.append(
            select(key.label("id"), due_at.label("due_at"), named.label("task"))
            .where(*waiting)
            .order_by(due_at.asc().nulls_last(), key)
            .limit(offset + limit)
        )
    # Counted once for the states where one condition selects (a handler's escalated cases in every state but
    # one), and first where it selects every case: their index alone counts them, often as far as the bound.
    every = union_all(
        *(
            select(_KEYS[table][0].label("id")).where(
                _KEYS[table][1].in_([literal(s, String, literal_execute=True) for s in states]), selects
            )
            for states, selects, table in sorted(counted, key=lambda c: not isinstance(c[1], True_))
        )
    ).subquery()
    listed = select(every.c.id) if bound is None else select(every.c.id).limit(bound + 1)
    total = session.execute(select(func.count()).select_from(listed.subquery())).scalar_one()
    merged = union_all(*pages).subquery()
    page = (
        select(merged).order_by(merged.c.due_at.asc().nulls_last(), merged.c.id).offset(offset).limit(limit).subquery()
    )
    rows = session.execute(
        select(Case, page.c.task).join(page, page.c.id == Case.id).order_by(page.c.due_at.asc().nulls_last(), page.c.id)
    ).all()
    items = [QueueItem(c, t) for c, t in rows]
    if bound is not None and total > bound:
        return items, bound, False
    return items, total, True
