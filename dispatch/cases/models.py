"""Cases (案件) and their append-only event log. States and actions are a contract (ARCHITECTURE.md)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from citymgmt.core.db import db


class State(enum.StrEnum):
    """A case's states (ARCHITECTURE.md, a contract), in the loop's order; the moves between them are
    dispatch.workflow.moves.MOVES."""

    reported = "reported"  # 上报: waiting to be accepted and filed
    verifying = "verifying"  # 核实: an inspector is sent to see whether it is real
    filed = "filed"  # 立案: waiting to be dispatched
    dispatched = "dispatched"  # 派遣: the department's disposal step (处置), on its clock
    handled = "handled"  # 处置完成: waiting to be sent to the on-site check
    checking = "checking"  # 核查: an inspector checks on site
    closed = "closed"  # 结案
    suspended = "suspended"  # 挂账: the clock frozen
    cancelled = "cancelled"  # 作废


class Light(enum.StrEnum):
    """The light of a running step's clock; None when no clock runs (suspended, closed, cancelled)."""

    green = "green"
    yellow = "yellow"  # past the warning time (sla_warn_fraction of the limit)
    red = "red"  # past the deadline


STATES = tuple(State)
FINAL_STATES = (State.closed, State.cancelled)
OPEN_STATES = tuple(s for s in State if s not in FINAL_STATES)
DISPOSAL = State.dispatched  # the department's step: its overdue is escalated (督办), its delay the department's
# The leader's step after a passed check: the case stays `checking` (check_passed) on a clock of its own, so the
# inspector's step ends when they check and a late close is the closer's (Case.step).
CLOSING = "closing"
SOURCES = ("inspector", "public", "hotline", "open311")
PUBLIC_SOURCES = ("public", "hotline", "open311")  # reports from the public: verified, and may be called back
# A call-back's answers (回访): the caller is satisfied (满意), basically satisfied (基本满意) or not (不满意).
CALLBACK_RESULTS = ("satisfied", "basically_satisfied", "unsatisfied")
URGENCIES = ("urgent", "normal")
# What a hotline or public caller asks for (诉求类型): 投诉, 求助, 咨询, 建议.
REQUEST_KINDS = ("complaint", "help", "consultation", "suggestion")

