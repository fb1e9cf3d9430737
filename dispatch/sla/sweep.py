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
from dispatch.cases.models import Light
from dispatch.sla.clocks import reply_due
from dispatch.sla.queries import BEGIN_SQL, END_SQL, OVERDUE_SQL, REPLY_OVERDUE_SQL, SUSPENSION_CAP_SQL, WARN_SQL


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
