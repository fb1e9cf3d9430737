"""Test infrastructure: throwaway PostgreSQL+PostGIS and Redis for the session, the schema migrated once, each test
in a transaction rolled back at its end, a Redis database flushed per test, and queued jobs run in-process.

Nothing here touches the servers of `make run`: the suite starts its own under a temporary directory, so it runs
while the system is up in this or another checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask.ctx import AppContext
from flask.testing import FlaskClient
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import orm
from werkzeug.serving import WSGIRequestHandler, make_server

from citymgmt import create_app
from citymgmt.core import outbox
from citymgmt.core.clock import FixedClock
from citymgmt.core.db import db
from citymgmt.core.identity import ALL_ROLES, create_user
from citymgmt.core.queue import QUEUES, get_queue
from citymgmt.core.worker import CitymgmtWorker
from citymgmt.local import EmbeddedPostgres, EmbeddedRedis

REPO = Path(__file__).resolve().parent.parent
# A developer's configuration file (./citymgmt.env, or the one CITYMGMT_CONFIG names) must not reach the suite: its
# apps, and every process it starts (the live stack, workers, `make run`), read the environment alone, as given.
os.environ["CITYMGMT_CONFIG"] = "none"
TEMPLATE = "citymgmt_template"  # migrated once; every other test database is a copy of it
DEMO_TEMPLATE = (
    "citymgmt_demo_template"  # the template with the demo city loaded, for tests with a database of their own
)


class TestServers:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.apps: list[Flask] = []  # every app made on these servers, so their pools close before the servers
        self.postgres = EmbeddedPostgres(root / "pg", ephemeral=True)
        self.redis = EmbeddedRedis(root / "redis", ephemeral=True)
        self._template_ready = False
        self._demo_ready = False

    def up(self) -> None:
        self.postgres.up()
        self.redis.up()

    def down(self) -> None:
        for app in self.apps:
            with app.app_context():
                for engine in db.engines.values():  # the primary's and a replica's (a bind)
                    engine.dispose()
        with contextlib.suppress(Exception):
            self.redis.down()
        with contextlib.suppress(Exception):
            self.postgres.down()
        shutil.rmtree(self.root, ignore_errors=True)

    def migrated_database(self, name: str) -> str:
        """A fresh database with the whole schema, cloned from one template migrated once per test session
        (CREATE DATABASE ... TEMPLATE: a file copy, instead of running every migration again); its URL."""
        import psycopg
        from flask_migrate import upgrade

        if not self._template_ready:
            template = make_test_app(self, self.create_database(TEMPLATE))
            with template.app_context():
                upgrade()
                db.engine.dispose()
            self._template_ready = True
        with psycopg.connect(self.postgres.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return self.postgres.url(name)

    def demo_database(self, name: str) -> str:
        """A fresh database with the whole schema and the demo city (loaded once into a second template, today's
        dates), for tests whose transactions must really commit; its URL."""
        import psycopg

        from citymgmt.core.clock import SystemClock
        from citymgmt.demo import load_demo

        if not self._demo_ready:
            demo = make_test_app(self, self.migrated_database(DEMO_TEMPLATE))
            with demo.app_context():
                load_demo(db.session(), SystemClock().now(), progress=lambda message: None)
                db.session.commit()
                db.session.remove()
                db.engine.dispose()
            self._demo_ready = True
        with psycopg.connect(self.postgres.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{DEMO_TEMPLATE}"')
        return self.postgres.url(name)

    def create_database(self, name: str) -> str:
        """A fresh database with PostGIS in the test cluster; returns its SQLAlchemy URL."""
        import psycopg

        from citymgmt.local.postgres import ensure_postgis

        with psycopg.connect(self.postgres.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        ensure_postgis(self.postgres.conninfo(name))
        return self.postgres.url(name)


_BODY = "tests.response_body"


class _ClosingHandler(WSGIRequestHandler):
    """werkzeug's handler, closing the response body when the client hangs up. Its run_wsgi drains the request socket
    before it closes the body (PEP 3333: the server must call close()), and that read raises on a connection the
    browser reset (a page moving on while a static file is sent), so a file response stays open until the garbage
    collector warns. gunicorn, the server of production, closes the body in every case."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        body = (environ or {}).get(_BODY)
        if body is not None:
            body.close()


