"""The guards of the move table: what a move needs beyond the case's state and the caller's role.

Each guard is written once, in two forms side by side: `why_not` on one case (the move's refusal, and whether
`allowed_actions` lists it) and `holds` as a condition on cases (the work queues, which select the cases a user can
move now). tests/dispatch/workflow/test_guards.py checks that the two agree on every case of a varied set.

The assignment of a case to a person (a handler's department; an inspector's cells, for the queues) is a guard
where the move needs it, so that `allowed_actions` lists exactly what `act` accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, true

from citymgmt.core.config import Settings
from citymgmt.core.identity import Role, User
from dispatch.cases.models import Case, State

WhyNot = Callable[[Case, User | None, Settings], str | None]
Holds = Callable[[User, Settings], ColumnElement[bool]]


@dataclass(frozen=True)
class Guard:
    why_not: WhyNot  # None: the guard lets the move through (user None: an automatic move)
    holds: Holds  # the cases of which why_not is None for this user

    def __and__(self, other: Guard) -> Guard:
        def why_not(case: Case, user: User | None, settings: Settings) -> str | None:
            return self.why_not(case, user, settings) or other.why_not(case, user, settings)

        return Guard(why_not, lambda user, settings: and_(self.holds(user, settings), other.holds(user, settings)))


NONE = Guard(lambda case, user, settings: None, lambda user, settings: true())


def acts_as_handler(user: User | None) -> bool:
    """A handler acting as such (one who also dispatches acts as the dispatcher)."""
    return user is not None and user.has_role(Role.handler) and not user.has_role(Role.dispatcher)


IN_DEPARTMENT = Guard(
    lambda case, user, settings: (
        "the case is not in your department's queue"
        if user is not None and user.has_role(Role.handler) and user.department_code != case.department_code
        else None
    ),
    lambda user, settings: Case.department_code == user.department_code if user.has_role(Role.handler) else true(),
)

NOTHING_PENDING = Guard(
    lambda case, user, settings: (
        f"a {case.pending_request['kind']} request is waiting for the dispatcher" if case.pending_request else None
    ),
    lambda user, settings: Case.pending_request.is_(None),
)


def pending(kind: str) -> Guard:
    """A request of this kind (return, extension, suspension) waits for the dispatcher."""
    return Guard(
        lambda case, user, settings: (
            None if (case.pending_request or {}).get("kind") == kind else f"no {kind} request is waiting"
        ),
        # `IS NOT NULL` first, though the kind's comparison implies it: the column's statistics know how few cases
        # have a request waiting, where the kind's expression gets a default guess (0.5 %). Without it the
        # dispatcher's queue walked every dispatched case in deadline order looking for the page's requests.
        lambda user, settings: and_(Case.pending_request.is_not(None), Case.pending_request["kind"].astext == kind),
    )


EXTENSIONS_LEFT = Guard(
    lambda case, user, settings: (
        f"this case has had its {settings.max_extensions} extensions"
        if case.extensions_granted >= settings.max_extensions
        else None
    ),
    lambda user, settings: Case.extensions_granted < settings.max_extensions,
)

# A handler asks for a suspension (nothing else waiting); the dispatcher suspends (or approves the request). Either
# way only while the case has suspensions left.
SUSPENSION = Guard(
    lambda case, user, settings: (
        f"this case has been suspended {case.suspensions} times, the most allowed"
        if case.suspensions >= settings.max_suspensions
        else (NOTHING_PENDING.why_not(case, user, settings) if acts_as_handler(user) else None)
    ),
    lambda user, settings: and_(
        Case.suspensions < settings.max_suspensions,
        Case.pending_request.is_(None) if acts_as_handler(user) else true(),
    ),
)

# The case's suspensions in all (挂账) stay within CITYMGMT_MAX_SUSPENSION_DAYS: once they reach it, no more.
SUSPENSION_TIME_LEFT = Guard(
    lambda case, user, settings: (
        f"this case has been suspended {case.suspended_seconds / 86400:.1f} days in all, the most allowed is"
        f" {settings.max_suspension_days:g} days"
        if case.suspended_seconds >= settings.max_suspension_days * 86400
        else None
    ),
    lambda user, settings: Case.suspended_seconds < settings.max_suspension_days * 86400,
)

RESUMABLE = Guard(  # a suspended case resumes; a dispatched one "resumes" by the rejection of its suspension request
    lambda case, user, settings: (
        None if case.status == State.suspended else pending("suspension").why_not(case, user, settings)
    ),
    lambda user, settings: or_(Case.status == State.suspended, pending("suspension").holds(user, settings)),
)

ESCALATION_OPEN = Guard(
    lambda case, user, settings: None if case.escalated else "the case has no escalation waiting for a reply",
    lambda user, settings: Case.escalated.is_(True),
)

ESCALATION_ANSWERED = Guard(  # a case is not closed while the department owes a reply to its escalation (督办)
    lambda case, user, settings: (
        "the escalation (督办) waits for the department's reply: the case closes once it is answered"
        if case.escalated
        else None
    ),
    lambda user, settings: Case.escalated.is_(False),
)

NOT_ESCALATED = Guard(
    lambda case, user, settings: "already escalated and waiting for a reply" if case.escalated else None,
    lambda user, settings: Case.escalated.is_(False),
)

CHECK_PASSED = Guard(
    lambda case, user, settings: None if case.check_passed else "the on-site check has not passed",
    lambda user, settings: Case.check_passed.is_(True),
)

CHECK_WAITING = Guard(
    lambda case, user, settings: "the check has passed: the case waits to be closed" if case.check_passed else None,
    lambda user, settings: Case.check_passed.is_not(True),
)

CALLBACK_WAITING = Guard(  # a closed case from a call-back source, its caller not yet called back (回访)
    lambda case, user, settings: None if case.callback_pending else "no call-back (回访) is waiting for this case",
    # The column itself (never null), not `IS true`: the planner then reads the partial index of waiting call-backs
    # instead of every closed case.
    lambda user, settings: Case.callback_pending.expression,
)

UNVERIFIED_PUBLIC_REPORT = Guard(  # what is sent to be verified on site (核实)
    lambda case, user, settings: (
        "an inspector's own report needs no verification"
        if case.source == "inspector"
        else ("already verified" if case.verified else None)
    ),
    lambda user, settings: and_(Case.source != "inspector", Case.verified.is_(False)),
)

# Where the city allows it (CITYMGMT_PHONE_VERIFICATION_SOURCES, none by default), the centre verifies a report of
# those sources by calling the reporter back, with a note, instead of sending an inspector.
PHONE_VERIFIABLE = Guard(
    lambda case, user, settings: (
        "already verified"
        if case.verified
        else (
            None
            if case.source in settings.phone_verification_sources
            else f"reports from the {case.source} source are verified on site, not by phone"
        )
    ),
    lambda user, settings: and_(Case.source.in_(settings.phone_verification_sources), Case.verified.is_(False)),
)

_A_REPORT = {"public": "a public report", "hotline": "a hotline report", "open311": "an Open311 report"}

# DOMAIN.md §3: a report from the public or the hotline is filed only once verified on site, unless it comes from
# a source the city files on arrival (CITYMGMT_AUTO_FILE_SOURCES; inspectors' own reports by default).
VERIFIED_OR_TRUSTED = Guard(
    lambda case, user, settings: (
        None
        if case.verified or case.source == "inspector" or case.source in settings.auto_file_sources
        else f"{_A_REPORT.get(case.source, 'a report')} is filed after it is verified on site (核实): request the"
        " verification"
    ),
    lambda user, settings: or_(
        Case.verified.is_(True), Case.source == "inspector", Case.source.in_(settings.auto_file_sources)
    ),
)

# Cancelling a filed case needs the shift leader (值班长); operators cancel reports before filing.
CANCELLABLE_BY = Guard(
    lambda case, user, settings: (
        "cancelling a filed case needs the shift leader (值班长)"
        if case.status == State.filed and user is not None and not user.has_role(Role.leader)
        else None
    ),
    lambda user, settings: true() if user.has_role(Role.leader) else Case.status != State.filed,
)
