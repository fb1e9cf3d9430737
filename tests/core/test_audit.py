"""Who did what, kept for good: case events and the audit log of admin actions refuse UPDATE, DELETE and TRUNCATE in
the database itself, and every admin action (accounts, rules, calendar, Open311 keys, channels, beats) leaves a row
naming its actor."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from citymgmt.cli import cli
from tests.conftest import PASSWORD, REPO

pytestmark = pytest.mark.usefixtures("beijing")


def _audit(db_session, target: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    rows = db_session.execute(
        text("SELECT action, actor, target FROM audit_log WHERE target = :target ORDER BY id"), {"target": target}
    )
    return [tuple(r) for r in rows]


def _refused(db_session, sql: str, params: dict) -> str:  # type: ignore[no-untyped-def,type-arg]
    savepoint = db_session.begin_nested()
    with pytest.raises(DBAPIError) as refused:
        db_session.execute(text(sql), params)
    savepoint.rollback()
    return str(refused.value.orig)


def test_case_events_cannot_be_changed_or_deleted(client, db_session, token_for) -> None:  # type: ignore[no-untyped-def]
    reported = client.post(
        "/api/v1/cases",
        json={"category_code": "E0102", "lon": 116.3950, "lat": 39.9170, "description": "审计测试"},
        headers={**token_for("inspector"), "Idempotency-Key": "audit-events-1"},
    )
    assert reported.status_code == 201, reported.get_json()
    case_id = reported.get_json()["id"]
    [event_id] = db_session.execute(
        text("SELECT id FROM case_events WHERE case_id = :id AND action = 'report'"), {"id": case_id}
    ).scalars()

    message = _refused(db_session, "UPDATE case_events SET actor_id = NULL WHERE id = :id", {"id": event_id})
    assert "case_events is append-only: UPDATE refused" in message
    message = _refused(db_session, "DELETE FROM case_events WHERE id = :id", {"id": event_id})
    assert "case_events is append-only: DELETE refused" in message
    assert "TRUNCATE refused" in _refused(db_session, "TRUNCATE case_events CASCADE", {})
    # Still there, as written, and new events are still written.
    actor = db_session.execute(text("SELECT actor_id FROM case_events WHERE id = :id"), {"id": event_id}).scalar_one()
    assert actor is not None


def test_admin_actions_from_the_command_line_leave_an_audit_row(app, client, db_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()

    def run(*args: str, input: str | None = None) -> str:
        result = runner.invoke(cli, list(args), input=input)
        assert result.exit_code == 0, result.output
        return result.output

    run("users", "create", "audit-op", "--role", "operator", "--password-stdin", input=PASSWORD + "\n")
    run("users", "set-password", "audit-op", "--password-stdin", input="another-long-password\n")
    run("users", "deactivate", "audit-op")
    run("open311", "keys", "create", "audit-client")
    run("open311", "keys", "revoke", "audit-client")
    rules = tmp_path / "audit-rules.yaml"
    rules.write_text((REPO / "fixtures/rules/demo-rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    run("rules", "import", str(rules))
    run("calendar", "set", "2031-02-03", "--workday", "--note", "审计调休")
    added = run("notify", "channels", "add", "--email", "audit@example.org", "--event", "new_work")
    channel = added.split(":")[0].removeprefix("channel ").strip()
    run("notify", "channels", "retire", channel)
    run("users", "create", "audit-insp", "--role", "inspector", "--password-stdin", input=PASSWORD + "\n")
    run("grids", "assign", "audit-insp", "110101")

    cli_actor = db_session.execute(text("SELECT actor FROM audit_log WHERE target = 'audit-op' LIMIT 1")).scalar_one()
    assert cli_actor.startswith("cli:")
    assert _audit(db_session, "audit-op") == [
        ("user.create", cli_actor, "audit-op"),
        ("user.set_password", cli_actor, "audit-op"),
        ("user.deactivate", cli_actor, "audit-op"),
    ]
    assert [a for a, _, _ in _audit(db_session, "audit-insp")] == ["user.create", "grids.assign"]
    assert [a for a, _, _ in _audit(db_session, "audit-client")] == ["open311_key.create", "open311_key.revoke"]
    assert [a for a, _, _ in _audit(db_session, str(rules))] == ["rules.import"]
    assert [a for a, _, _ in _audit(db_session, "2031-02-03")] == ["calendar.set"]
    assert [a for a, _, _ in _audit(db_session, channel)][-2:] == [
        "notification_channel.add",
        "notification_channel.retire",
    ]
    details = db_session.execute(
        text("SELECT details FROM audit_log WHERE target = 'audit-op' AND action = 'user.create'")
    ).scalar_one()
    assert details["roles"] == ["operator"]


def test_admin_actions_through_the_api_name_the_admin(client, db_session, token_for, users) -> None:  # type: ignore[no-untyped-def]
    admin = token_for("admin")
    day = client.put("/api/v1/calendar/2031-02-04", json={"is_workday": False, "note": "审计"}, headers=admin)
    assert day.status_code == 200, day.get_json()
    yaml = (REPO / "fixtures/rules/demo-rules.yaml").read_bytes()
    imported = client.put("/api/v1/rules", data=yaml, headers={**admin, "Content-Type": "application/yaml"})
    assert imported.status_code == 200, imported.get_json()

    rows = db_session.execute(
        text("SELECT action, actor, actor_id, target FROM audit_log WHERE actor_id = :id ORDER BY id"),
        {"id": users["admin"].id},
    ).all()
    assert [(r.action, r.actor, r.target) for r in rows] == [
        ("calendar.set", "t-admin", "2031-02-04"),
        ("rules.import", "t-admin", "PUT /api/v1/rules"),
    ]

    # The audit log itself is append-only too.
    [entry_id] = db_session.execute(
        text("SELECT id FROM audit_log WHERE actor_id = :id AND action = 'calendar.set'"), {"id": users["admin"].id}
    ).scalars()
    assert "audit_log is append-only: UPDATE refused" in _refused(
        db_session, "UPDATE audit_log SET actor = 'someone else' WHERE id = :id", {"id": entry_id}
    )
    assert "audit_log is append-only: DELETE refused" in _refused(
        db_session, "DELETE FROM audit_log WHERE id = :id", {"id": entry_id}
    )
