"""Notifications (通知): new work in a department's queue and SLA warnings, through pluggable channels.

A channel belongs to a department (or, with none, to the centre, which hears of every warning and overdue case)
and is e-mail over SMTP or a webhook (a JSON POST signed with HMAC-SHA256 in `X-Citymgmt-Signature`). Each
notification is a row written in the transaction that caused it, with an outbox job that delivers it after the
commit; a failed delivery raises, so the outbox retries it with backoff (10 s to 15 min) and keeps the error,
which admins see (`citymgmt notify failures`, `GET /api/v1/notifications/failures`). Nothing personal is sent:
no reporter, no contact, only the case's code, category, place and deadline.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as UUIDType
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core import outbox
from citymgmt.core.audit import record
from citymgmt.core.config import Settings
from citymgmt.core.db import db, driver
from citymgmt.core.departments import Department
from citymgmt.core.errors import NotFound, ValidationError
from dispatch.cases import signals
from dispatch.cases.models import Case, Light
from dispatch.notifications.queries import CHANNELS_SQL

CASE_EVENTS = ("new_work", "sla_warn", "sla_overdue")  # what a channel hears of unless it names its events
EVENTS = (*CASE_EVENTS, "analysis_report")  # the weekly analysis report: the centre's channels that ask for it
KINDS = ("email", "webhook")
SUBJECTS = {
    "new_work": "【数字城管】新派遣案件 New cases in your queue",
    "sla_warn": "【数字城管】案件即将超时 Cases near their deadline",
    "sla_overdue": "【数字城管】案件已超时 Overdue cases",
    "analysis_report": "【数字城管】高发问题周报 Weekly analysis report",
}


class NotificationChannel(db.Model):  # type: ignore[name-defined]
    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)  # None: centre
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(500))  # an e-mail address or a URL
    secret: Mapped[str | None] = mapped_column(String(200))  # the webhook's HMAC key
    events: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(db.Model):  # type: ignore[name-defined]
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    case_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)  # its delivery job: attempts and last error
    # A document sent as it is (the weekly analysis report, HTML) instead of a list of cases; None for cases.
    document: Mapped[str | None] = mapped_column(Text)
    # Sent with every attempt (X-Citymgmt-Delivery, the e-mail's Message-ID): delivery is at least once (a worker
    # stopped between sending and committing sends again), so receivers drop an id they have seen. A UUID, not the
    # row's id, which a restore of an older backup hands out again.
    delivery_id: Mapped[UUID] = mapped_column(
        UUIDType(as_uuid=True), server_default=text("gen_random_uuid()"), unique=True
    )


def channel_problems(kind: str, target: str, events: Iterable[str], secret: str | None) -> dict[str, str]:
    """What is wrong with a channel's kind, address, events and secret (field → problem); empty if nothing."""
    events = list(events)
    problems: dict[str, str] = {}
    if kind not in KINDS:
        problems["kind"] = f"one of {', '.join(KINDS)}"
    elif kind == "email" and ("@" not in target or any(c.isspace() for c in target)):
        problems["target"] = "an e-mail address"
    elif kind == "webhook":
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems["target"] = "an http(s) URL"
        if not secret or len(secret) < 16:
            problems["secret"] = "at least 16 characters, to sign the webhook's requests"  # noqa: S105
        elif len(secret) > 200:
            problems["secret"] = "at most 200 characters"  # noqa: S105
    if len(target) > 500:
        problems["target"] = "at most 500 characters"
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        problems["events"] = f"among {', '.join(EVENTS)}"
    return problems


def add_channel(
    session: Session,
    kind: str,
    target: str,
    department_code: str | None,
    events: Iterable[str] = CASE_EVENTS,
    secret: str | None = None,
) -> NotificationChannel:
    events = list(dict.fromkeys(events))
    problems = channel_problems(kind, target, events, secret)
    if department_code is not None and "analysis_report" in events:
        problems["events"] = "analysis_report goes to the centre's channels only (no department)"
    if department_code is not None and session.get(Department, department_code) is None:
        problems["department"] = f"no department {department_code}"
    if problems:
        raise ValidationError("the channel is not valid", details=problems)
    channel = NotificationChannel(
        kind=kind, target=target, department_code=department_code, events=events, secret=secret
    )
    session.add(channel)
    session.flush()
    return channel


