"""Notifications through a real local SMTP server and a real local HTTP receiver, with failures and retries."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy.orm import Session

from citymgmt.core import outbox
from citymgmt.core.audit import AuditEntry
from citymgmt.core.errors import NotFound, ValidationError
from dispatch.notifications.operations import (
    Notification,
    add_channel,
    create_channel,
    list_channels,
    notify,
    retire_channel,
    signature,
)
from dispatch.sla.sweep import sweep

pytestmark = pytest.mark.usefixtures("beijing")

GARBAGE = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "暴露垃圾"}
SECRET = "a-webhook-secret-of-some-length"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.refused: set[str] = set()  # paths answered 500
        self.paths: list[str] = []


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers.items()), body))
            state.paths.append(self.path)
            self.send_response(500 if self.path in state.refused else state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def smtp_settings(app: Flask, mailbox: tuple[Mailbox, int]) -> Iterator[None]:
    original = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = original.with_overrides(
        {"smtp_url": f"smtp://127.0.0.1:{mailbox[1]}", "mail_from": "centre@example.org"}
    )
    yield
    app.extensions["citymgmt.settings"] = original


def subject(message: Any) -> str:
    return str(make_header(decode_header(message["Subject"])))


def test_new_work_and_overdue_reach_email_and_webhook(  # type: ignore[no-untyped-def]
    client, token_for, db_session: Session, run_jobs, smtp_settings, mailbox, receiver
) -> None:
    box, _ = mailbox
    hook, url = receiver
    add_channel(db_session, "email", "sanitation@example.org", "110101-sanitation", ["new_work"])
    add_channel(db_session, "webhook", url, "110101-sanitation", secret=SECRET)
    add_channel(db_session, "email", "centre@example.org", None, ["sla_warn", "sla_overdue"])
    case = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector")).get_json()
    assert case["department_code"] == "110101-sanitation"
    assert run_jobs() == 2
    [mail] = box.messages
    assert mail["To"] == "sanitation@example.org" and mail["From"] == "centre@example.org"
    assert subject(mail).startswith("【数字城管】新派遣案件") and case["code"] in mail.get_payload(decode=True).decode()
    [(headers, body)] = hook.requests
    assert headers["X-Citymgmt-Event"] == "new_work"
    assert headers["X-Citymgmt-Signature"] == signature(SECRET, body)
    sent = json.loads(body)
    assert [c["code"] for c in sent["cases"]] == [case["code"]] and sent["event"] == "new_work"
    assert "contact" not in body.decode() and "reporter" not in body.decode()  # nothing personal leaves

    result = sweep(db_session, datetime(2026, 11, 23, 7, 30, tzinfo=UTC))  # 15:30 in Beijing: overdue
    assert result.overdue == [case["id"]]
    assert run_jobs() == 2  # the department's webhook and the centre's mailbox; not the new_work-only mailbox
    assert json.loads(hook.requests[-1][1])["event"] == "sla_overdue"
    assert box.messages[-1]["To"] == "centre@example.org" and "已超时" in subject(box.messages[-1])


def test_a_failed_delivery_is_visible_and_retried(  # type: ignore[no-untyped-def]
    client, token_for, db_session: Session, run_jobs, receiver
) -> None:
    hook, url = receiver
    add_channel(db_session, "webhook", url, "110101-sanitation", ["new_work"], secret=SECRET)
    hook.status = 500
    client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector"))
    run_jobs()
    failed = client.get("/api/v1/notifications/failures", headers=token_for("admin")).get_json()
    assert len(failed) == 1 and failed[0]["last_error"] == "RuntimeError: webhook answered 500"
    assert failed[0]["attempts"] == 1 and failed[0]["channel"]["kind"] == "webhook"
    assert client.get("/api/v1/notifications/failures", headers=token_for("dispatcher")).status_code == 403
    hook.status = 204
    row = db_session.get(Notification, failed[0]["id"])
    assert row is not None and row.outbox_id is not None
    assert outbox.run_message(row.outbox_id) == "done"  # what the retry runs
    assert client.get("/api/v1/notifications/failures", headers=token_for("admin")).get_json() == []
    assert len(hook.requests) == 2
    # Delivery is at least once: every attempt carries the same delivery id, a UUID (a row id repeats after a
    # restore of an older backup), for the receiver to drop what it has seen.
    (first, first_body), (second, second_body) = hook.requests
    assert first["X-Citymgmt-Delivery"] == second["X-Citymgmt-Delivery"] == str(row.delivery_id)
    assert json.loads(first_body)["delivery_id"] == json.loads(second_body)["delivery_id"] == str(row.delivery_id)
    assert uuid.UUID(first["X-Citymgmt-Delivery"]).version == 4
    assert db_session.get(outbox.OutboxMessage, row.outbox_id).attempts == 2  # type: ignore[union-attr]


def test_notices_go_out_in_a_batch_and_its_retry_sends_only_the_failed(  # type: ignore[no-untyped-def]
    client, token_for, db_session: Session, run_jobs, receiver, redis
) -> None:
    """Several notices, one RQ job (issue 25): each delivered once, a refused one recorded on its row and sent again
    by the batch's retry, the others not; a channel that could not be reached is not tried again in the batch."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    hook, url = receiver
    down = f"http://127.0.0.1:{free_port()}/down"  # nothing listens there
    for target in (url, url.replace("/hook", "/refused"), down):
        add_channel(db_session, "webhook", target, "110101-sanitation", ["new_work"], secret=SECRET)
    hook.refused = {"/refused"}
    case = client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector")).get_json()
    assert notify(db_session, "new_work", "110101-sanitation", [case["id"]], datetime.now(UTC)) == 3  # once more
    db_session.commit()
    rows = [(n.id, n.channel_id, n.outbox_id) for n in db_session.query(Notification).order_by(Notification.id)]
    assert len(rows) == 6
    assert run_jobs() == 6

    def state() -> list[tuple[bool, int, str | None]]:
        """Each notification's (sent, attempts, last error)."""
        db_session.expire_all()
        return [
            (
                db_session.get_one(Notification, n).sent_at is not None,
                db_session.get_one(outbox.OutboxMessage, m).attempts,
                db_session.get_one(outbox.OutboxMessage, m).last_error,
            )
            for n, _, m in rows
        ]

    [batch] = {db_session.get_one(outbox.OutboxMessage, m).rq_job for _, _, m in rows}
    assert batch is not None and Job.fetch(batch, connection=redis).get_status() == "scheduled"
    assert sorted(hook.paths) == ["/hook", "/hook", "/refused", "/refused"]
    first = state()
    assert [(sent, attempts) for sent, attempts, _ in first] == [(True, 1), (False, 1), (False, 1)] * 2
    assert [first[i][2] for i in (1, 4)] == ["RuntimeError: webhook answered 500"] * 2
    assert first[2][2] is not None and first[2][2].startswith("ConnectionError: ")
    assert (
        first[5][2] == f"RuntimeError: not attempted: notification {rows[2][0]} to the same channel could not reach it"
    )

    hook.refused = set()
    ScheduledJobRegistry("default", connection=redis).schedule(Job.fetch(batch, connection=redis), datetime.now(UTC))
    run_jobs()
    assert sorted(hook.paths[4:]) == ["/refused", "/refused"], "the retry sent the refused ones, not the sent ones"
    assert [(sent, attempts) for sent, attempts, _ in state()] == [(True, 1), (True, 2), (False, 2)] * 2


