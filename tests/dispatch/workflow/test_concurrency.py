"""Two people (or two sweeps) at the same moment on one case, in separate transactions on a database of their own:
exactly one wins, the other is refused cleanly, and nothing happens twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from citymgmt.core.db import db
from citymgmt.core.errors import Conflict, Kind
from citymgmt.core.identity import User
from citymgmt.local.process import wait_until
from dispatch.intake.operations import Report, report_case
from dispatch.sla.sweep import sweep
from dispatch.workflow.moves import act
from tests.conftest import make_test_app

MONDAY_0930 = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def own_app(servers) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    """The demo city in a database of this module's own, where transactions really commit."""
    yield make_test_app(servers, servers.demo_database("citymgmt_concurrency"), redis_db=5)


def _user(name: str) -> User:
    user = db.session().execute(select(User).where(User.username == name)).scalar_one()
    return user


def _new_case(app: Flask, category: str) -> tuple[int, int]:
    with app.app_context():
        settings = app.extensions["citymgmt.settings"]
        report = Report(category_code=category, lon=116.3906, lat=39.9158, description="并发测试")
        case = report_case(db.session(), _user("inspector"), report, None, MONDAY_0930, settings).case
        assert case.status == "dispatched" and case.department_code == "110101-sanitation"
        ids = case.id, case.version
        db.session.commit()
        db.session.remove()
    return ids


def _lock_waiters(app: Flask) -> int:
    """How many backends of the app's database wait on a lock (a row another transaction holds)."""
    import psycopg

    from citymgmt.core.scheduler import libpq_conninfo

    with psycopg.connect(libpq_conninfo(app.config["SQLALCHEMY_DATABASE_URI"]), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def _together(app: Flask, work: Callable[[], Any] | list[Callable[[], Any]], count: int = 2) -> list[Any]:
    """Run `work` in `count` threads (or each of a list of works in a thread) released at the same instant, each in
    its own app context and transaction. A thread that has done its work keeps its transaction open until every
    other thread has either done its own or is waiting on a lock in PostgreSQL (seen in pg_stat_activity): the race
    is really run, whatever the machine's speed. Their results or exceptions."""
    works = work if isinstance(work, list) else [work] * count
    count = len(works)
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    arrived: list[int] = []

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                results[i] = works[i]()
                arrived.append(i)
                if not wait_until(lambda: len(arrived) + _lock_waiters(app) >= count, 20):
                    raise AssertionError("the other transactions neither finished nor waited on a lock")
                db.session.commit()
            except Exception as exc:
                arrived.append(i)
                db.session.rollback()
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_handlers_acting_at_once_exactly_one_wins(own_app: Flask) -> None:
    case_id, version = _new_case(own_app, "E0102")
    settings = own_app.extensions["citymgmt.settings"]

    def handle() -> str:
        actor = _user("handler-110101-sanitation")
        act(db.session(), case_id, "handle", actor, version, {"note": "已处理"}, MONDAY_0930, settings)
        return "ok"

    results = _together(own_app, handle)
    assert sorted(type(r).__name__ if isinstance(r, Exception) else r for r in results) == ["Conflict", "ok"]
    conflict = next(r for r in results if isinstance(r, Conflict))
    assert conflict.kind == Kind.conflict and conflict.code == "stale_version"
    with own_app.app_context():
        handled = db.session().execute(
            text("SELECT count(*) FROM case_events WHERE case_id = :id AND action = 'handle'"), {"id": case_id}
        )
        assert handled.scalar_one() == 1
        db.session.remove()


def test_sweeps_running_at_once_escalate_once(own_app: Flask) -> None:
    case_id, _ = _new_case(own_app, "E0104")  # another category: not a duplicate of the first test's
    late = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 in Beijing: overdue since 11:30

    results = _together(own_app, lambda: sweep(db.session(), late).summary(), count=3)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r["overdue"] for r in results) >= 1
    with own_app.app_context():
        events = db.session().execute(
            text(
                "SELECT action, count(*) FROM case_events WHERE case_id = :id AND action IN ('overdue', 'escalate')"
                " GROUP BY action"
            ),
            {"id": case_id},
        )
        assert dict(events.all()) == {"overdue": 1, "escalate": 1}
        db.session.remove()


def test_a_sweep_and_a_move_of_the_same_case_at_once_neither_deadlocks(own_app: Flask) -> None:
    """The sweep locks the case before its clock, as the workflow does (its clock follows by a trigger), so the two
    wait for each other instead of deadlocking; afterwards the case and its clock agree. The handler takes the case
    first and changes its clock only once the sweep is under way: the order that deadlocks if the sweep took the
    clock first."""
    case_id, version = _new_case(own_app, "E0105")  # another category again
    settings = own_app.extensions["citymgmt.settings"]
    late = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a week on: overdue, whichever step's clock it is
    locked = threading.Event()
    results: dict[str, Any] = {}

    def run(name: str, work: Callable[[], Any]) -> None:
        with own_app.app_context():
            try:
                results[name] = work()
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                results[name] = exc
            finally:
                db.session.remove()

    def handle() -> str:
        session = db.session()
        session.execute(text("SELECT id FROM cases WHERE id = :id FOR UPDATE"), {"id": case_id})
        locked.set()
        assert wait_until(lambda: _lock_waiters(own_app) >= 1, 20)  # the sweep has started and waits on the case
        actor = _user("handler-110101-sanitation")  # the handled step starts a clock of its own
        act(session, case_id, "handle", actor, version, {"note": "已处理"}, MONDAY_0930, settings)
        session.flush()
        return "handled"

    def sweep_after() -> dict[str, int]:
        assert locked.wait(10)
        return sweep(db.session(), late).summary()

    threads = [threading.Thread(target=run, args=a) for a in (("handle", handle), ("sweep", sweep_after))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["handle"] == "handled" and isinstance(results["sweep"], dict), results
    with own_app.app_context():
        row = (
            db.session()
            .execute(
                text(
                    "SELECT c.status, (c.warn_at, c.due_at, c.light) IS NOT DISTINCT FROM"
                    " (k.warn_at, k.due_at, k.light)"
                    " FROM cases c JOIN case_clocks k ON k.case_id = c.id WHERE c.id = :id"
                ),
                {"id": case_id},
            )
            .one()
        )
        assert tuple(row) == ("checking", True)  # handled, and on to the centre's check at once
        db.session.remove()