def create_channel(
    session: Session,
    kind: str,
    target: str,
    department_code: str | None,
    events: Iterable[str],
    secret: str | None,
    now: datetime,
    source: str,
) -> NotificationChannel:
    """Add a channel (`add_channel`'s checks) and audit it: what the command line and the console do."""
    channel = add_channel(session, kind, target, department_code, events, secret)
    record(
        session,
        "notification_channel.add",
        str(channel.id),
        now,
        kind=kind,
        address=target,
        department=department_code,
        events=list(channel.events),
        source=source,
    )
    return channel


def retire_channel(session: Session, channel_id: int, now: datetime, source: str) -> NotificationChannel:
    """Stop sending to a channel (it is kept, with what it was sent), audited; NotFound unless it is live."""
    channel = session.get(NotificationChannel, channel_id, with_for_update=True)
    if channel is None or channel.retired_at is not None:
        raise NotFound(f"no live channel {channel_id}", details={"channel": str(channel_id)})
    channel.retired_at = now
    record(session, "notification_channel.retire", str(channel_id), now, source=source)
    return channel


def list_channels(session: Session, include_retired: bool = False) -> list[NotificationChannel]:
    """The channels, the centre's first, then by department and id (retired ones too if asked)."""
    query = select(NotificationChannel)
    if not include_retired:
        query = query.where(NotificationChannel.retired_at.is_(None))
    return list(
        session.execute(
            query.order_by(NotificationChannel.department_code.asc().nulls_first(), NotificationChannel.id)
        ).scalars()
    )


def live_channels(session: Session, department_code: str) -> list[NotificationChannel]:
    """The department's live channels, oldest first."""
    return list(
        session.execute(
            select(NotificationChannel)
            .where(NotificationChannel.department_code == department_code, NotificationChannel.retired_at.is_(None))
            .order_by(NotificationChannel.id)
        ).scalars()
    )


def notify(session: Session, event: str, department_code: str | None, case_ids: list[int], now: datetime) -> int:
    """Queue a notification of the event to each live channel of the department (None: the centre's channels)
    that asked for it; delivered by the outbox after the commit. Returns how many."""
    if not case_ids:
        return 0
    # On the driver, prepared: every automatic dispatch at intake asks this.
    rows = (
        driver(session)
        .execute(CHANNELS_SQL, {"department": department_code, "events": [event]}, prepare=True)
        .fetchall()
    )
    channels = [row[0] for row in rows]
    for channel_id in channels:
        row = Notification(channel_id=channel_id, event=event, case_ids=sorted(case_ids), created_at=now)
        session.add(row)
        session.flush()
        row.outbox_id = outbox.add_job(session, "notify.deliver", notification_id=row.id).id
    return len(channels)


def notify_document(session: Session, event: str, document: str, now: datetime) -> int:
    """Queue a document (the weekly analysis report's HTML) to each live channel of the centre (the supervisors')
    that asked for the event: an e-mail attachment, or the webhook's `document`. Returns how many."""
    rows = driver(session).execute(CHANNELS_SQL, {"department": None, "events": [event]}).fetchall()
    for (channel_id,) in rows:
        row = Notification(channel_id=channel_id, event=event, case_ids=[], created_at=now, document=document)
        session.add(row)
        session.flush()
        row.outbox_id = outbox.add_job(session, "notify.deliver", notification_id=row.id).id
    return len(rows)


# What the loop announces (dispatch.cases.signals), sent on as notifications.
@signals.work_arrived.connect
def _on_work_arrived(session: Session, *, department_code: str, case_ids: list[int], now: datetime) -> None:
    notify(session, "new_work", department_code, case_ids, now)


@signals.lights_changed.connect
def _on_lights_changed(
    session: Session, *, light: str, case_ids: list[int], by_department: dict[str, list[int]], now: datetime
) -> None:
    event = "sla_warn" if light == Light.yellow else "sla_overdue"
    for department, ids in by_department.items():
        notify(session, event, department, ids, now)
    notify(session, event, None, case_ids, now)  # the centre hears of all


_NEVER = datetime.max.replace(tzinfo=UTC)
CASE_FIELDS = (
    Case.id,
    Case.code,
    Case.category_code,
    Case.status,
    Case.department_code,
    Case.cell_code,
    Case.address,
    Case.due_at,
    Case.light,
)


def _cases(session: Session, ids: Iterable[int]) -> dict[int, tuple[tuple[Any, ...], dict[str, Any]]]:
    """What a notice says of each case (nothing personal), with its place in deadline order, by id: the cases of a
    whole batch in one query."""
    rows = session.execute(select(*CASE_FIELDS).where(Case.id.in_(set(ids)))).mappings()
    return {
        row["id"]: (
            (row["due_at"] is None, row["due_at"] or _NEVER, row["id"]),  # as PostgreSQL sorts: NULLs last
            {**row, "due_at": row["due_at"].isoformat() if row["due_at"] else None},
        )
        for row in rows
    }


