"""The case workflow: the one place that knows which `(state, action, role)` moves exist (ARCHITECTURE.md).

Every move locks the case row, checks the caller's role and the case `version` (409 when stale), checks the move
is allowed from the current state (422 listing the allowed ones), writes one event with actor, time, note and
payload, starts the next step's clock (due_at, warn_at, light) and bumps the version. Automatic steps (filing
inspector reports, dispatching on a rule match, requesting the check after handling) are the same moves made by
the system (actor None), chained in the same transaction.

Side paths (DOMAIN.md §3): verification (核实) of public reports; cancel (作废); return (回退) asked by the
department and approved or rejected by the dispatcher; extension (延期) likewise, at most `max_extensions`;
suspension (挂账) asked by the department (or made by the dispatcher), approved by the dispatcher's `suspend`,
rejected by the dispatcher's `resume`, at most `max_suspensions`, the clock frozen meanwhile; rework (返工) when
the on-site check fails, to the same department with the clock still running; escalation (督办) with a reply;
the call-back (回访) of a closed public or hotline case, whose unsatisfied caller may reopen it as rework.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citymgmt.core import departments
from citymgmt.core.config import Settings
from citymgmt.core.errors import Conflict, Forbidden, NotFound, ValidationError
from citymgmt.core.identity import RECEPTION, Role, User
from dispatch.cases import signals
from dispatch.cases.models import (
    CALLBACK_RESULTS,
    CLOSING,
    FINAL_STATES,
    OPEN_STATES,
    Case,
    CaseEvent,
    Light,
    State,
)
from dispatch.sla.calendar import calendar_cache
from dispatch.sla.clocks import CENTRE_STEPS, reply_due, step_clock
from dispatch.sla.workcalendar import WorkingCalendar, in_hours, working_deadline, working_elapsed
from dispatch.taxonomy.operations import Category
from dispatch.workflow.guards import (
    CALLBACK_WAITING,
    CANCELLABLE_BY,
    CHECK_PASSED,
    CHECK_WAITING,
    ESCALATION_ANSWERED,
    ESCALATION_OPEN,
    EXTENSIONS_LEFT,
    IN_DEPARTMENT,
    NONE,
    NOT_ESCALATED,
    NOTHING_PENDING,
    PHONE_VERIFIABLE,
    RESUMABLE,
    SUSPENSION,
    SUSPENSION_TIME_LEFT,
    UNVERIFIED_PUBLIC_REPORT,
    VERIFIED_OR_TRUSTED,
    Guard,
    acts_as_handler,
    pending,
)

SYSTEM = "system"  # the actor of automatic moves (stored as actor_id None)

# The centre's own steps and its inspectors' (*local*; DOMAIN.md §5): their limits in hours, per urgency, on the
# clock of dispatch.sla.clocks.step_clock. The closing step's is CITYMGMT_CLOSING_HOURS; the department's disposal
# has its category's limit.
STEP_LIMITS: dict[str, dict[str, float]] = {
    State.reported: {"urgent": 5 / 60, "normal": 20 / 60},  # accept and file
    State.verifying: {"urgent": 0.5, "normal": 1},  # on-site verification
    State.filed: {"urgent": 5 / 60, "normal": 10 / 60},  # dispatch
    State.handled: {"urgent": 10 / 60, "normal": 30 / 60},  # send to check
    State.checking: {"urgent": 1, "normal": 1},  # on-site check
}
assert {*STEP_LIMITS, CLOSING} == set(CENTRE_STEPS)  # each of the centre's steps has its limit


@dataclass(frozen=True)
class Move:
    action: str
    states: tuple[str, ...]
    roles: tuple[str, ...]
    apply: Callable[[MoveContext], str]  # returns the new state
    guard: Guard = NONE  # what the move needs beyond its states and roles (dispatch.workflow.guards)
    needs_note: bool = False


@dataclass
class MoveContext:
    session: Session
    case: Case
    actor: User | None
    now: datetime
    settings: Settings
    body: dict[str, Any]
    payload: dict[str, Any]  # what the event records beyond the note


# -- the calendar -----------------------------------------------------------------------------------------------


def calendar_for(session: Session, settings: Settings) -> WorkingCalendar:
    return calendar_cache.get(session, settings)


def _limit(session: Session, case: Case) -> tuple[float, str]:
    category = session.get(Category, case.category_id)
    assert category is not None
    for limit in category.time_limits:
        if limit["urgency"] == case.urgency:
            return float(limit["amount"]), str(limit["type"])
    raise ValidationError(f"{case.category_code} has no {case.urgency} time limit", details={"urgency": case.urgency})


def _start_step(ctx: MoveContext, state: str) -> None:
    """Start the clock of the step the case enters: due_at, warn_at at the warn fraction, a green light."""
    case, calendar, settings = ctx.case, calendar_for(ctx.session, ctx.settings), ctx.settings
    case.step_started_at = ctx.now
    if state == State.checking and case.check_passed:
        state = CLOSING  # a passed check ends the inspector's step: the leader's closing step
    if state == State.dispatched:
        if case.disposal_due_at is None:
            amount, limit_type = _limit(ctx.session, case)
            case.disposal_due_at = working_deadline(ctx.now, amount, limit_type, calendar)
            case.disposal_limit_type = limit_type
            case.disposal_limit_hours = in_hours(amount, limit_type, calendar)[0]
        whole, clock = _disposal_limit(ctx.session, case, calendar)
        _set_due(case, ctx.now, case.disposal_due_at, whole, clock, calendar, settings)
    elif state in CENTRE_STEPS:
        hours = settings.closing_hours if state == CLOSING else STEP_LIMITS[state][case.urgency]
        clock = step_clock(state, case.urgency, settings)
        due = working_deadline(ctx.now, hours, clock, calendar)
        _set_due(case, ctx.now, due, hours, clock, calendar, settings)
    else:  # suspended, closed, cancelled: no clock
        case.due_at = case.warn_at = None
        case.light = None


def _disposal_limit(session: Session, case: Case, calendar: WorkingCalendar) -> tuple[float, str]:
    """The department's whole limit for the case, as hours of the clock it runs on: its category's limit and the
    extensions granted since it was dispatched (cases dispatched before the limit was recorded: the category's)."""
    limit_type = case.disposal_limit_type or "urgent_hours"
    clock = in_hours(0, limit_type, calendar)[1]
    if case.disposal_limit_hours is not None:
        return case.disposal_limit_hours, clock
    amount, category_type = _limit(session, case)
    return in_hours(amount, category_type, calendar)[0], clock


def _set_due(
    case: Case,
    start: datetime,
    due: datetime,
    whole_hours: float,
    clock: str,
    calendar: WorkingCalendar,
    settings: Settings,
) -> None:
    """The step's deadline, its warning point and light. The warning point is placed on the step's whole limit,
    (1 − CITYMGMT_SLA_WARN_FRACTION) of it before the deadline, however much of it was used before this start: a
    rework, a resume after suspension or a granted extension restarts the disposal's clock with part of its limit
    gone, and a case reworked at 87.5 % of its limit is yellow at once, not at 80 % of what is left."""
    remaining = working_elapsed(start, due, clock, calendar)
    lead = (1 - settings.sla_warn_fraction) * whole_hours
    case.due_at = due
    case.warn_at = working_deadline(start, max(remaining - lead, 0), clock, calendar)
    case.light = Light.red if start >= due else (Light.yellow if start >= case.warn_at else Light.green)


# -- the moves ------------------------------------------------------------------------------------------------------


def _to(state: str) -> Callable[[MoveContext], str]:
    return lambda ctx: state


def _file(ctx: MoveContext) -> str:
    return State.filed


def _cancel(ctx: MoveContext) -> str:
    return State.cancelled


def _verify(ctx: MoveContext) -> str:
    result = _result(ctx)
    ctx.payload["result"] = result
    return State.reported if result == "pass" else State.cancelled


def _verify_by_phone(ctx: MoveContext) -> str:
    """Verification (核实) by phone: the centre called the reporter back (the note says what was confirmed); the
    report is verified as an inspector's passed verification would make it, the event says by phone and who."""
    ctx.case.verified = True
    ctx.payload["result"] = "pass"
    ctx.payload["method"] = "phone"
    return State.reported


def _result(ctx: MoveContext) -> str:
    result = ctx.body.get("result")
    if result not in ("pass", "fail"):
        raise ValidationError("give the result: pass or fail", details={"result": "pass or fail"})
    return str(result)


def _dispatch(ctx: MoveContext) -> str:
    case = ctx.case
    department = ctx.body.get("department") or case.suggested_department_code
    if not department:
        raise ValidationError("name the department to dispatch to", details={"department": "required"})
    # (an automatic dispatch goes where routing just found a live department)
    if ctx.actor is not None and not departments.is_live(ctx.session, department):
        raise ValidationError(f"no live department {department}", details={"department": "unknown"})
    ctx.payload["department"] = department
    if case.returned_from is not None and case.returned_from != department:
        ctx.payload["redispatch_from"] = case.returned_from  # 错误派遣: counted against the dispatcher
    case.returned_from = None
    case.department_code = department
    signals.work_arrived.send(ctx.session, department_code=department, case_ids=[case.id], now=ctx.now)
    return State.dispatched


def _ask(kind: str) -> Callable[[MoveContext], str]:
    def apply(ctx: MoveContext) -> str:
        request: dict[str, Any] = {"kind": kind, "by": ctx.actor.id if ctx.actor else None, "at": ctx.now.isoformat()}
        if kind == "extension":
            request["hours"] = ctx.payload["hours"] = _hours(ctx)
        ctx.case.pending_request = request
        return ctx.case.status

    return apply


def _hours(ctx: MoveContext) -> float:
    hours = ctx.body.get("hours")
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= 24 * 365:
        raise ValidationError("give the hours asked for (more than 0)", details={"hours": "a positive number"})
    return float(hours)


def _approve_return(ctx: MoveContext) -> str:
    ctx.payload["department"] = ctx.case.department_code
    ctx.case.pending_request = None
    ctx.case.returned_from = ctx.case.department_code  # its next dispatch says whether it corrects this one
    ctx.case.department_code = None
    ctx.case.disposal_due_at = None  # the next department's clock starts at its dispatch
    ctx.case.disposal_limit_hours = None
    return State.filed


def _reject(ctx: MoveContext) -> str:
    ctx.case.pending_request = None
    return ctx.case.status


def _approve_extension(ctx: MoveContext) -> str:
    case = ctx.case
    hours = float((case.pending_request or {}).get("hours", 0))
    limit_type = case.disposal_limit_type or "urgent_hours"
    calendar = calendar_for(ctx.session, ctx.settings)
    assert case.disposal_due_at is not None
    if limit_type in ("working_hours", "working_days"):
        case.disposal_due_at = working_deadline(case.disposal_due_at, hours, "working_hours", calendar)
    else:
        case.disposal_due_at = case.disposal_due_at + timedelta(hours=hours)
    if case.disposal_limit_hours is not None:
        case.disposal_limit_hours += hours  # the whole limit grows by what was granted (the warning point too)
    case.extensions_granted += 1
    case.pending_request = None
    ctx.payload["hours"] = hours
    ctx.payload["due_at"] = case.disposal_due_at.isoformat()
    return State.dispatched


def _suspend(ctx: MoveContext) -> str:
    case = ctx.case
    if acts_as_handler(ctx.actor):
        return _ask("suspension")(ctx)  # the dispatcher's suspend approves it (guards.SUSPENSION)
    case.suspensions += 1
    case.suspended_at = ctx.now
    case.pending_request = None
    return State.suspended


def _resume(ctx: MoveContext) -> str:
    case = ctx.case
    if case.status == State.dispatched:  # rejecting a suspension request: the department carries on
        ctx.payload["rejected"] = "suspension"
        case.pending_request = None
        return State.dispatched
    assert case.suspended_at is not None and case.disposal_due_at is not None
    calendar = calendar_for(ctx.session, ctx.settings)
    limit_type = case.disposal_limit_type or "urgent_hours"
    # The clock was frozen: what was left at suspension is what is left now.
    remaining = working_elapsed(case.suspended_at, case.disposal_due_at, limit_type, calendar)
    case.disposal_due_at = working_deadline(ctx.now, max(remaining, 0), limit_type, calendar)
    ctx.payload["suspended_for_s"] = (ctx.now - case.suspended_at).total_seconds()
    case.suspended_seconds += max(round(ctx.payload["suspended_for_s"]), 0)  # against CITYMGMT_MAX_SUSPENSION_DAYS
    case.suspended_at = None
    return State.dispatched


def _handle(ctx: MoveContext) -> str:
    ctx.case.check_passed = None
    return State.handled


def _check(ctx: MoveContext) -> str:
    result = _result(ctx)
    ctx.payload["result"] = result
    if result == "pass":
        ctx.case.check_passed = True
        return State.checking
    ctx.case.check_passed = None
    ctx.payload["rework"] = True  # 返工: back to the same department, the clock still running
    return State.dispatched


def _close(ctx: MoveContext) -> str:
    ctx.case.closed_at = ctx.now
    if ctx.case.source in ctx.settings.callback_sources:
        ctx.case.callback_pending = True  # the caller is called back (回访): a task in the operators' queue
        ctx.payload["callback"] = True
    return State.closed


def _callback(ctx: MoveContext) -> str:
    """The call-back (回访): the caller's answer, satisfied (满意), basically satisfied (基本满意) or unsatisfied
    (不满意), and whether their problem was solved (解决, the resolution rate's). With CITYMGMT_CALLBACK_REWORK an
    unsatisfied caller reopens the case as rework (返工): back to the same department on its handling clock, as a
    failed check sends it, and to the on-site check and the call-back again after it."""
    case, body = ctx.case, ctx.body
    result = body.get("result")
    if result not in CALLBACK_RESULTS:
        raise ValidationError(
            "give the caller's answer: satisfied, basically_satisfied or unsatisfied",
            details={"result": " or ".join(CALLBACK_RESULTS)},
        )
    resolved = body.get("resolved")
    if not isinstance(resolved, bool):
        raise ValidationError(
            "say whether the caller's problem was solved (resolved: true or false)", details={"resolved": "required"}
        )
    ctx.payload["result"] = result
    ctx.payload["resolved"] = resolved
    case.callback_pending = False
    if result != "unsatisfied" or not ctx.settings.callback_rework or case.department_code is None:
        return State.closed
    ctx.payload["rework"] = True
    case.closed_at = None
    case.check_passed = None
    signals.work_arrived.send(ctx.session, department_code=case.department_code, case_ids=[case.id], now=ctx.now)
    return State.dispatched


def _escalate(ctx: MoveContext) -> str:
    case = ctx.case
    case.escalated = True
    case.escalation_due_at = reply_due(ctx.session, ctx.now, case.urgency, ctx.settings)
    case.escalation_reply_overdue = False
    ctx.payload["reply_due_at"] = case.escalation_due_at.isoformat()
    return case.status


def _reply(ctx: MoveContext) -> str:
    case = ctx.case
    if case.escalation_due_at is not None:
        ctx.payload["reply_due_at"] = case.escalation_due_at.isoformat()
        ctx.payload["on_time"] = ctx.now <= case.escalation_due_at
    case.escalated = False
    case.escalation_due_at = None
    case.escalation_reply_overdue = False
    return case.status


def _merge(ctx: MoveContext) -> str:
    case = ctx.case
    original_id = ctx.body.get("original")
    if not isinstance(original_id, int) or isinstance(original_id, bool) or original_id == case.id:
        raise ValidationError("name the original case (another case's id)", details={"original": "required"})
    original = ctx.session.get(Case, original_id)
    if original is None:
        raise ValidationError(f"no case {original_id}", details={"original": "unknown"})
    if original.duplicate_of is not None or original.status == State.cancelled:
        raise ValidationError("the original is itself cancelled or a duplicate", details={"original": "not live"})
    case.duplicate_of = original.id
    ctx.payload["original"] = original.id
    ctx.payload["original_code"] = original.code
    # The original records the report merged into it, and so its reporter (who may follow the original now).
    ctx.session.add(
        CaseEvent(
            case_id=original.id,
            action="merged_in",
            actor_id=ctx.actor.id if ctx.actor else None,
            at=ctx.now,
            from_status=original.status,
            to_status=original.status,
            payload={"duplicate": case.id, "duplicate_code": case.code, "reporter_id": case.reporter_id},
        )
    )
    return State.cancelled


def _comment(ctx: MoveContext) -> str:
    return ctx.case.status


OPEN = tuple(OPEN_STATES)
MINE_AND_FREE = IN_DEPARTMENT & NOTHING_PENDING  # the handler's department's case, with no request waiting
MOVES: tuple[Move, ...] = (
    Move("file", (State.reported,), (Role.leader,), _file, VERIFIED_OR_TRUSTED),
    Move(
        "cancel",
        (State.reported, State.verifying, State.filed),
        (Role.operator, Role.leader),
        _cancel,
        CANCELLABLE_BY,
        needs_note=True,
    ),
    Move("request_verification", (State.reported,), RECEPTION, _to(State.verifying), UNVERIFIED_PUBLIC_REPORT),
    Move("verify", (State.verifying,), (Role.inspector,), _verify),
    Move("verify_by_phone", (State.reported,), RECEPTION, _verify_by_phone, PHONE_VERIFIABLE, needs_note=True),
    Move("dispatch", (State.filed,), (Role.dispatcher,), _dispatch),
    Move("return", (State.dispatched,), (Role.handler,), _ask("return"), MINE_AND_FREE, needs_note=True),
    Move("approve_return", (State.dispatched,), (Role.dispatcher,), _approve_return, pending("return")),
    Move("reject_return", (State.dispatched,), (Role.dispatcher,), _reject, pending("return"), needs_note=True),
    Move(
        "request_extension",
        (State.dispatched,),
        (Role.handler,),
        _ask("extension"),
        MINE_AND_FREE & EXTENSIONS_LEFT,
        needs_note=True,
    ),
    Move(
        "approve_extension",
        (State.dispatched,),
        (Role.dispatcher,),
        _approve_extension,
        pending("extension") & EXTENSIONS_LEFT,
    ),
    Move("reject_extension", (State.dispatched,), (Role.dispatcher,), _reject, pending("extension"), needs_note=True),
    Move(
        "suspend",
        (State.dispatched,),
        (Role.handler, Role.dispatcher),
        _suspend,
        IN_DEPARTMENT & SUSPENSION & SUSPENSION_TIME_LEFT,
        needs_note=True,
    ),
    Move("resume", (State.suspended, State.dispatched), (Role.dispatcher,), _resume, RESUMABLE),
    Move("handle", (State.dispatched,), (Role.handler,), _handle, MINE_AND_FREE),
    Move("request_check", (State.handled,), RECEPTION, _to(State.checking)),
    Move("check", (State.checking,), (Role.inspector,), _check, CHECK_WAITING),
    Move("close", (State.checking,), (Role.leader,), _close, CHECK_PASSED & ESCALATION_ANSWERED),
    Move("callback", (State.closed,), RECEPTION, _callback, CALLBACK_WAITING),
    Move("escalate", OPEN, (Role.supervisor,), _escalate, NOT_ESCALATED, needs_note=True),
    Move("reply", OPEN, (Role.handler,), _reply, ESCALATION_OPEN & IN_DEPARTMENT, needs_note=True),
    Move("merge", (State.reported, State.verifying, State.filed), RECEPTION, _merge),
    Move(
        "comment",
        (*OPEN, *FINAL_STATES),
        (Role.inspector, Role.operator, Role.leader, Role.dispatcher, Role.handler, Role.supervisor),
        _comment,
        needs_note=True,
    ),
)
BY_ACTION = {m.action: m for m in MOVES}
ACTIONS = tuple(BY_ACTION)


def allowed_actions(case: Case, user: User, settings: Settings) -> list[str]:
    """The actions this user may take on the case now (for the case view and the 422 answer)."""
    return [
        m.action
        for m in MOVES
        if case.status in m.states and user.has_role(*m.roles) and m.guard.why_not(case, user, settings) is None
    ]


def act(
    session: Session,
    case_id: int,
    action: str,
    actor: User,
    expected_version: int,
    body: dict[str, Any],
    now: datetime,
    settings: Settings,
    context: dict[str, Any] | None = None,
) -> tuple[Case, CaseEvent]:
    """Make one move on a case the caller may see (visibility is the caller's check), in the caller's transaction.
    `context` goes into the event's payload as it is written: events are append-only, never updated afterwards."""
    move = BY_ACTION.get(action)
    if move is None:
        raise NotFound(f"no action {action}", details={"actions": list(ACTIONS)})
    case = session.execute(select(Case).where(Case.id == case_id).with_for_update()).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    if case.version != expected_version:
        raise Conflict(
            f"the case has changed (version {case.version}, you sent {expected_version}): reload it",
            details={"version": case.version},
            code="stale_version",
        )
    if not actor.has_role(*move.roles):
        raise Forbidden(
            f"your role may not {action}", details={"allowed_roles": list(move.roles), "your_roles": actor.roles}
        )
    why = None if case.status in move.states else f"not possible when the case is {case.status}"
    why = why or move.guard.why_not(case, actor, settings)
    if why is not None:
        raise ValidationError(
            f"{action}: {why}",
            details={
                "action": action,
                "status": case.status,
                "allowed_actions": allowed_actions(case, actor, settings),
            },
            code="action_not_allowed",
        )
    event = _make_move(session, case, move, actor, now, settings, body, context)
    auto_steps(session, case, now, settings)
    session.flush()
    return case, event


def _make_move(
    session: Session,
    case: Case,
    move: Move,
    actor: User | None,
    now: datetime,
    settings: Settings,
    body: dict[str, Any],
    why: dict[str, Any] | None = None,
) -> CaseEvent:
    note = (body.get("note") or "").strip()
    if move.needs_note and not note and actor is not None:
        raise ValidationError(f"{move.action} needs a note saying why", details={"note": "required"})
    ctx = MoveContext(session, case, actor, now, settings, body, {})
    before, step_due_at = case.status, case.due_at
    after = move.apply(ctx)
    if move.action == "verify" and after == State.reported:
        case.verified = True
    if after != before or move.action == "approve_extension" or (move.action == "check" and case.check_passed):
        _start_step(ctx, after)  # a passed check ends the inspector's step: the closing step's clock starts
    case.status = after
    case.version += 1
    case.updated_at = now
    payload = dict(ctx.payload)
    if note:
        payload["note"] = note
    if actor is None:
        payload["automatic"] = True
    payload.update(why or {})
    event = CaseEvent(
        case_id=case.id,
        action=move.action,
        actor_id=actor.id if actor else None,
        at=now,
        from_status=before,
        to_status=after,
        payload=payload,
        step_due_at=step_due_at,
        due_at=case.due_at,
        department_code=case.department_code,
    )
    session.add(event)  # flushed with the next query or by the caller (one UPDATE for chained moves)
    return event


def system_move(
    session: Session,
    case: Case,
    action: str,
    now: datetime,
    settings: Settings,
    body: dict[str, Any],
    why: dict[str, Any] | None = None,
) -> CaseEvent:
    """An automatic move (no actor), e.g. filing on arrival or dispatching on a rule match; `why` goes in the
    event's payload."""
    move = BY_ACTION[action]
    assert case.status in move.states, f"{action} from {case.status}"
    return _make_move(session, case, move, None, now, settings, body, why)


@signals.suspension_cap_reached.connect
def _resume_at_cap(session: Session, *, case_ids: list[int], now: datetime, settings: Settings) -> None:
    """A suspension (挂账) ends when the case's suspensions in all reach CITYMGMT_MAX_SUSPENSION_DAYS: the system
    resumes it (an automatic `resume`, its reason in the event), so no case hides from its deadline for ever."""
    cases = session.execute(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update()).scalars()
    cap_s = settings.max_suspension_days * 86400
    for case in cases:  # re-checked on the locked row: a dispatcher may have resumed it meanwhile
        if case.status == State.suspended and case.suspended_at is not None:
            if case.suspended_seconds + (now - case.suspended_at).total_seconds() < cap_s:
                continue
            system_move(session, case, "resume", now, settings, {}, {"reason": "max_suspension_days"})
    session.flush()


def auto_steps(session: Session, case: Case, now: datetime, settings: Settings) -> None:
    """The automatic moves a city configured, chained: request the check after handling."""
    if case.status == State.handled and settings.auto_request_check:
        system_move(session, case, "request_check", now, settings, {})


def start_clock(session: Session, case: Case, now: datetime, settings: Settings) -> None:
    """The first step's clock, at intake."""
    _start_step(MoveContext(session, case, None, now, settings, {}, {}), case.status)