def test_an_attempt_whose_worker_stopped_counts_and_is_listed(  # type: ignore[no-untyped-def]
    client, token_for, db_session: Session, receiver
) -> None:
    """A worker killed mid-delivery never records a failure: the attempt is counted before it starts, so `notify
    failures` lists it, saying the attempt has not ended; the retry that succeeds clears it."""
    _, url = receiver
    add_channel(db_session, "webhook", url, "110101-sanitation", ["new_work"], secret=SECRET)
    client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector"))
    [row] = db_session.query(Notification).all()
    assert row.outbox_id is not None
    started = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    outbox._begin_attempt(row.outbox_id, started)  # what run_message writes first; then the worker was killed
    db_session.commit()
    [failed] = client.get("/api/v1/notifications/failures", headers=token_for("admin")).get_json()
    assert failed["attempts"] == 1
    assert failed["last_error"] == outbox.UNFINISHED.format(at=started.isoformat())
    assert outbox.run_message(row.outbox_id) == "done"
    message = db_session.get(outbox.OutboxMessage, row.outbox_id)
    assert message is not None and message.attempts == 2 and message.last_error is None


def test_email_without_an_smtp_server_fails_visibly(client, token_for, db_session: Session, run_jobs) -> None:  # type: ignore[no-untyped-def]
    add_channel(db_session, "email", "sanitation@example.org", "110101-sanitation")
    client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector"))
    run_jobs()
    [failed] = client.get("/api/v1/notifications/failures", headers=token_for("admin")).get_json()
    assert "no SMTP server configured" in failed["last_error"]


