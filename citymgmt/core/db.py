"""The database handle and the model base every package shares."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from flask import g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, MetaData, event, func, inspect, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, make_transient_to_detached, mapped_column
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key

from citymgmt.core.queries import READ_AT_SCALE_SQL

# Constraint names are deterministic so that migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
M = TypeVar("M")
T = TypeVar("T")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """The one way every entry point (HTTP request, RQ job, periodic job, the scheduler's relay, CLI command) opens
    its transaction: yields the real Session of the current app context (never the scoped proxy), commits when the
    block ends, rolls back if it raises. Domain functions take this Session and never commit."""
    session = db.session()
    if not isinstance(session, Session):  # pragma: no cover - db.session() always builds a Session
        raise TypeError(f"unit_of_work needs a Session, got {type(session).__name__}")
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def read_at_scale(session: Session) -> None:
    """For the rest of the session's transaction: statements planned for their values each time, without JIT
    (`READ_AT_SCALE_SQL`): the reads whose plan depends on what the values select (the work queues, the case list,
    the analyses), run again and again on one connection."""
    session.execute(text(READ_AT_SCALE_SQL))


REPLICA = "replica"  # the bind key of the read replica (CITYMGMT_REPLICA_URL)
_READS = "citymgmt_reads"


def reads() -> Session:
    """The session for reads that may be a moment behind (the big screen, the metrics): on the streaming replica
    when one is configured, else the request's own session. It never writes: the replica refuses writes, and on the
    primary it is the request's transaction, which commits only what the request itself wrote."""
    engine = db.engines.get(REPLICA)
    if engine is None:
        return db.session()
    found = g.get(_READS)
    if found is None:
        found = Session(bind=engine)
        setattr(g, _READS, found)
    return found


def close_reads(exc: BaseException | None = None) -> None:
    """At the end of the app context: the replica session's transaction ended, its connection back in the pool."""
    found = g.pop(_READS, None)
    if found is not None:
        found.close()


def real_session(session: Any) -> Session:
    """`session` itself if it is a Session; refuses the scoped proxy (`db.session`), which lacks the transaction
    API (get_transaction) that the per-transaction memos and the driver rely on."""
    if not isinstance(session, Session):
        raise TypeError(
            f"expected a Session, got {type(session).__name__}: open the transaction with citymgmt.core.db.unit_of_work"
        )
    return session


def transaction_memo(session: Session, key: str, build: Callable[[], T], tag: object = None) -> T:
    """A value kept for the rest of the session's current transaction (the one place such memos live): `build()`
    runs at most once per transaction and `tag`; `forget_memo` drops it early (after writing what it was built from)."""
    real_session(session)
    found = session.info.get(key)
    transaction = session.get_transaction()
    if transaction is not None and found is not None and found[0] is transaction and found[1] == tag:
        value: T = found[2]
        return value
    value = build()
    remember_memo(session, key, value, tag)
    return value


def remember_memo(session: Session, key: str, value: Any, tag: object = None) -> None:
    """Keep a value read some other way for the rest of the current transaction (see transaction_memo)."""
    transaction = session.get_transaction()
    if transaction is not None:
        session.info[key] = (transaction, tag, value)


def forget_memo(session: Session, key: str) -> None:
    session.info.pop(key, None)


class Timestamped:
    """created_at/updated_at kept by the database, in UTC."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Driver:
    """The psycopg connection under a session's, inside its transaction, for the few statements on the hot path
    (intake, auth) that run often enough for prepared statements (`prepare=True`) and no ORM to pay. Its errors
    reach the caller as SQLAlchemy's would: a DBAPIError, and on a lost connection the connection invalidated and the
    pool renewed (the API answers 503 and the next request gets a fresh connection)."""

    def __init__(self, session: Session, raw: psycopg.Connection[Any]) -> None:
        self.session, self.raw = session, raw

    def execute(
        self, query: str, params: Any = None, *, prepare: bool | None = None, row_factory: Any = None
    ) -> psycopg.Cursor[Any]:
        try:
            cursor = self.raw.cursor(row_factory=row_factory) if row_factory else self.raw.cursor()
            return cursor.execute(query, params, prepare=prepare)
        except psycopg.Error as exc:
            connection = self.session.connection()
            lost = connection.dialect.is_disconnect(exc, self.raw, None) or self.raw.closed  # type: ignore[arg-type]
            if lost:
                connection.invalidate(exc)
                connection.engine.dispose(close=False)  # the pool's other connections are likely gone too
            raise DBAPIError.instance(query, params, exc, psycopg.Error, connection_invalidated=lost) from exc


def driver(session: Session) -> Driver:
    """The session's Driver for its current transaction (the same transaction, so the same connection:
    session.connection() costs more than a query)."""

    def build() -> Driver:
        raw: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
        return Driver(session, raw)

    return transaction_memo(session, _DRIVER, build)


_DRIVER = "citymgmt.driver"


# A pooled connection idle this long is pinged before use (a restarted PostgreSQL costs no failed request); one in
# steady use is not (a ping is a round trip: under load it would be one more per request). A connection that breaks
# between two close uses fails its request with 503 and the pool is renewed (citymgmt.core.errors).
PING_AFTER_IDLE_S = 2.0
_CHECKED_IN = "citymgmt.checked_in"


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """SQLAlchemy's pessimistic disconnect handling (a ping on checkout, a DisconnectionError to get another
    connection), for connections that sat in the pool longer than `idle_s` only."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < idle_s:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: this connection is not usable; the pool tries another
            raise DisconnectionError(f"ping failed: {exc.__class__.__name__}") from exc


def attach_row(session: Session, model: type[M], values: dict[str, Any]) -> M:
    """The session's object for a row read on the driver (all its columns, plain types): the one already in the
    session, or a new one attached as if the ORM had loaded it (no query, no pending change)."""
    found = session.identity_map.get(identity_key(model, values["id"]))
    if found is not None:  # refreshed from the row (it may have been expired by a commit): no load
        for name, value in values.items():
            set_committed_value(found, name, value)
        return found
    obj = loaded_instance(model, values)
    session.add(obj)
    return obj


_ATTRIBUTES: dict[Any, frozenset[str]] = {}  # each mapper's attribute names, read once


def loaded_instance(model: type[M], values: dict[str, Any]) -> M:
    """A detached instance of `model` holding these column values as if the ORM had loaded them: their state set
    directly, as SQLAlchemy's loader does, instead of through the constructor, whose per-attribute change events cost
    about 1 µs a column (the hot paths build a few of these on every request). An unknown name is refused, as the
    constructor would refuse it; nothing of the models runs on construction (none defines `__init__`, validators or
    mutable types)."""
    mapper = inspect(model)
    known = _ATTRIBUTES.get(mapper)
    if known is None:
        known = _ATTRIBUTES[mapper] = frozenset(mapper.attrs.keys())
    unknown = values.keys() - known
    if unknown:
        raise TypeError(f"{model.__name__} has no attribute {', '.join(sorted(unknown))}")
    obj: M = mapper.class_manager.new_instance()
    instance_state(obj).dict.update(values)
    make_transient_to_detached(obj)
    return obj