class _ClosedOnce:
    """The app's response body, closed at most once (by the server as usual, or by the handler on a hang-up)."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if hasattr(self.body, "close"):
                self.body.close()


def _keeping_body(app: Flask) -> Callable[..., Any]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[_BODY] = body = _ClosedOnce(app(environ, start_response))
        return body

    return wsgi


@contextlib.contextmanager
def serve(app: Flask, name: str = "live-server") -> Iterator[str]:
    """The app served by werkzeug on a free loopback port in a thread of this process; yields its base URL."""
    server = make_server("127.0.0.1", 0, _keeping_body(app), threaded=True, request_handler=_ClosingHandler)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def servers() -> Iterator[TestServers]:
    root = Path(tempfile.mkdtemp(prefix="citymgmt-test-"))
    s = TestServers(root)
    try:
        s.up()
        yield s
    finally:
        s.down()


def make_test_app(servers: TestServers, database_url: str, redis_db: int = 1, **overrides: Any) -> Flask:
    settings = {
        "env": "test",
        "database_url": database_url,
        "redis_url": servers.redis.url(db=redis_db),
        "var_dir": servers.root / "var",
        "secret_key": "test-secret",
        "password_hash_profile": "cheapest",  # passwords here protect nothing; sign-in goes the same way
    }
    settings.update(overrides)
    app = create_app(settings)
    servers.apps.append(app)
    return app


@pytest.fixture(scope="session")
def database_url(servers: TestServers) -> str:
    return servers.migrated_database("citymgmt_test")


@pytest.fixture(scope="session")
def app(servers: TestServers, database_url: str) -> Iterator[Flask]:
    """The app of the suite, on a copy of the template the migrations built (which tests them too)."""
    yield make_test_app(servers, database_url)


@pytest.fixture
def clock(app: Flask) -> Iterator[FixedClock]:
    from datetime import UTC, datetime

    fixed = FixedClock(datetime(2026, 11, 23, 1, 30, tzinfo=UTC))  # Monday 09:30 in Beijing, in working hours
    original = app.extensions["citymgmt.clock"]
    app.extensions["citymgmt.clock"] = fixed
    yield fixed
    app.extensions["citymgmt.clock"] = original


@pytest.fixture
def app_ctx(app: Flask, clock: FixedClock) -> Iterator[AppContext]:
    with app.app_context() as ctx:
        yield ctx


@pytest.fixture
def db_session(app_ctx: AppContext) -> Iterator[orm.Session]:
    """Everything the test (and the app under test) does, in one transaction rolled back at the end.

    The app's commits become savepoint releases, so a test sees committed state without keeping it.
    """
    connection = db.engine.connect()
    transaction = connection.begin()
    original = db.session
    # One Session object for the whole test, as in production one per unit of work: when the app removes it (after
    # a job, at the end of an app context) it is closed, its objects detached, and the next unit gets it back clean.
    # Two sessions would interleave savepoints on the one connection.
    the_session = orm.Session(bind=connection, join_transaction_mode="create_savepoint")
    db.session = orm.scoped_session(lambda: the_session, scopefunc=_app_ctx_id)
    try:
        yield db.session()
    finally:
        db.session.remove()
        db.session = original
        transaction.rollback()
        connection.close()


@pytest.fixture
def redis(app: Flask) -> Iterator[redis_lib.Redis]:
    """The app's Redis database, empty at the start of every test."""
    connection: redis_lib.Redis = app.extensions["citymgmt.redis"]
    connection.flushdb()
    yield connection
    failed = failed_jobs(connection)
    connection.flushdb()
    if failed:
        pytest.fail("jobs failed in this test (clear_failed_jobs() where that is what it tests):\n" + "\n".join(failed))


def failed_jobs(connection: redis_lib.Redis) -> list[str]:
    """Every job in a failed-job registry, with the last line of its error."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    found = []
    for name in QUEUES:
        for job_id in FailedJobRegistry(name, connection=connection).get_job_ids():
            job = Job.fetch(job_id, connection=connection)
            result = job.latest_result()
            error = (result.exc_string or "").strip().splitlines()[-1:] if result else []
            found.append(f"{job_id}: {error[0] if error else '?'}")
    return found


def clear_failed_jobs(connection: redis_lib.Redis) -> list[str]:
    """The failed jobs (as failed_jobs), removed from their registries: for tests of a failure."""
    from rq.registry import FailedJobRegistry

    found = failed_jobs(connection)
    for name in QUEUES:
        registry = FailedJobRegistry(name, connection=connection)
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    return found


@pytest.fixture
def client(app: Flask, db_session: orm.Session, redis: redis_lib.Redis):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def run_jobs(db_session: orm.Session, redis: redis_lib.Redis, clock: FixedClock) -> Callable[[], int]:
    """Relay the outbox as the scheduler does and run every queued job as `citymgmt worker` does (the same worker
    class with its RQ scheduler, which moves due retries into the queues, in burst mode); return how much work was
    queued: a job each, the rows of a batch of outbox rows (notices) each."""

    batch = f"{outbox.run_batch.__module__}.{outbox.run_batch.__qualname__}"

    def run() -> int:
        waiting = 0
        while True:  # as the scheduler does, again while it holds rows back (their queue full enough)
            relayed = outbox.relay_pending(redis, clock.now())
            queues = [get_queue(q, connection=redis) for q in QUEUES]
            waiting += sum(len(j.args[0]) if j.func_name == batch else 1 for q in queues for j in q.get_jobs())
            CitymgmtWorker(queues, connection=redis).work(burst=True, with_scheduler=True)
            if not relayed.held:
                return waiting

    return run


@pytest.fixture(scope="session")
def beijing(app: Flask) -> Iterator[None]:
    """The demo city (Dongcheng and Xicheng grids, departments, accounts), loaded once and kept for the session."""
    from citymgmt.core.clock import SystemClock
    from citymgmt.demo import demo_loaded, load_demo

    with app.app_context():
        session = db.session()
        if not demo_loaded(session):
            load_demo(session, SystemClock().now(), progress=lambda message: None)
            session.commit()
        db.session.remove()
    yield


# -- users of every role, and signing in as them ------------------------------------------------------------

PASSWORD = "a-good-long-password"


@pytest.fixture
def department(db_session) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    db_session.execute(
        text(
            "INSERT INTO departments (code, name, name_en, kind) VALUES ('t-water', '测试供水', 'Test water', 'water')"
        )
    )
    db_session.commit()  # set-up is committed data: a refused request's rollback must not take it
    return "t-water"


@pytest.fixture
def make_user(db_session, department: str) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def make(username: str, *roles: str) -> Any:
        dept = department if "handler" in roles else None
        user = create_user(db_session, username, PASSWORD, list(roles), department_code=dept)
        db_session.commit()  # set-up is committed data: a refused request's rollback must not take it
        return user

    return make


@pytest.fixture
def users(make_user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {role: make_user(f"t-{role}", role) for role in ALL_ROLES}


@pytest.fixture
def token_for(client: FlaskClient, users) -> Callable[[str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """Authorization headers of a freshly signed-in user of the role."""

    def sign_in(role: str) -> dict[str, str]:
        response = client.post("/api/v1/auth/token", json={"username": f"t-{role}", "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    return sign_in
