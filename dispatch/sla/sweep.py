"""The SLA sweep (超时扫描): lights move green → yellow at `warn_at` and → red at `due_at`, overdue disposals are
escalated (督办) as configured, each change an event; late replies to escalations are marked, and suspensions that
reach their cap are announced for the workflow to resume. Set-based: a few statements whatever the number of cases, on
partial indexes of the clocks (`case_clocks`) that hold only the cases still able to change light, so a sweep costs
what changed, not what exists.
Only running steps have a light (the workflow clears it when a case is suspended, closed or cancelled).

Idempotent (a case changes light once; running again at the same time changes nothing) and safe to run
concurrently: each UPDATE re-checks its condition on the locked row, so of two sweeps only one moves a case, and
only the one that moved it writes its event and escalates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import driver
from citymgmt.core.periodic import periodic
from dispatch.cases import signals
from dispatch.cases.models import CLOSING, Light, State
from dispatch.cases.models import DISPOSAL as DISPOSAL_STATE
from dispatch.sla.clocks import reply_due

# The sweep finds the cases through their clocks (`case_clocks`, narrow, with the partial indexes) and writes both:
# the case first, as the workflow does (its change of a clock reaches case_clocks by a trigger, after the case), so
# that a sweep and a move of the same case wait for each other instead of deadlocking. The case's change touches no
# indexed column, so it stays on its page (HOT) and adds no index entry. Each UPDATE re-checks the case's own clock
# on the row it locks; the overdue one, which reports what the light and the escalation were, moves a case only if
# its row is still the one it read (`c.ctid = o.ctid`): a case changed meanwhile (a move, another sweep) waits for
# the next sweep, so two sweeps never move the same light and what the events say it was is what it was.
# citymgmt.sweeping keeps the trigger out of the sweep's own writes.
#
# The cases are reached by key from an array of the clocks' keys (`= ANY (ARRAY(SELECT ...))`), and the overdue
# update's row written from the row read by its address, never by a join whose order rests on the planner's guess
# of rows: with statistics that say a table is empty (autovacuum after a large rolled-back write), such a join can
# be planned as a full scan of one table for each row of another. Planned for 1,000,000 open cases, the statements
# cross JIT's threshold; compiling costs more than it saves.
SETTINGS = {"jit": "off", "citymgmt.sweeping": "on"}
BEGIN_SQL = "; ".join(f"SET LOCAL {name} = {value}" for name, value in SETTINGS.items())
END_SQL = "; ".join(f"SET LOCAL {name} TO DEFAULT" for name in SETTINGS)  # the clock trigger's too: off by default

# The states and lights are the case model's (dispatch.cases.models), written into the SQL as literals: the
# partial indexes of the clocks are chosen only for predicates the planner can match to theirs, not for parameters.
GREEN, YELLOW, RED = Light.green.value, Light.yellow.value, Light.red.value
DISPOSAL = DISPOSAL_STATE.value
# The step a light belongs to (Case.step, in SQL): the state, or closing after a passed check.
STEP = f"CASE WHEN status = '{State.checking.value}' AND check_passed THEN '{CLOSING}' ELSE status END"

# Yellow: green cases whose warning time has come but not their deadline.
WARN_SQL = f"""
WITH changed AS (
    UPDATE cases c SET light = '{YELLOW}'
    WHERE c.id = ANY (ARRAY(
              SELECT case_id FROM case_clocks WHERE light = '{GREEN}' AND warn_at <= :now AND due_at > :now))
      AND c.light = '{GREEN}' AND c.warn_at <= :now AND c.due_at > :now  -- re-checked on the row locked
    RETURNING c.id, c.status, c.department_code, c.check_passed
), clock AS (
    UPDATE case_clocks SET light = '{YELLOW}' WHERE case_id = ANY (ARRAY(SELECT id FROM changed))
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
    SELECT id, 'warn', NULL, :now, status, status,
           jsonb_build_object('light', '{YELLOW}', 'from', '{GREEN}', 'step', {STEP}, 'automatic', true)
    FROM changed
)
SELECT id, status, department_code FROM changed
"""  # noqa: S608 (constants only)

# Red: cases whose deadline has passed (from green when a sweep was missed, or from yellow); with :escalate, an
# overdue disposal (the department's step) is escalated once in the same row write (督办), its event beside the
# overdue one. One write per case, not two.
OVERDUE_SQL = f"""
WITH changed AS (
    UPDATE cases c SET light = '{RED}',
           escalated = c.escalated OR (:escalate AND c.status = '{DISPOSAL}'),
           escalation_due_at = CASE WHEN :escalate AND c.status = '{DISPOSAL}' AND NOT c.escalated
                                    THEN CASE WHEN c.urgency = 'urgent' THEN :reply_urgent ELSE :reply_normal END
                                    ELSE c.escalation_due_at END,
           version = c.version + CASE WHEN :escalate AND c.status = '{DISPOSAL}' AND NOT c.escalated THEN 1 ELSE 0 END
    FROM cases o
    WHERE o.id = ANY (ARRAY(
              SELECT case_id FROM case_clocks WHERE light IN ('{GREEN}', '{YELLOW}') AND due_at <= :now))
      AND o.light IN ('{GREEN}', '{YELLOW}') AND o.due_at <= :now
      AND c.id = o.id AND c.ctid = o.ctid  -- o: the case as read; c: the row written, still that one
    RETURNING c.id, c.status, c.department_code, c.check_passed, o.light AS was, c.due_at, c.escalation_due_at,
              (:escalate AND c.status = '{DISPOSAL}' AND NOT o.escalated) AS escalating
), clock AS (
    UPDATE case_clocks SET light = '{RED}' WHERE case_id = ANY (ARRAY(SELECT id FROM changed))
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
    SELECT id, 'overdue', NULL::int4, :now, status, status,
           jsonb_build_object('light', '{RED}', 'from', was, 'step', {STEP}, 'due_at', due_at, 'automatic', true)
    FROM changed
    UNION ALL
    SELECT id, 'escalate', NULL::int4, :now, status, status,
           jsonb_build_object('reason', 'overdue', 'automatic', true, 'note', '处置超时，自动督办',
                              'reply_due_at', escalation_due_at)
    FROM changed WHERE escalating
)
SELECT id, status, department_code, escalating FROM changed
"""  # noqa: S608 (constants only)


# The department's reply to an escalation (督办) past its deadline: marked once, with an event.
REPLY_OVERDUE_SQL = """
WITH changed AS (
    UPDATE cases c SET escalation_reply_overdue = true
    WHERE c.escalated AND NOT c.escalation_reply_overdue AND c.escalation_due_at <= :now
    RETURNING c.id, c.status, c.department_code, c.escalation_due_at
), events AS (
    INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload, department_code)
    SELECT id, 'reply_overdue', NULL::int4, :now, status, status,
           jsonb_build_object('due_at', escalation_due_at, 'automatic', true), department_code
    FROM changed
)
SELECT id, status, department_code FROM changed
"""


# Suspended cases whose suspensions in all reach the cap (CITYMGMT_MAX_SUSPENSION_DAYS) at :now, found by their
# state (ix_cases_status_reported leads with it; few cases are suspended): the workflow resumes them.
SUSPENSION_CAP_SQL = f"""
SELECT id FROM cases
WHERE status = '{State.suspended.value}'
  AND suspended_at + make_interval(secs => :cap_s - suspended_seconds) <= :now