# Public codes: the report's date in the city's zone and a number from this sequence (never reused, no lock).
case_number = Sequence("case_number_seq", start=1)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Case(db.Model):  # type: ignore[name-defined]
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    source: Mapped[str] = mapped_column(String(10))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Name, phone, e-mail of a member of the public: stored for call-backs, never published.
    reporter_contact: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the report the key was first used for: the same key with another report is refused.
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    category_code: Mapped[str] = mapped_column(String(10))
    urgency: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(200))
    point = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    cell_code: Mapped[str] = mapped_column(ForeignKey("grid_cells.code"), index=True)
    community_code: Mapped[str] = mapped_column(String(12))
    street_code: Mapped[str] = mapped_column(String(9))
    district_code: Mapped[str] = mapped_column(String(6))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    # The department a case was returned from (退回), until its next dispatch: a dispatch elsewhere corrects a wrong
    # one (错误派遣). None for a case never dispatched.
    returned_from: Mapped[str | None] = mapped_column(String(40))
    # What routing proposed when it did not dispatch at once (the dispatcher confirms or overrides).
    suggested_department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    status: Mapped[str] = mapped_column(String(12))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    light: Mapped[str | None] = mapped_column(String(6))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The department's reply to the escalation waiting is due then (CITYMGMT_ESCALATION_REPLY_HOURS); the sweep marks
    # it overdue once (a `reply_overdue` event). Both cleared by the reply.
    escalation_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_reply_overdue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # Open cases of the same category reported nearby shortly before (candidates, until someone merges or not).
    suspected_duplicate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The asset (部件) the case is about, from the component registry: named by the reporter or suggested at intake
    # (dispatch.components.operations). Routing sends it to the asset's owner first (先属主).
    component_id: Mapped[str | None] = mapped_column(ForeignKey("components.id"), index=True)
    component_source: Mapped[str | None] = mapped_column(String(10))  # named | suggested
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The workflow's bookkeeping (dispatch.workflow.moves owns it).
    step_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disposal_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # handling deadline
    disposal_limit_type: Mapped[str | None] = mapped_column(String(20))
    # The whole handling limit in hours of its clock (working hours for the working types), granted extensions
    # included: the warning point is placed on it (dispatch.workflow.moves._set_due).
    disposal_limit_hours: Mapped[float | None] = mapped_column(Float)
    # {"kind": "return" | "extension" | "suspension", "by": user id, "at": ..., "hours"?}: awaiting the dispatcher
    pending_request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    extensions_granted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    suspensions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The case's ended suspensions in all, in seconds (CITYMGMT_MAX_SUSPENSION_DAYS caps them).
    suspended_seconds: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    check_passed: Mapped[bool | None] = mapped_column(Boolean)
    # A closed case from a call-back source (CITYMGMT_CALLBACK_SOURCES) waits for the centre to call the caller back
    # (回访): set by `close`, cleared by `callback` (dispatch.workflow.moves).
    callback_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where a case came from outside: for an imported case (`citymgmt cases import`) the other system's name and its
    # own id for the case, so that importing the same history again adds nothing; for a hotline or public report the
    # source and its work-order number (工单号), so that one work order makes one case. None otherwise.
    external_system: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(100))
    # A hotline or public report's kind of request (REQUEST_KINDS); None for inspectors' reports.
    request_kind: Mapped[str | None] = mapped_column(String(12))

    __table_args__ = (
        CheckConstraint(f"status IN {_in(STATES)}", name="status"),
        CheckConstraint(f"source IN {_in(SOURCES)}", name="source"),
        CheckConstraint(f"urgency IN {_in(URGENCIES)}", name="urgency"),
        CheckConstraint(f"request_kind IS NULL OR request_kind IN {_in(REQUEST_KINDS)}", name="request_kind"),
        CheckConstraint(f"light IS NULL OR light IN {_in(tuple(Light))}", name="light"),
        CheckConstraint(
            "(component_id IS NULL AND component_source IS NULL)"
            " OR (component_id IS NOT NULL AND component_source IN ('named', 'suggested'))",
            name="component_source",
        ),
        UniqueConstraint("reporter_id", "idempotency_key", name="uq_cases_reporter_idempotency_key"),
        UniqueConstraint("external_system", "external_id", name="uq_cases_external"),
        Index("ix_cases_department_status", "department_code", "status"),
        Index("ix_cases_status_reported", "status", "reported_at"),
        Index("ix_cases_category_reported", "category_code", "reported_at"),
        # The lists' (newest first): every case, a department's, a district's, street's or community's, the open
        # ones by light.
        Index("ix_cases_reported", "reported_at", "id"),
        Index("ix_cases_department_reported", "department_code", "reported_at"),
        Index("ix_cases_district_reported", "district_code", "reported_at"),
        Index("ix_cases_street_reported", "street_code", "reported_at"),
        Index("ix_cases_community_reported", "community_code", "reported_at"),
        # The dispatchers' queue: the few cases waiting for an answer to a request, by its kind (return, extension,
        # suspension), instead of every open case read for its pending request.
        Index(
            "ix_cases_pending_kind",
            text("(pending_request ->> 'kind')"),
            postgresql_where=text("(pending_request ->> 'kind') IS NOT NULL"),
        ),
        # The operators' call-back queue (回访): the few closed cases still waiting for their call.
        Index("ix_cases_callback_pending", "closed_at", postgresql_where=text("callback_pending")),
        # The work queues': each state's open cases soonest deadline first (dispatch.workflow.queues), and the two
        # tasks that are a few of a large state's cases: closing a checked case (the leader's, guard CHECK_PASSED) and
        # accepting a report from the public (the centre's, guard UNVERIFIED_PUBLIC_REPORT), which their queues
        # would otherwise find by reading every case of that state.
        Index(
            "ix_cases_open_status_due", "status", "due_at", "id", postgresql_where=text(f"status IN {_in(OPEN_STATES)}")
        ),
        Index(
            "ix_cases_closing_due",
            "due_at",
            "id",
            postgresql_where=text(f"status = '{State.checking.value}' AND check_passed IS TRUE"),
        ),
        # A handler's department's open cases by state and deadline: its dispatched cases, all of them its queue's
        # (to handle, or waiting for an answer), read as far as the page and counted on the index alone.
        Index(
            "ix_cases_department_open_due",
            "department_code",
            "status",
            "due_at",
            "id",
            postgresql_where=text(f"status IN {_in(OPEN_STATES)}"),
        ),
        Index(
            "ix_cases_unverified_due",
            "due_at",
            "id",
            postgresql_where=text(f"status = '{State.reported.value}' AND source <> 'inspector' AND verified IS FALSE"),
        ),
        # Cases closed in a range of time: the analyses' roll-up of the days that changed, repeats after closure.
        Index("ix_cases_closed_at", "closed_at", postgresql_where=text("status = 'closed'")),
        # Evaluation's: open cases whose handling deadline passes (they become overdue without an event).
        Index("ix_cases_open_disposal_due", "disposal_due_at", postgresql_where=text(f"status IN {_in(OPEN_STATES)}")),
    )
    # The table is kept at fillfactor 90 (migration e5a2c7d1b9f3): room on each page for the sweep's change of a light
    # to stay on its page, touching no index (the sweep finds cases through `case_clocks`, never an index of cases).
    # No index of cases may name the columns the sweep writes (light, escalated, escalation_due_at,
    # escalation_reply_overdue, version), even in its condition: one that did would make every such write insert
    # into each of the table's indexes. What is found by them is found on the clocks.

    @property
    def step(self) -> str:
        """The step the case is in: its state, or `closing` once its check has passed."""
        return CLOSING if self.status == State.checking and self.check_passed else self.status