def _in_deadline_order(cases: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[dict[str, Any]]:
    return [case for _key, case in sorted(cases, key=lambda c: c[0])]


# A batch stops starting deliveries after this long (the rest fail as not attempted, and its retry runs them), and
# a channel that could not be reached (refused, timed out, no such host) is not tried again in the batch: a dead
# receiver costs a batch about one timeout, not one a notice, and the batch stays well within the job's timeout
# (JOB_TIMEOUT, 300 s). A receiver that answers with an error is tried for each notice: it may take the next.
BATCH_SECONDS = 60.0
UNREACHABLE = (
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)


def deliver_many(
    session: Session, now: datetime, settings: Settings, rows: dict[int, dict[str, Any]]
) -> dict[int, Exception]:
    """Deliver a batch of notifications (outbox id → the job's arguments), in three statements whatever their
    number; return the outbox ids of those that failed, with the error (they stay unsent)."""
    outbox_of = {args["notification_id"]: outbox_id for outbox_id, args in rows.items()}
    found = session.execute(
        select(Notification, NotificationChannel)
        .join(NotificationChannel, NotificationChannel.id == Notification.channel_id)
        .where(Notification.id.in_(outbox_of))
        .order_by(Notification.id)
        .with_for_update(of=Notification)
    ).all()
    cases = _cases(session, (i for n, _ in found if n.sent_at is None for i in n.case_ids))
    deliveries: list[Delivery] = []
    for row, channel in found:
        if row.sent_at is None:
            body: dict[str, Any] = {
                "event": row.event,
                "delivery_id": str(row.delivery_id),
                "notification_id": row.id,
                "cases": _in_deadline_order(cases[i] for i in row.case_ids if i in cases),
            }
            if row.document is not None:
                body["document"] = row.document
            deliveries.append(Delivery(row.id, channel, row.event, body))
    outcome = _send_all(deliveries, settings)
    sent = [n for n, error in outcome.items() if error is None]
    failed = {outbox_of[n]: error for n, error in outcome.items() if error is not None}
    if sent:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(sent))
            .values(sent_at=now)  # this attempt's time
            .execution_options(synchronize_session=False)
        )
    return failed


@dataclass(frozen=True)
class Delivery:
    notification_id: int
    channel: NotificationChannel
    event: str
    body: dict[str, Any]


