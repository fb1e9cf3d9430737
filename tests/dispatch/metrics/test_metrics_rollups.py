"""On randomised case histories the daily roll-ups, built once and then brought up to date by the job (which
rebuilds only the days that changed), equal the figures computed directly from cases and events."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from dispatch.metrics import operations as metrics
from dispatch.metrics.operations import Period

pytestmark = pytest.mark.usefixtures("beijing")

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
CUT = START + timedelta(days=3)  # the first build
END = START + timedelta(days=6)  # the second
DEPARTMENTS = ("t-water", "h-roads")


@dataclass
class History:
    source: str
    cell: int
    reporter: int
    reported_at: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    duplicate_of: int | None = None  # index of an earlier inspector report


def simulate(rng: random.Random, source: str, cell: int, reporter: int, dispatcher: int, inspector: int) -> History:
    """A plausible history: the moves of the workflow with their times, step deadlines and departments."""
    t = START + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
    h = History(source, cell, reporter, t)
    state = {"status": "reported", "due": t + timedelta(minutes=20), "department": None, "disposal": None}

    def move(action: str, to: str, actor: int | None, minutes: int, due: datetime | None, **payload: Any) -> None:
        nonlocal t
        t = t + timedelta(minutes=minutes)
        h.events.append(
            {
                "action": action,
                "at": t,
                "actor": actor,
                "from": state["status"],
                "to": to,
                "payload": payload,
                "step_due_at": state["due"],
                "due_at": due,
                "department": state["department"],
            }
        )
        state["status"], state["due"] = to, due

    h.events.append(
        {"action": "report", "at": t, "actor": reporter, "from": None, "to": "reported", "payload": {}}
        | {"step_due_at": None, "due_at": state["due"], "department": None}
    )

    def wait() -> int:
        return rng.choice((1, 5, 15, 45, 180, 600, 1500))

    if source == "inspector":
        move("file", "filed", None, 0, t + timedelta(minutes=10))
    else:
        if rng.random() < 0.5:
            move("request_verification", "verifying", dispatcher, wait(), t + timedelta(hours=1))
            result = rng.choice(("pass", "pass", "fail"))
            move("verify", "reported" if result == "pass" else "cancelled", inspector, wait(), None, result=result)
            if result == "fail":
                return h
            state["due"] = t + timedelta(minutes=20)
        if rng.random() < 0.1:
            move("cancel", "cancelled", dispatcher, wait(), None)
            return h
        move("file", "filed", dispatcher, wait(), t + timedelta(minutes=10))
    if rng.random() < 0.1:
        move("cancel", "cancelled", dispatcher, wait(), None)
        return h
    previous = None
    for _ in range(4):
        minutes = wait()
        department = rng.choice(DEPARTMENTS)
        disposal = t + timedelta(minutes=minutes) + timedelta(hours=rng.choice((1, 4, 24)))
        state["department"], state["disposal"] = department, disposal
        payload = {"department": department} | (
            {"redispatch_from": previous} if previous not in (None, department) else {}
        )
        move("dispatch", "dispatched", dispatcher, minutes, disposal, **payload)
        previous = department
        roll = rng.random()
        if roll < 0.15:  # stays open
            return h
        if roll < 0.3:  # returned, approved: dispatched again
            state["disposal"] = None
            move("approve_return", "filed", dispatcher, wait(), t + timedelta(minutes=10))
            state["department"] = None
            continue
        if roll < 0.45:  # suspended, perhaps resumed with the time that was left
            move("suspend", "suspended", dispatcher, wait(), None)
            if rng.random() < 0.5:
                return h
            disposal = t + timedelta(minutes=wait())
            state["disposal"] = disposal
            move("resume", "dispatched", dispatcher, wait(), disposal)
        for _ in range(3):
            move("handle", "handled", None, wait(), t + timedelta(minutes=30))
            if rng.random() < 0.2:
                return h
            move("request_check", "checking", None, 0, t + timedelta(hours=1))
            result = rng.choice(("pass", "pass", "fail"))
            if result == "fail":
                move("check", "dispatched", inspector, wait(), state["disposal"], result="fail", rework=True)
                continue
            move("check", "checking", inspector, wait(), state["due"], result="pass")
            if rng.random() < 0.85:
                move("close", "closed", None, wait(), None)
            return h
        return h
    return h


def case_row(h: History, until: datetime) -> dict[str, Any]:
    """The case as it stood at `until`, from its events up to then."""
    row: dict[str, Any] = {"status": "reported", "closed_at": None, "disposal_due_at": None, "department": None}
    row["verified"] = False
    for e in h.events:
        if e["at"] > until:
            break
        row["status"] = e["to"]
        row["department"] = e["department"]
        if e["action"] == "close":
            row["closed_at"] = e["at"]
        if e["action"] in ("dispatch", "resume") or (e["action"] == "check" and e["payload"].get("rework")):
            row["disposal_due_at"] = e["due_at"]
        if e["action"] == "approve_return":
            row["disposal_due_at"] = None
        if e["action"] == "verify" and e["payload"]["result"] == "pass":
            row["verified"] = True
    return row


CASE_SQL = """
INSERT INTO cases (code, source, reporter_id, category_id, category_code, urgency, point, cell_code, community_code,
                   street_code, district_code, department_code, status, reported_at, updated_at, closed_at,
                   disposal_due_at, verified, duplicate_of, description)
