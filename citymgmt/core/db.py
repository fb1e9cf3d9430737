"""The database handle and the model base every package shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

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


class Timestamped:
    """created_at/updated_at kept by the database, in UTC."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def driver(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's, inside its transaction: for the few statements on the hot path
    (intake, auth) that run often enough for prepared statements (`prepare=True`) and no ORM round trip to pay."""
    raw: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    return raw
