"""Which clock a step's hours run on: the one rule (DOMAIN.md §5), for the workflow's steps and the sweep's
escalations alike. The arithmetic is dispatch.sla.workcalendar's; the steps' limits are the workflow's
(dispatch.workflow.moves.STEP_LIMITS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from dispatch.cases.models import CLOSING, State
from dispatch.sla.calendar import calendar_cache
from dispatch.sla.workcalendar import working_deadline

# The centre's own steps and its inspectors': accept and file, on-site verification, dispatch, send to check,
# on-site check, closing.
CENTRE_STEPS: tuple[str, ...] = (State.reported, State.verifying, State.filed, State.handled, State.checking, CLOSING)
REPLY = "reply"  # a department's reply to an escalation (督办)


def step_clock(step: str, urgency: str, settings: Settings) -> str:
    """An urgent case's steps run round the clock; the centre's own steps too unless CITYMGMT_CENTRE_HOURS=working;
    a department's (its reply to an escalation; its disposal runs on its category's limit type, given with the
    category) on the working calendar."""
    if urgency == "urgent" or (step in CENTRE_STEPS and settings.centre_hours == "24x7"):
        return "urgent_hours"
    return "working_hours"


def reply_due(session: Session, now: datetime, urgency: str, settings: Settings) -> datetime:
    """When the department's reply to an escalation made now is due (CITYMGMT_ESCALATION_REPLY_HOURS)."""
    calendar = calendar_cache.get(session, settings)
    return working_deadline(now, settings.escalation_reply_hours, step_clock(REPLY, urgency, settings), calendar)