SELECT :code, :source, :reporter, c.id, c.code, 'normal', ST_SetSRID(ST_MakePoint(116.39, 39.91), 4326), g.code,
       g.community_code, a.parent_code, left(a.parent_code, 6), :department, :status, :reported_at, :reported_at,
       :closed_at, :disposal_due_at, :verified, :duplicate_of, ''
FROM categories c, grid_cells g JOIN areas a ON a.code = g.community_code
WHERE c.code = 'E0102' AND g.code = :cell
RETURNING id
"""
UPDATE_SQL = """
UPDATE cases SET status = :status, closed_at = :closed_at, disposal_due_at = :disposal_due_at,
                 department_code = :department, verified = :verified
WHERE id = :id
"""
EVENT_SQL = """
INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload, step_due_at, due_at,
                         department_code)
VALUES (:case_id, :action, :actor, :at, :from, :to, CAST(:payload AS jsonb), :step_due_at, :due_at, :department)
"""


@pytest.fixture
def world(db_session, users, make_user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    db_session.execute(
        text("INSERT INTO departments (code, name, name_en, kind) VALUES ('h-roads', '测试道路', 'Roads', 'roads')")
    )
    cells = list(db_session.execute(text("SELECT code FROM grid_cells ORDER BY code LIMIT 3")).scalars())
    inspectors = [users["inspector"].id, make_user("h-inspector", "inspector").id]
    return {"cells": cells, "inspectors": inspectors, "dispatcher": users["dispatcher"].id}


def _insert(db_session, histories: list[History], ids: dict[int, int], until: datetime, world) -> None:  # type: ignore[no-untyped-def]
    import json

    for i, h in enumerate(histories):
        if h.reported_at > until:
            continue
        row = case_row(h, until)
        values = {**row, "id": ids.get(i)}
        if i not in ids:
            ids[i] = db_session.execute(
                text(CASE_SQL),
                {
                    **row,
                    "code": f"H{i:05d}{random.randrange(10**9)}",
                    "source": h.source,
                    "reporter": h.reporter,
                    "cell": world["cells"][h.cell],
                    "reported_at": h.reported_at,
                    "duplicate_of": ids.get(h.duplicate_of) if h.duplicate_of is not None else None,
                },
            ).scalar_one()
            done = datetime.min.replace(tzinfo=UTC)
        else:
            db_session.execute(text(UPDATE_SQL), values)
            done = CUT
        for e in h.events:
            if done < e["at"] <= until:
                db_session.execute(
                    text(EVENT_SQL),
                    {**e, "case_id": ids[i], "payload": json.dumps(e["payload"])},
                )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), days=st.lists(st.integers(0, 7), min_size=2, max_size=2))
def test_rollups_equal_the_direct_computation(db_session, app, world, seed: int, n: int, days: list[int]) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    config = app.extensions["citymgmt.settings"]
    nested = db_session.begin_nested()
    try:
        db_session.execute(
            text(
                "INSERT INTO inspector_cells (user_id, cell_code, assigned_at, unassigned_at) VALUES"
                " (:a, :c0, :early, NULL), (:a, :c1, :early, NULL), (:b, :c1, :early, :mid)"
            ),
            {
                "a": world["inspectors"][0],
                "b": world["inspectors"][1],
                "c0": world["cells"][0],
                "c1": world["cells"][1],
                "early": START - timedelta(days=1),
                "mid": START + timedelta(days=2),
            },
        )
        histories = []
        for _ in range(n):
            source = rng.choice(("inspector", "inspector", "public", "hotline", "open311"))
            inspector = rng.choice(world["inspectors"])
            reporter = inspector if source == "inspector" else world["dispatcher"]
            histories.append(simulate(rng, source, rng.randrange(3), reporter, world["dispatcher"], inspector))
        histories.sort(key=lambda h: h.reported_at)
        for i, h in enumerate(histories):
            earlier = [j for j in range(i) if histories[j].source == "inspector" and histories[j].cell == h.cell]
            if h.source != "inspector" and earlier and rng.random() < 0.3:
                h.duplicate_of = rng.choice(earlier)
        ids: dict[int, int] = {}
        _insert(db_session, histories, ids, CUT, world)
        metrics.refresh(db_session, CUT, config)
        _insert(db_session, histories, ids, END, world)
        metrics.refresh(db_session, END, config)
        first = date(2026, 11, 22) + timedelta(days=min(days))
        last = date(2026, 11, 22) + timedelta(days=max(days))
        whole_months = Period(date(2026, 11, 1), date(2026, 12, 31))
        for period in (whole_months, Period(date(2026, 11, 20), date(2026, 12, 5)), Period(first, last)):
            for group_by in metrics.GROUPS:
                direct = metrics.direct(db_session, group_by, period, END, config)
                assert metrics.from_rollups(db_session, group_by, period) == direct, (group_by, period)
    finally:
        nested.rollback()


def test_roll_ups_built_under_other_definitions_are_rebuilt_whole(db_session, app, world) -> None:  # type: ignore[no-untyped-def]
    """Roll-ups left by a build of an earlier definition (another build name) are not brought up to date day by day:
    the next run rebuilds every day."""
    config = app.extensions["citymgmt.settings"]
    rng = random.Random(26)
    histories = [simulate(rng, "hotline", 0, world["dispatcher"], world["dispatcher"], world["inspectors"][0])]
    histories += [simulate(rng, "inspector", 1, world["inspectors"][0], world["dispatcher"], world["inspectors"][0])]
    _insert(db_session, histories, {}, END, world)
    metrics.refresh(db_session, END, config)
    period = Period(date(2026, 11, 1), date(2026, 12, 31))
    right = metrics.direct(db_session, "cell", period, END, config)
    assert right and metrics.from_rollups(db_session, "cell", period) == right
    # as an earlier version left them: other figures, under the earlier build's name
    db_session.execute(text("UPDATE metric_days SET closed = closed + 7"))
    db_session.execute(text("UPDATE metric_months SET closed = closed + 7"))
    db_session.execute(text("UPDATE metric_builds SET name = 'daily' WHERE name = :build"), {"build": metrics.BUILD})
    assert metrics.refresh(db_session, END + timedelta(hours=2), config) >= 1
    assert metrics.from_rollups(db_session, "cell", period) == right
