"""Two people (or two sweeps) at the same moment on one case, in separate transactions on a database of their own:
exactly one wins, the other is refused cleanly, and nothing happens twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db
from citymgmt.core.errors import Conflict
from citymgmt.core.identity import User
from dispatch.intake import Report, report_case
from dispatch.sla import sweep
from dispatch.workflow import act
from tests.conftest import make_test_app

MONDAY_0930 = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def own_app(servers) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    """The demo city in a database of this module's own, where transactions really commit."""
    from flask_migrate import upgrade

    from citymgmt.demo import load_demo

    app = make_test_app(servers, servers.create_database("citymgmt_concurrency"), redis_db=5)
    with app.app_context():
        upgrade()
        load_demo(db.session(), SystemClock().now(), progress=lambda m: None)
        db.session.commit()
        db.session.remove()
    yield app


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


def _together(app: Flask, work: Callable[[], Any], count: int = 2) -> list[Any]:
    """Run `work` in `count` threads released at the same instant, each in its own app context and transaction
    (held open a moment after the work, so the others really wait on it); their results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                results[i] = work()
                time.sleep(0.3)
                db.session.commit()
            except Exception as exc:
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
    assert conflict.status == 409 and conflict.code == "stale_version"
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