# Deliveries of a batch in flight at once: a webhook's answer takes a round trip (loopback's fraction of a millisecond,
# a remote receiver's tens or hundreds), which one at a time would bound a worker to its inverse a second.
SENDING_THREADS = 8
_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _sending_pool() -> ThreadPoolExecutor:
    """The process's threads that send (never shared across a fork: the pid says whose it is)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(SENDING_THREADS, thread_name_prefix="notify-send"))
    return _POOL[1]


def _send_all(deliveries: list[Delivery], settings: Settings) -> dict[int, Exception | None]:
    """Send every delivery, up to SENDING_THREADS at once; say each one's error (None: sent). The first delivery to
    each channel goes before its others: a channel it could not reach (refused, timed out, no such host) is not tried
    again in the batch, so that a dead receiver costs one timeout, not one a notice; nothing starts after
    BATCH_SECONDS (the batch's retry sends the rest)."""
    started = time.monotonic()
    outcome: dict[int, Exception | None] = {}
    unreachable: dict[int, int] = {}  # channel → the notification whose delivery could not reach it
    lock = threading.Lock()

    def send(delivery: Delivery) -> None:
        error: Exception | None = None
        with lock:
            gone = unreachable.get(delivery.channel.id)
        if gone is not None:
            error = RuntimeError(f"not attempted: notification {gone} to the same channel could not reach it")
        elif time.monotonic() - started > BATCH_SECONDS:
            error = RuntimeError("not attempted: the batch ran out of time")
        else:
            try:
                SENDERS[delivery.channel.kind](delivery.channel, delivery.event, delivery.body, settings)
            except Exception as exc:
                error = exc
                if isinstance(exc, UNREACHABLE):
                    with lock:
                        unreachable.setdefault(delivery.channel.id, delivery.notification_id)
        with lock:
            outcome[delivery.notification_id] = error

    first: dict[int, Delivery] = {}
    for delivery in deliveries:
        first.setdefault(delivery.channel.id, delivery)
    rest = [d for d in deliveries if first[d.channel.id] is not d]
    for wave in (list(first.values()), rest):
        if len(wave) == 1:
            send(wave[0])
        elif wave:
            list(_sending_pool().map(send, wave))
    return outcome


@outbox.job("notify.deliver", batch=deliver_many)
def deliver(session: Session, now: datetime, settings: Settings, notification_id: int) -> None:
    """One notification alone (a row relayed on its own): the batch's delivery, for one."""
    failed = deliver_many(session, now, settings, {0: {"notification_id": notification_id}})
    if failed:
        raise failed[0]


def _send_email(channel: NotificationChannel, event: str, body: dict[str, Any], settings: Any) -> None:
    if not settings.smtp_url:
        raise RuntimeError("no SMTP server configured (CITYMGMT_SMTP_URL)")
    url = urlsplit(settings.smtp_url)
    zone = ZoneInfo(settings.timezone)
    lines = [SUBJECTS[event], ""]
    for case in body["cases"]:
        due = (
            datetime.fromisoformat(case["due_at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if case["due_at"]
            else "—"
        )
        lines.append(f"{case['code']}  {case['category_code']}  {case['address'] or case['cell_code']}  期限 due {due}")
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = channel.target
    message["Subject"] = SUBJECTS[event] if "document" in body else f"{SUBJECTS[event]} ({len(body['cases'])})"
    # The same on every attempt: a mail client or a filter can drop a repeated delivery.
    message["Message-ID"] = f"<{body['delivery_id']}@{(settings.mail_from.rpartition('@')[2] or 'citymgmt')}>"
    message.set_content("\n".join(lines))
    if body.get("document") is not None:
        message.add_attachment(body["document"], subtype="html", filename=f"{event}.html")
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(
        url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25), timeout=10
    ) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


_HTTP: tuple[int, requests.Session] | None = None


def _http_session() -> requests.Session:
    """One keep-alive HTTP session per process: a worker delivers many notices to a few receivers, and a connection
    opened for each cost more than the delivery (issue 25). Never shared across a fork (the pid says whose it is)."""
    global _HTTP
    if _HTTP is None or _HTTP[0] != os.getpid():
        session = requests.Session()
        session.trust_env = False  # what requests reads from the environment on every call: once a target, below
        _HTTP = (os.getpid(), session)
    return _HTTP[1]


@functools.lru_cache(maxsize=1024)
def _environment_of(url: str) -> dict[str, Any]:
    """What requests would read from the process's environment for this URL on every call (proxies and
    NO_PROXY, the CA bundle, .netrc credentials), read once: the environment does not change under a process."""
    settings = requests.Session().merge_environment_settings(url, {}, None, None, None)
    return {
        "proxies": settings["proxies"],
        "verify": settings["verify"],
        "cert": settings["cert"],
        "auth": requests.utils.get_netrc_auth(url),
    }


def _send_webhook(channel: NotificationChannel, event: str, body: dict[str, Any], settings: Any) -> None:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    response = _http_session().post(
        channel.target,
        data=payload,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "X-Citymgmt-Event": event,
            "X-Citymgmt-Delivery": body["delivery_id"],
            "X-Citymgmt-Signature": signature(channel.secret or "", payload),
        },
        timeout=10,
        allow_redirects=False,
        **_environment_of(channel.target),
    )
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"webhook answered {response.status_code}")


SENDERS: dict[str, Callable[[NotificationChannel, str, dict[str, Any], Any], None]] = {
    "email": _send_email,
    "webhook": _send_webhook,
}


def failures(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications not delivered after at least one attempt, newest first, with the last error: an attempt that
    failed, or one that has not ended (its worker stopped mid-job, or it is running now: the error says so)."""
    messages = outbox.OutboxMessage
    rows = session.execute(
        select(Notification, NotificationChannel, messages)
        .join(NotificationChannel, NotificationChannel.id == Notification.channel_id)
        .join(messages, messages.id == Notification.outbox_id)
        .where(Notification.sent_at.is_(None), messages.attempts > 0)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": n.id,
            "event": n.event,
            "case_ids": list(n.case_ids),
            "channel": {"id": c.id, "kind": c.kind, "target": c.target, "department_code": c.department_code},
            "attempts": m.attempts,
            "last_error": m.last_error,
            "created_at": n.created_at,
        }
        for n, c, m in rows
    ]
