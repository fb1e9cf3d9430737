"""Deadlines across weekends, statutory holidays, make-up days and overrides; the sweep and its escalation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from citymgmt.core.db import Driver
from citymgmt.core.identity import User
from citymgmt.core.periodic import registered_periodic
from dispatch.cases.models import CLOCK_COPIES
from dispatch.sla.sweep import sweep
from dispatch.workflow.moves import act

pytestmark = pytest.mark.usefixtures("beijing")

NOTHING = {
    "warned": 0,
    "overdue": 0,
    "escalated": 0,
    "replies_overdue": 0,
    "suspensions_capped": 0,
}  # a sweep that changed nothing
GARBAGE = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158, "description": "暴露垃圾"}  # 4 working hours


def beijing(text_: str) -> datetime:
    return datetime.fromisoformat(text_ + "+08:00").astimezone(UTC)


def report_at(client, token_for, clock, when: str, category: str = "E0102") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    clock.at = beijing(when)
    body = {**GARBAGE, "category_code": category}
    response = client.post("/api/v1/cases", json=body, headers=token_for("inspector"))
    assert response.status_code == 201, response.get_json()
    case: dict[str, Any] = response.get_json()
    assert case["status"] == "dispatched"
    return case


def local(case: dict[str, Any]) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(case["due_at"]).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def test_a_deadline_skips_the_weekend(client, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    case = report_at(client, token_for, clock, "2026-11-27T17:00")  # Friday: 1 h left today
    assert local(case) == "2026-11-30 11:00"  # Monday, 3 more hours


def test_a_deadline_skips_national_day(client, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    case = report_at(client, token_for, clock, "2026-09-30T17:00")  # the eve of 1–7 October
    assert local(case) == "2026-10-08 11:00"


def test_a_make_up_saturday_counts(client, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    case = report_at(client, token_for, clock, "2026-10-09T17:00")  # Friday; Saturday 10 October is worked (调休)
    assert local(case) == "2026-10-10 11:00"


def test_the_centres_steps_run_round_the_clock_and_the_departments_on_the_working_calendar(
    app: Flask, client, token_for, clock
) -> None:  # type: ignore[no-untyped-def]
    """CITYMGMT_CENTRE_HOURS=24x7 (the default): a hotline call on a National Day morning is due for acceptance 20
    minutes later, not on the first working day after the holiday; the department's disposal still waits for it."""
    from dataclasses import replace

    clock.at = beijing("2026-10-02T09:00")  # a holiday
    call = {**GARBAGE, "source": "hotline", "description": "市民来电：暴露垃圾"}
    case = client.post("/api/v1/cases", json=call, headers=token_for("operator")).get_json()
    assert case["status"] == "reported" and local(case) == "2026-10-02 09:20"  # accept and file: 20 minutes
    inspectors = report_at(client, token_for, clock, "2026-10-02T09:00", "E0104")  # filed and dispatched at once
    assert local(inspectors) == "2026-10-08 10:00"  # 2 working hours from the first working day
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, centre_hours="working")  # CITYMGMT_CENTRE_HOURS
    try:
        working = client.post("/api/v1/cases", json={**call, "category_code": "E0104"}, headers=token_for("operator"))
    finally:
        app.extensions["citymgmt.settings"] = settings
    assert local(working.get_json()) == "2026-10-08 08:20"  # the centre on the working calendar: as it was


def test_an_admins_override_moves_later_deadlines(client, token_for, clock) -> None:  # type: ignore[no-untyped-def]
    admin = token_for("admin")
    refused = client.put("/api/v1/calendar/2026-11-24", json={"is_workday": False}, headers=token_for("dispatcher"))
    assert refused.status_code == 403
    bad = client.put("/api/v1/calendar/2026-13-01", json={"is_workday": False}, headers=admin)
    assert bad.status_code == 422 and bad.get_json()["error"]["details"] == {"day": "2026-13-01"}
    set_ = client.put("/api/v1/calendar/2026-11-24", json={"is_workday": False, "note": "全市停工"}, headers=admin)
    assert set_.status_code == 200 and set_.get_json()["source"] == "admin"
    case = report_at(client, token_for, clock, "2026-11-23T17:00")  # Monday; Tuesday is now a day off
    assert local(case) == "2026-11-25 11:00"
    days = client.get("/api/v1/calendar?year=2026", headers=token_for("inspector")).get_json()
    assert {"day": "2026-11-24", "is_workday": False, "source": "admin", "note": "全市停工"}.items() <= next(
        d for d in days if d["day"] == "2026-11-24"
    ).items()
    assert any(d["day"] == "2026-10-10" and d["is_workday"] for d in days)  # seeded make-up day


