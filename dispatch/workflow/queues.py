"""Work queues: what is waiting for me now, soonest deadline first (one query, whatever my roles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from citymgmt.core.identity import Role, User
from dispatch.cases.models import FINAL_STATES, Case, Light, State
from grids.models import InspectorCell


def _tasks(user: User) -> list[tuple[str, ColumnElement[bool]]]:
    """(task, condition) pairs for the user's roles; the first that holds names a case's task."""
    tasks: list[tuple[str, ColumnElement[bool]]] = []
    if user.has_role(Role.handler) and user.department_code:
        mine = Case.department_code == user.department_code
        tasks += [
            ("reply", and_(mine, Case.escalated.is_(True), Case.status.notin_(FINAL_STATES))),
            ("handle", and_(mine, Case.status == State.dispatched, Case.pending_request.is_(None))),
            ("awaiting_approval", and_(mine, Case.status == State.dispatched, Case.pending_request.is_not(None))),
        ]
    if user.has_role(Role.inspector):
        beat = select(InspectorCell.cell_code).where(
            InspectorCell.user_id == user.id, InspectorCell.unassigned_at.is_(None)
        )
        in_beat = Case.cell_code.in_(beat)
        tasks += [
            ("verify", and_(in_beat, Case.status == State.verifying)),
            ("check", and_(in_beat, Case.status == State.checking, Case.check_passed.is_not(True))),
        ]
    if user.has_role(Role.dispatcher):
        tasks += [
            ("dispatch", Case.status == State.filed),
            ("approve", and_(Case.status == State.dispatched, Case.pending_request.is_not(None))),
        ]
    if user.has_role(Role.leader):
        tasks += [
            ("file", and_(Case.status == State.reported, Case.verified.is_(True) | (Case.source == "inspector"))),
            ("close", and_(Case.status == State.checking, Case.check_passed.is_(True))),
        ]
    if user.has_role(Role.operator, Role.leader):
        tasks += [
            ("accept", and_(Case.status == State.reported, Case.source != "inspector", Case.verified.is_(False))),
            ("request_check", Case.status == State.handled),
        ]
    if user.has_role(Role.supervisor):
        tasks.append(("overdue", and_(Case.light == Light.red, Case.escalated.is_(False))))
    return tasks


@dataclass
class QueueItem:
    """A case waiting for the user, and what is expected of them (`task`); anything else is the case's."""

    case: Case
    task: str

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.case, name)


def my_queue(session: Session, user: User, offset: int, limit: int) -> tuple[list[QueueItem], int]:
    """The cases waiting for the user, each with its task, soonest deadline first; and their total."""
    tasks = _tasks(user)
    if not tasks:
        return [], 0
    waiting = or_(*(cond for _, cond in tasks)) if tasks else false()
    task = case(*[(cond, name) for name, cond in tasks], else_=None).label("task")
    total = session.execute(select(func.count()).select_from(Case).where(waiting)).scalar_one()
    rows = session.execute(
        select(Case, task).where(waiting).order_by(Case.due_at.asc().nulls_last(), Case.id).offset(offset).limit(limit)
    ).all()
    return [QueueItem(c, t) for c, t in rows], total
