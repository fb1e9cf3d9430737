"""Work queues: what is waiting for me now, soonest deadline first (one query, whatever my roles)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ARRAY, ColumnElement, String, and_, any_, case, cast, false, func, or_, select
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.identity import User
from dispatch.cases.models import Case, Light, State
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
    # Instead of the moves being possible: the user's case waits for someone else's answer to one of these moves.
    waiting: Callable[[User], ColumnElement[bool]] | None = None


def _awaiting_approval(user: User) -> ColumnElement[bool]:
    """The handler's department's case waits for the dispatcher's answer to a request (a return, an extension)."""
    return and_(
        Case.department_code == user.department_code,
        Case.status == State.dispatched,
        Case.pending_request.is_not(None),
    )


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


def _tasks(user: User, settings: Settings) -> list[tuple[str, ColumnElement[bool]]]:
    """(task, condition) pairs for the user's roles, from the move table; the first that holds names a case's task."""
    tasks: list[tuple[str, ColumnElement[bool]]] = []
    for task in TASKS:
        if task.waiting is not None:
            if any(user.has_role(*BY_ACTION[action].roles) for action in task.actions):
                tasks.append((task.name, task.waiting(user)))
            continue
        conditions = []
        for action in task.actions:
            move = BY_ACTION[action]
            if not user.has_role(*move.roles):
                continue
            states = [s for s in move.states if task.states is None or s in task.states]
            conditions.append(and_(Case.status.in_(states), move.guard.holds(user, settings)))
        if conditions:
            condition = or_(*conditions)
            tasks.append((task.name, and_(condition, task.narrowed_by(user)) if task.narrowed_by else condition))
    return tasks


@dataclass
class QueueItem(ReadsAsItsCase):
    """A case waiting for the user, and what is expected of them (`task`); anything else is the case's."""

    case: Case
    task: str


def my_queue(
    session: Session, user: User, settings: Settings, offset: int, limit: int, count_ahead: int | None = None
) -> tuple[list[QueueItem], int, bool]:
    """The cases waiting for the user, each with its task, soonest deadline first; their total and whether it is
    exact: with `count_ahead`, counted no further than that many past the page (list_cases's bound)."""
    tasks = _tasks(user, settings)
    if not tasks:
        return [], 0, True
    waiting = or_(*(cond for _, cond in tasks)) if tasks else false()
    task = case(*[(cond, name) for name, cond in tasks], else_=None).label("task")
    counted = select(Case.id).where(waiting)
    bound = None if count_ahead is None else offset + limit + count_ahead
    if bound is not None:
        counted = counted.limit(bound + 1)
    total = session.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
    rows = session.execute(
        select(Case, task).where(waiting).order_by(Case.due_at.asc().nulls_last(), Case.id).offset(offset).limit(limit)
    ).all()
    items = [QueueItem(c, t) for c, t in rows]
    if bound is not None and total > bound:
        return items, bound, False
    return items, total, True