def test_the_sweep_turns_lights_and_escalates_once(client, token_for, clock, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    case = report_at(client, token_for, clock, "2026-11-23T09:30")  # due 15:30, warn at 14:42
    other = report_at(client, token_for, clock, "2026-11-23T09:30", "E0104")  # not a duplicate: another category
    db_session.execute(text("UPDATE cases SET light = NULL WHERE id = :id"), {"id": other["id"]})  # as if suspended
    assert sweep(db_session, beijing("2026-11-23T14:41")).summary() == NOTHING
    at_warn = sweep(db_session, beijing("2026-11-23T14:42"))
    assert at_warn.warned == [case["id"]] and at_warn.by_department == {"110101-sanitation": {"warned": [case["id"]]}}
    assert sweep(db_session, beijing("2026-11-23T14:42")).summary()["warned"] == 0  # idempotent
    late = sweep(db_session, beijing("2026-11-23T15:30"))
    assert late.overdue == [case["id"]] and late.escalated == [case["id"]]
    assert sweep(db_session, beijing("2026-11-23T18:00")).summary() == NOTHING
    clock.at = beijing("2026-11-23T18:00")
    view = client.get(f"/api/v1/cases/{case['id']}", headers=token_for("operator")).get_json()
    assert view["light"] == "red" and view["escalated"] is True and view["version"] == case["version"] + 1
    warn, overdue, escalate = view["events"][-3:]
    assert (warn["action"], warn["payload"]["light"], warn["actor_id"]) == ("warn", "yellow", None)
    assert overdue["action"] == "overdue" and overdue["payload"]["from"] == "yellow"
    assert escalate["action"] == "escalate" and escalate["payload"]["reason"] == "overdue"


def test_a_missed_warning_goes_straight_to_red(client, token_for, clock, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    case = report_at(client, token_for, clock, "2026-11-23T09:30")
    result = sweep(db_session, beijing("2026-11-24T09:00"), escalate_overdue=False)
    assert result.warned == [] and result.overdue == [case["id"]] and result.escalated == []
    payload = db_session.execute(
        text("SELECT payload FROM case_events WHERE case_id = :id AND action = 'overdue'"), {"id": case["id"]}
    ).scalar_one()
    assert payload["from"] == "green" and payload["step"] == "dispatched"


def test_a_sweep_over_100000_open_cases_is_a_few_statements(app: Flask, db_session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # This pooled connection's cached plans (the foreign-key checks, the clock trigger's) were made by earlier tests
    # while `cases` was nearly empty: kept for the 100,000 rows of one statement, they cost the insert 18 s instead of
    # 1.5 s. On a server, autovacuum's ANALYZE invalidates them as a table grows.
    db_session.execute(text("DISCARD PLANS"))
    db_session.execute(
        text(
            """
            INSERT INTO cases (code, source, category_id, category_code, urgency, description, point, cell_code,
                               community_code, street_code, district_code, department_code, status, due_at,
                               warn_at, light, reported_at, updated_at)
            SELECT 'T' || lpad(g::text, 10, '0'), 'inspector', c.id, c.code, 'normal', '',
                   ST_SetSRID(ST_MakePoint(116.3906, 39.9158), 4326), cell.code, left(cell.code, 12),
                   left(cell.code, 9), left(cell.code, 6), '110101-sanitation', 'dispatched',
                   timestamptz '2026-11-23 08:00+00' + g * interval '1 second',
                   timestamptz '2026-11-23 07:00+00' + g * interval '1 second', 'green', now(), now()
            FROM generate_series(1, 100000) g,
                 (SELECT id, code FROM categories WHERE code = 'E0102' LIMIT 1) c,
                 (SELECT code FROM grid_cells WHERE code LIKE '110101%' LIMIT 1) cell
            """
        )
    )
    # As autovacuum leaves the tables after a large rolled-back write (a refused import): pages, but no rows. The
    # planner then takes every table for one row; the sweep must still reach the cases by key, not by a full scan
    # of one table for each row of another.
    db_session.execute(
        text(
            "UPDATE pg_class SET relpages = pg_relation_size(oid) / 8192, reltuples = 0"
            " WHERE oid = ANY (CAST(:tables AS regclass[]))"
            " OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY (CAST(:tables AS regclass[])))"
        ),
        {"tables": ["cases", "case_clocks"]},
    )
    db_session.execute(text("SET LOCAL statement_timeout = '30s'"))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    connection = db_session.connection()
    event.listen(connection, "before_cursor_execute", count)
    # The hot lookups (a department's channels) run on the driver, past SQLAlchemy's events: counted here too.
    execute = Driver.execute
    monkeypatch.setattr(
        Driver, "execute", lambda self, query, *a, **k: count(None, None, query) or execute(self, query, *a, **k)
    )
    try:
        # 1,000 cases reach their warning time (1%), 500 of them (and no others) their deadline.
        result = sweep(db_session, datetime(2026, 11, 23, 7, 16, 40, tzinfo=UTC))
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(result.warned) == 1000 and len(result.overdue) == 0
    # The calendar's revision (for the reply deadline of what it escalates), JIT off and the clock trigger aside, the
    # two light updates (escalation is in the second), the replies overdue, the trigger back, the suspensions at their
    # cap, then the channels of
    # the one department concerned and the centre's (none here).
    calendar = next(i for i, s in enumerate(statements) if "jit" in s)  # its revision, its days if they changed
    assert 1 <= calendar <= 2 and all("calendar_days" in s for s in statements[:calendar])
    statements = statements[calendar:]
    assert len(statements) == 8 and "escalation_reply_overdue" in statements[3] and "DEFAULT" in statements[4]
    assert "suspended_seconds" in statements[5]  # the suspensions at their cap (none here)
    assert all("notification_channels" in s for s in statements[6:])
    result = sweep(db_session, datetime(2026, 11, 23, 8, 8, 20, tzinfo=UTC))
    assert len(result.overdue) == 500 and len(result.escalated) == 500


def test_the_sweep_runs_every_minute_and_from_the_cli(app: Flask, db_session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    assert registered_periodic()["sla-sweep"].every == 60
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    result = app.test_cli_runner().invoke(cli, ["sla", "sweep", "--at", "2026-11-23T09:30"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("sweep at 2026-11-23T09:30:00+08:00: ")
    bad = app.test_cli_runner().invoke(cli, ["sla", "sweep", "--at", "tomorrow"])
    assert bad.exit_code == 2 and "expected an ISO 8601 time" in bad.output


def test_a_sweep_in_the_future_is_refused_unless_a_dry_run(
    app: Flask, client, token_for, clock, db_session, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    case = report_at(client, token_for, clock, "2026-11-23T09:30")  # due 15:30 that day
    clock.at = beijing("2026-11-23T10:00")
    ahead = app.test_cli_runner().invoke(cli, ["sla", "sweep", "--at", "2026-11-23T16:00"])
    assert ahead.exit_code == 1
    assert ahead.stderr.startswith("error: --at 2026-11-23T16:00:00+08:00 is in the future: a sweep then would write")
    dry = app.test_cli_runner().invoke(cli, ["sla", "sweep", "--at", "2026-11-23T16:00", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == (
        "dry run, nothing written: a sweep at 2026-11-23T16:00:00+08:00 would turn 0 yellow, 1 red, escalate 1,"
        " mark 0 escalation replies overdue and resume 0 suspensions at their cap\n"
    )
    row = db_session.execute(text("SELECT light FROM cases WHERE id = :id"), {"id": case["id"]}).scalar_one()
    events = db_session.execute(
        text("SELECT count(*) FROM case_events WHERE case_id = :id AND action = 'overdue'"), {"id": case["id"]}
    ).scalar_one()
    assert (row, events) == ("green", 0)  # nothing written


def _clock(db_session: Session, case_id: int) -> tuple[Any, ...]:
    """The case's clock as the sweep sees it (case_clocks), after checking that it is the case's own."""
    rest = CLOCK_COPIES[3:]  # the state, department and escalation
    pairs = ", ".join(f"c.{name}, k.{name}" for name in rest)
    row = db_session.execute(
        text(
            f"SELECT c.warn_at, c.due_at, c.light, k.warn_at, k.due_at, k.light, {pairs}"  # noqa: S608 (names only)
            " FROM cases c LEFT JOIN case_clocks k ON k.case_id = c.id WHERE c.id = :id"
        ),
        {"id": case_id},
    ).one()
    assert tuple(row[:3]) == tuple(row[3:6]), f"case_clocks differs from the case: {row}"
    if row[5] is not None or row[6 + 2 * rest.index("escalated")]:  # a running clock or an escalation
        assert row[6::2] == row[7::2], f"case_clocks differs from the case: {row}"
    return tuple(row[3:6])


def test_the_sweeps_clocks_follow_every_move_of_the_case(
    app: Flask, client, token_for, clock, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    case = report_at(client, token_for, clock, "2026-11-23T09:30")
    assert _clock(db_session, case["id"])[2] == "green"
    sweep(db_session, beijing("2026-11-23T14:42"))
    assert _clock(db_session, case["id"])[2] == "yellow"

    def move(action: str, role: str, when: str, **body: Any) -> dict[str, Any]:
        clock.at = beijing(when)
        version = client.get(f"/api/v1/cases/{case['id']}", headers=token_for(role)).get_json()["version"]
        response = client.post(
            f"/api/v1/cases/{case['id']}/actions/{action}",
            json=body,
            headers={**token_for(role), "If-Match": str(version)},
        )
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    move("suspend", "dispatcher", "2026-11-23T14:50", note="等待施工许可")
    assert _clock(db_session, case["id"])[2] is None  # no clock while suspended: the sweep passes it by
    # Escalated while it has no light: the clock copies the escalation, its reply's deadline and the department (a
    # handler's queue and the sweep's reply deadlines read them there); _clock compares them with the case's.
    move("escalate", "supervisor", "2026-11-23T15:00", note="督办：尽快处理")
    assert db_session.execute(
        text("SELECT escalated, escalation_due_at IS NOT NULL, department_code FROM case_clocks WHERE case_id = :id"),
        case,
    ).one() == (True, True, "110101-sanitation")
    assert sweep(db_session, beijing("2026-11-24T09:00")).summary()["overdue"] == 0
    resumed = move("resume", "dispatcher", "2026-11-24T09:00")
    _, due_at, light = _clock(db_session, case["id"])
    # A new clock with 40 minutes left of 4 hours: past the warning point of the whole limit, yellow again at once.
    assert light == "yellow" and due_at == datetime.fromisoformat(resumed["due_at"])
    late = sweep(db_session, due_at)
    assert late.overdue == [case["id"]] and _clock(db_session, case["id"])[2] == "red"
    handler = db_session.execute(select(User).where(User.username == "handler-110101-sanitation")).scalar_one()
    version = db_session.execute(text("SELECT version FROM cases WHERE id = :id"), case).scalar_one()
    act(
        db_session,
        case["id"],
        "handle",
        handler,
        version,
        {"note": "已清运"},
        beijing("2026-11-24T10:00"),
        app.extensions["citymgmt.settings"],
    )
    db_session.flush()
    assert _clock(db_session, case["id"])[2] == "green"  # the centre's step has its own clock
    # A change made by plain SQL is followed too (an operator's repair, a script).
    db_session.execute(text("UPDATE cases SET light = NULL, due_at = NULL, warn_at = NULL WHERE id = :id"), case)
    assert _clock(db_session, case["id"]) == (None, None, None)


def test_the_sweep_moves_a_light_without_rewriting_the_case_indexes(app: Flask, db_session: Session) -> None:
    """The change of a light, an escalation of an overdue disposal and the marking of its late reply touch no index
    of cases, so PostgreSQL updates the row in its page (HOT): the reason the clock has a table of its own (the sweep
    at 1,000,000 open cases, tests/perf). One in fifty turns yellow, one in fifty red (and is escalated)."""
    db_session.execute(
        text(
            """
            INSERT INTO cases (code, source, category_id, category_code, urgency, description, point, cell_code,
                               community_code, street_code, district_code, department_code, status, due_at,
                               warn_at, light, reported_at, updated_at)
            SELECT 'H' || lpad(g::text, 10, '0'), 'inspector', c.id, c.code, 'normal', '',
                   ST_SetSRID(ST_MakePoint(116.3906, 39.9158), 4326), cell.code, left(cell.code, 12),
                   left(cell.code, 9), left(cell.code, 6), '110101-sanitation', 'dispatched',
                   CASE WHEN g % 50 = 1 THEN timestamptz '2026-11-23 07:20+00' ELSE timestamptz '2026-12-02 08:00+00'
                   END,
                   CASE WHEN g % 50 IN (0, 1) THEN timestamptz '2026-11-23 07:00+00'
                        ELSE timestamptz '2026-12-01 08:00+00' END,
                   'green', now(), now()
            FROM generate_series(1, 5000) g,
                 (SELECT id, code FROM categories WHERE code = 'E0102' LIMIT 1) c,
                 (SELECT code FROM grid_cells WHERE code LIKE '110101%' LIMIT 1) cell
            """
        )
    )
    updates = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'cases'"
    before = db_session.execute(text(updates)).one()
    result = sweep(db_session, datetime(2026, 11, 23, 7, 30, tzinfo=UTC), escalate_overdue=True)
    after = db_session.execute(text(updates)).one()
    assert (len(result.warned), len(result.overdue), len(result.escalated)) == (100, 100, 100)
    assert (after[0] - before[0], after[1] - before[1]) == (200, 200)  # every one of them in its page
    # Their replies late (the escalations' deadlines are hours after): marked in the page too.
    before = after
    late = sweep(db_session, datetime(2026, 11, 25, 7, 30, tzinfo=UTC), escalate_overdue=True)
    after = db_session.execute(text(updates)).one()
    assert (len(late.warned), len(late.overdue), len(late.replies_overdue)) == (0, 0, 100)
    assert (after[0] - before[0], after[1] - before[1]) == (100, 100)
    assert (
        db_session.execute(
            text(
                "SELECT count(*) FROM case_clocks k JOIN cases c ON c.id = k.case_id"
                " WHERE c.code LIKE 'H%' AND k.light = 'yellow'"
            )
        ).scalar_one()
        == 100
    )


def _move(app: Flask, db_session: Session, case_id: int, action: str, username: str, when: str, **body: Any) -> Any:
    actor = db_session.execute(select(User).where(User.username == username)).scalar_one()
    version = db_session.execute(text("SELECT version FROM cases WHERE id = :id"), {"id": case_id}).scalar_one()
    settings = app.extensions["citymgmt.settings"]
    case, _ = act(db_session, case_id, action, actor, version, {"note": "测试", **body}, beijing(when), settings)
    return case


def _local(instant: datetime) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def test_after_a_rework_the_warning_point_is_on_the_whole_limit(
    app: Flask, client, token_for, clock, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    """4 working hours, Monday 09:30: due 15:30, yellow at 80 % of the limit (3 h 12 min of working time) = 14:42.
    Handled at 15:00 (87.5 % used) and reworked then: still due 15:30, and yellow at once, from the rework on (the
    old rule put the warning at 80 % of the remaining half hour, 15:24)."""
    case = report_at(client, token_for, clock, "2026-11-23T09:30")
    handled = _move(app, db_session, case["id"], "handle", "handler-110101-sanitation", "2026-11-23T15:00")
    assert handled.status == "checking"  # the check is requested at once
    reworked = _move(app, db_session, case["id"], "check", "t-inspector", "2026-11-23T15:00", result="fail")
    assert reworked.status == "dispatched"
    assert (_local(reworked.due_at), _local(reworked.warn_at), reworked.light) == (
        "2026-11-23 15:30",
        "2026-11-23 15:00",
        "yellow",
    )


def test_after_a_resume_the_warning_point_is_on_the_whole_limit(
    app: Flask, client, token_for, clock, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    """4 working hours, Monday 09:30; suspended at 10:30 (1 h used), resumed Tuesday 09:00 with 3 h left: due
    12:00, yellow when 3 h 12 min of the 4 h are used, 2 h 12 min after the resume = 11:12 (not 80 % of the 3 h
    left, 11:24). An extension of 2 working hours granted at 09:40 makes the whole limit 6 h: due 16:00 (past the
    lunch break), yellow 1 h 12 min of working time before it = 14:48 (the old rule: 80 % of the 4 h 20 min left
    from 09:40, 15:08)."""
    case = report_at(client, token_for, clock, "2026-11-23T09:30")
    _move(app, db_session, case["id"], "suspend", "t-dispatcher", "2026-11-23T10:30")
    resumed = _move(app, db_session, case["id"], "resume", "t-dispatcher", "2026-11-24T09:00")
    assert (_local(resumed.due_at), _local(resumed.warn_at), resumed.light) == (
        "2026-11-24 12:00",
        "2026-11-24 11:12",
        "green",
    )
    _move(app, db_session, case["id"], "request_extension", "handler-110101-sanitation", "2026-11-24T09:30", hours=2)
    extended = _move(app, db_session, case["id"], "approve_extension", "t-dispatcher", "2026-11-24T09:40")
    assert (_local(extended.due_at), _local(extended.warn_at), extended.light) == (
        "2026-11-24 16:00",
        "2026-11-24 14:48",
        "green",
    )


def test_an_escalation_has_a_reply_deadline_and_the_sweep_marks_it_overdue_once(
    app: Flask, client, token_for, clock, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    """CITYMGMT_ESCALATION_REPLY_HOURS (8 working hours): escalated Monday 09:30, the reply is due Tuesday 09:30
    (2 h 30 and 4 h on Monday, 1 h 30 on Tuesday); escalated by the sweep at 15:30 when the disposal is overdue,
    Tuesday 15:30."""
    settings = app.extensions["citymgmt.settings"]
    case = report_at(client, token_for, clock, "2026-11-23T09:30")
    escalated = _move(app, db_session, case["id"], "escalate", "t-supervisor", "2026-11-23T09:30")
    assert _local(escalated.escalation_due_at) == "2026-11-24 09:30" and not escalated.escalation_reply_overdue
    late = report_at(client, token_for, clock, "2026-11-23T09:30", "E0104")  # 2 working hours: due 11:30
    swept = sweep(db_session, beijing("2026-11-23T15:30"), True, settings)
    assert late["id"] in swept.escalated and case["id"] not in swept.escalated  # escalated already
    reply_due_at = db_session.execute(
        text("SELECT escalation_due_at FROM cases WHERE id = :id"), {"id": late["id"]}
    ).scalar_one()
    assert _local(reply_due_at) == "2026-11-24 15:30"

    assert sweep(db_session, beijing("2026-11-24T09:29"), True, settings).replies_overdue == []
    assert sweep(db_session, beijing("2026-11-24T09:30"), True, settings).replies_overdue == [case["id"]]
    assert sweep(db_session, beijing("2026-11-24T09:40"), True, settings).replies_overdue == []  # once
    event = db_session.execute(
        text("SELECT actor_id, at, payload FROM case_events WHERE case_id = :id AND action = 'reply_overdue'"),
        {"id": case["id"]},
    ).one()
    assert event.actor_id is None and event.at == beijing("2026-11-24T09:30")
    assert event.payload["automatic"] is True and _local(datetime.fromisoformat(event.payload["due_at"])) == (
        "2026-11-24 09:30"
    )
    replied = _move(app, db_session, case["id"], "reply", "handler-110101-sanitation", "2026-11-24T10:00")
    assert (replied.escalated, replied.escalation_due_at, replied.escalation_reply_overdue) == (False, None, False)
    payload = db_session.execute(
        text("SELECT payload FROM case_events WHERE case_id = :id AND action = 'reply'"), {"id": case["id"]}
    ).scalar_one()
    assert payload["on_time"] is False


def test_a_suspension_ends_when_the_cases_suspensions_reach_their_cap(
    app: Flask, client, token_for, clock, db_session: Session
) -> None:  # type: ignore[no-untyped-def]
    """CITYMGMT_MAX_SUSPENSION_DAYS (365): suspended Monday 2026-11-23 10:30 with 3 of its 4 working hours left, the
    case is resumed by the sweep at 2027-11-23 10:30, not a minute before, once; then due 15:30 that Tuesday (10:30
    to 12:00 and 14:00 to 15:30)."""
    settings = app.extensions["citymgmt.settings"]
    case = report_at(client, token_for, clock, "2026-11-23T09:30")
    _move(app, db_session, case["id"], "suspend", "t-dispatcher", "2026-11-23T10:30")
    assert sweep(db_session, beijing("2027-11-23T10:29"), True, settings).suspensions_capped == []
    assert sweep(db_session, beijing("2027-11-23T10:30"), True, settings).suspensions_capped == [case["id"]]
    assert sweep(db_session, beijing("2027-11-23T10:31"), True, settings).suspensions_capped == []
    row = db_session.execute(
        text("SELECT status, disposal_due_at, suspended_seconds FROM cases WHERE id = :id"), {"id": case["id"]}
    ).one()
    assert row.status == "dispatched" and _local(row.disposal_due_at) == "2027-11-23 15:30"
    assert row.suspended_seconds == 365 * 86400
    event = db_session.execute(
        text("SELECT actor_id, at, payload FROM case_events WHERE case_id = :id AND action = 'resume'"),
        {"id": case["id"]},
    ).one()
    assert event.actor_id is None and event.at == beijing("2027-11-23T10:30")
    assert event.payload["reason"] == "max_suspension_days" and event.payload["automatic"] is True