ORDER BY id
"""  # noqa: S608 (constants only)


@dataclass
class SweepResult:
    at: datetime
    warned: list[int] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    replies_overdue: list[int] = field(default_factory=list)  # escalations not replied to in time
    suspensions_capped: list[int] = field(default_factory=list)  # suspended as long as a case may be: resumed
    by_department: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "warned": len(self.warned),
            "overdue": len(self.overdue),
            "escalated": len(self.escalated),
            "replies_overdue": len(self.replies_overdue),
            "suspensions_capped": len(self.suspensions_capped),
        }


def sweep(
    session: Session, now: datetime, escalate_overdue: bool = True, settings: Settings | None = None
) -> SweepResult:
    """Move every light that is due to move at `now`, mark the escalations whose reply is overdue, in the caller's
    transaction. `settings`: the city's (its calendar and reply limit); None: the defaults."""
    settings = settings or Settings()
    result = SweepResult(now)
    params = {
        "now": now,
        "escalate": escalate_overdue,
        "reply_urgent": reply_due(session, now, "urgent", settings),
        "reply_normal": reply_due(session, now, "normal", settings),
    }
    driver(session).execute(BEGIN_SQL)  # one round trip: no parameters, so several statements may go in one
    for kind, sql in (("warned", WARN_SQL), ("overdue", OVERDUE_SQL), ("replies_overdue", REPLY_OVERDUE_SQL)):
        for case_id, _status, department, *escalating in session.execute(text(sql), params):
            getattr(result, kind).append(case_id)
            if escalating and escalating[0]:
                result.escalated.append(case_id)
            if department:
                result.by_department.setdefault(department, {}).setdefault(kind, []).append(case_id)
    driver(session).execute(END_SQL)
    cap = {"now": now, "cap_s": settings.max_suspension_days * 86400}
    result.suspensions_capped = list(session.execute(text(SUSPENSION_CAP_SQL), cap).scalars())
    for kind, light in (("warned", Light.yellow), ("overdue", Light.red)):
        if getattr(result, kind):
            signals.lights_changed.send(
                session,
                light=light,
                case_ids=getattr(result, kind),
                by_department={d: ids[kind] for d, ids in result.by_department.items() if ids.get(kind)},
                now=now,
            )
    if result.suspensions_capped:
        signals.suspension_cap_reached.send(session, case_ids=result.suspensions_capped, now=now, settings=settings)
    return result


@periodic("sla-sweep", every=60)
def sweep_periodically(session: Session, now: datetime, settings: Settings) -> dict[str, Any]:
    return sweep(session, now, settings.sla_escalate_overdue, settings).summary()
