"""The SLA feature's hand-written SQL: the sweep's statements (sweep.py), built from the case model's states and
lights so that the one owner of those names is the model.

Placeholders: SQL run through SQLAlchemy's `text()` uses `:name`; SQL run on the raw driver (psycopg, through
`citymgmt.core.db.driver`) uses psycopg's `%(name)s`, never positional `%s`. The driver runs only BEGIN_SQL and
END_SQL here, which take no parameters (so several statements may go in one round trip).

Hand-written rather than the ORM's: each sweep statement is one set-based UPDATE ... RETURNING with its events
written in the same statement (data-modifying CTEs), with literals the partial indexes can match (below).
"""

from __future__ import annotations

from dispatch.cases.models import CLOSING, Light, State
from dispatch.cases.models import DISPOSAL as DISPOSAL_STATE

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
              (:escalate AND c.status = '{DISPOSAL}' AND NOT o.escalated) AS escalating, c.urgency = 'urgent' AS urgent
), clock AS (  -- the escalation too, which the clock copies (the supervisors' overdue task is red, not escalated)
    UPDATE case_clocks SET light = '{RED}' WHERE case_id = ANY (ARRAY(SELECT id FROM changed WHERE NOT escalating))
), escalated_urgent_clock AS (  -- with the reply's deadline, one of two by urgency, as the case's
    UPDATE case_clocks SET light = '{RED}', escalated = true, escalation_due_at = :reply_urgent,
           escalation_reply_overdue = false
    WHERE case_id = ANY (ARRAY(SELECT id FROM changed WHERE escalating AND urgent))
), escalated_clock AS (
    UPDATE case_clocks SET light = '{RED}', escalated = true, escalation_due_at = :reply_normal,
           escalation_reply_overdue = false
    WHERE case_id = ANY (ARRAY(SELECT id FROM changed WHERE escalating AND NOT urgent))
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


# The department's reply to an escalation (督办) past its deadline: marked once, with an event. Found on the clocks
# (their index of replies by deadline), written on both, as the overdue statement does.
REPLY_OVERDUE_SQL = """
WITH changed AS (
    UPDATE cases c SET escalation_reply_overdue = true
    WHERE c.id = ANY (ARRAY(
              SELECT case_id FROM case_clocks
              WHERE escalated IS TRUE AND escalation_reply_overdue IS FALSE AND escalation_due_at <= :now))
      AND c.escalated AND NOT c.escalation_reply_overdue AND c.escalation_due_at <= :now  -- re-checked on the row
    RETURNING c.id, c.status, c.department_code, c.escalation_due_at
), clock AS (
    UPDATE case_clocks SET escalation_reply_overdue = true WHERE case_id = ANY (ARRAY(SELECT id FROM changed))
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
