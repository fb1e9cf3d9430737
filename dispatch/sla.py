"""The SLA sweep (超时扫描): lights move green → yellow at `warn_at` and → red at `due_at`, overdue disposals are
escalated (督办) as configured, each change an event. Set-based: a few statements whatever the number of cases, on
partial indexes that hold only the cases still able to change light, so a sweep costs what changed, not what exists.
Only running steps have a light (the workflow clears it when a case is suspended, closed or cancelled).

Idempotent (a case changes light once; running again at the same time changes nothing) and safe to run
concurrently: each UPDATE re-checks its condition on the locked row, so of two sweeps only one moves a case, and
only the one that moved it writes its event and escalates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.periodic import periodic
from dispatch.notifications import notify

# Yellow: green cases whose warning time has come but not their deadline.
WARN_SQL = """
WITH changed AS (
    UPDATE cases SET light = 'yellow'
    WHERE light = 'green' AND warn_at <= :now AND due_at > :now
    RETURNING id, status, department_code
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
    SELECT id, 'warn', NULL, :now, status, status,
           jsonb_build_object('light', 'yellow', 'from', 'green', 'step', status, 'automatic', true)
    FROM changed
)
SELECT id, status, department_code FROM changed
"""

# Red: cases whose deadline has passed (from green when a sweep was missed, or from yellow).
OVERDUE_SQL = """
WITH changed AS (
    UPDATE cases c SET light = 'red'
    FROM (SELECT id, light FROM cases
          WHERE light IN ('green', 'yellow') AND due_at <= :now
          FOR UPDATE) old
    WHERE c.id = old.id AND c.light IN ('green', 'yellow') AND c.due_at <= :now
    RETURNING c.id, c.status, c.department_code, old.light AS was, c.due_at
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
    SELECT id, 'overdue', NULL, :now, status, status,
           jsonb_build_object('light', 'red', 'from', was, 'step', status, 'due_at', due_at, 'automatic', true)
    FROM changed
)
SELECT id, status, department_code FROM changed
"""

# Escalation of overdue disposals (the department's step), once per case.
ESCALATE_SQL = """
WITH changed AS (
    UPDATE cases SET escalated = true, version = version + 1
    WHERE id = ANY(:ids) AND status = 'dispatched' AND NOT escalated
    RETURNING id, status
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
    SELECT id, 'escalate', NULL, :now, status, status,
           jsonb_build_object('reason', 'overdue', 'automatic', true, 'note', '处置超时，自动督办')
    FROM changed
)
SELECT id FROM changed
"""


@dataclass
class SweepResult:
    at: datetime
    warned: list[int] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    by_department: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"warned": len(self.warned), "overdue": len(self.overdue), "escalated": len(self.escalated)}


def sweep(session: Session, now: datetime, escalate_overdue: bool = True) -> SweepResult:
    """Move every light that is due to move at `now`, in the caller's transaction."""
    result = SweepResult(now)
    for kind, sql in (("warned", WARN_SQL), ("overdue", OVERDUE_SQL)):
        for case_id, _status, department in session.execute(text(sql), {"now": now}):
            getattr(result, kind).append(case_id)
            if department:
                result.by_department.setdefault(department, {}).setdefault(kind, []).append(case_id)
    if escalate_overdue and result.overdue:
        result.escalated = list(
            session.execute(text(ESCALATE_SQL), {"ids": result.overdue, "now": now}).scalars().all()
        )
    for kind, event in (("warned", "sla_warn"), ("overdue", "sla_overdue")):
        for department, ids in result.by_department.items():
            notify(session, event, department, ids.get(kind, []), now)
        notify(session, event, None, getattr(result, kind), now)  # the centre hears of all
    return result


@periodic("sla-sweep", every=60)
def sweep_periodically(session: Session, now: datetime) -> dict[str, Any]:
    settings = current_app.extensions["citymgmt.settings"]
    return sweep(session, now, settings.sla_escalate_overdue).summary()