def test_channels_are_checked(db_session: Session) -> None:
    with pytest.raises(ValidationError) as caught:
        add_channel(db_session, "webhook", "ftp://x", "no-such-dept", ["new_work", "gossip"], secret="short")
    assert set(caught.value.details) == {"target", "secret", "events", "department"}
    with pytest.raises(ValidationError) as caught:
        add_channel(db_session, "email", "not an address", None)
    assert caught.value.details == {"target": "an e-mail address"}


def test_a_channel_is_added_and_retired_audited(db_session: Session) -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    channel = create_channel(db_session, "email", "r@example.org", "bj-water", ["new_work"], None, now, "test")
    assert channel in list_channels(db_session)
    retire_channel(db_session, channel.id, now, "test")
    assert channel.retired_at == now
    assert channel not in list_channels(db_session) and channel in list_channels(db_session, include_retired=True)
    with pytest.raises(NotFound):  # retired already: not again
        retire_channel(db_session, channel.id, now, "test")
    with pytest.raises(NotFound):
        retire_channel(db_session, 0, now, "test")
    actions = db_session.query(AuditEntry.action, AuditEntry.details).filter(AuditEntry.target == str(channel.id))
    audited = {a: d for a, d in actions if a.startswith("notification_channel.")}
    assert audited["notification_channel.add"]["department"] == "bj-water"
    assert audited["notification_channel.retire"] == {"source": "test"}


def test_cli_adds_lists_retires_and_reports(app: Flask, db_session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    runner = app.test_cli_runner()
    added = runner.invoke(cli, ["notify", "channels", "add", "--department", "bj-water", "--email", "w@example.org"])
    assert added.exit_code == 0, added.output
    assert "email w@example.org for bj-water (new_work, sla_warn, sla_overdue)" in added.stdout
    channel_id = added.stdout.split(":")[0].split()[-1]
    assert "w@example.org" in runner.invoke(cli, ["notify", "channels", "list"]).stdout
    both = runner.invoke(cli, ["notify", "channels", "add", "--email", "a@b.c", "--webhook", "http://x"])
    assert both.exit_code == 2 and "one of them" in both.output
    bad = runner.invoke(cli, ["notify", "channels", "add", "--webhook", "http://x", "--secret", "s"])
    assert bad.exit_code == 1 and "the channel is not valid" in bad.stderr
    db_session.commit()
    retired = runner.invoke(cli, ["notify", "channels", "retire", channel_id])
    assert retired.exit_code == 0 and "w@example.org" not in runner.invoke(cli, ["notify", "channels", "list"]).stdout
    assert runner.invoke(cli, ["notify", "failures"]).exit_code == 0