# The columns of a case its clock copies (CaseClock), by the same names; `reported_at` is copied once, never changed.
CLOCK_COPIES = (
    "warn_at",
    "due_at",
    "light",
    "reported_at",
    "status",
    "department_code",
    "escalated",
    "escalation_due_at",
    "escalation_reply_overdue",
)


class CaseClock(db.Model):  # type: ignore[name-defined]
    """The clock of a case's running step and its escalation (督办) as the SLA sweep sees them: a narrow copy of the
    case's CLOCK_COPIES (the deadline, warning point and light; the report time, for the lists by light; the state,
    department and escalation, for the queues and the sweep's reply deadlines), with the partial indexes that find
    what the sweep writes, so that moving a light or escalating is an update of this small row and an in-page (HOT)
    update of the case. A trigger on cases copies every change of these made elsewhere (the workflow, intake, any
    SQL) while the case has a light or an escalation: a clock with a light, or escalated, is the case's as it is
    now; the sweep writes both itself (dispatch.sla.sweep). Never deleted: a stopped clock has no light."""

    __tablename__ = "case_clocks"

    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cases.id"), primary_key=True)
    warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    light: Mapped[str | None] = mapped_column(String(6))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the case's, never changed
    status: Mapped[str] = mapped_column(String(12))
    department_code: Mapped[str | None] = mapped_column(String(40))
    escalated: Mapped[bool] = mapped_column(Boolean)
    escalation_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_reply_overdue: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        CheckConstraint(f"light IS NULL OR light IN {_in(tuple(Light))}", name="light"),
        # Only the clocks whose light can still move are in them.
        Index("ix_case_clocks_warn", "warn_at", postgresql_where=text("light = 'green'")),
        Index("ix_case_clocks_due", "due_at", postgresql_where=text("light IN ('green', 'yellow')")),
        # The case list by light, newest first (dispatch.workflow.views.list_cases): here, not on cases, whose light
        # change must stay HOT; a clock's row is rewritten with its light anyway (the partial indexes above).
        Index(
            "ix_case_clocks_light_reported",
            "light",
            "reported_at",
            "case_id",
            postgresql_where=text("light IS NOT NULL"),
        ),
        # The supervisors' overdue task (red, not escalated: dispatch.workflow.queues) by state, soonest deadline
        # first: its page and count on this index alone, where on cases every open case would be read for its light.
        Index(
            "ix_case_clocks_overdue",
            "status",
            "due_at",
            "case_id",
            postgresql_where=text(f"light = '{Light.red.value}' AND escalated IS FALSE"),
        ),
        # The handlers' replies to escalations (督办, guard ESCALATION_OPEN), in any open state: a department's few
        # escalated cases by state and deadline (dispatch.workflow.queues).
        Index(
            "ix_case_clocks_escalated_department",
            "department_code",
            "status",
            "due_at",
            "case_id",
            postgresql_where=text("escalated IS TRUE"),
        ),
        # The escalated cases, newest first (the case list's `escalated` filter, the supervisors' list).
        Index(
            "ix_case_clocks_escalated_reported", "reported_at", "case_id", postgresql_where=text("escalated IS TRUE")
        ),
        # The sweep's: escalations whose reply may become overdue.
        Index(
            "ix_case_clocks_reply_due",
            "escalation_due_at",
            postgresql_where=text("escalated IS TRUE AND escalation_reply_overdue IS FALSE"),
        ),
    )


class CaseEvent(db.Model):  # type: ignore[name-defined]
    """Every change to a case, with who and when: the source of every statistic. Never updated, never deleted."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str | None] = mapped_column(String(12))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The workflow's clock around this move (evaluation reads them, dispatch.metrics): the deadline of the step the case
    # was in when the move was made (on time = at <= step_due_at), the deadline in force after it, and the
    # department responsible after it. None where no clock ran (suspended, closed, cancelled) or no department.
    step_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    department_code: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_case_events_at", "at"),)
