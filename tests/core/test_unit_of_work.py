"""The unit of work every entry point opens: the real Session, committed at the end of the block, rolled back if it
raises; and the scoped proxy refused wherever a Session is needed (what killed the periodic sweep once)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.db import db, driver, transaction_memo, unit_of_work


def test_a_unit_of_work_commits_or_rolls_back(db_session: Session) -> None:
    db_session.execute(text("CREATE TEMPORARY TABLE uow (note text)"))
    db_session.commit()
    with unit_of_work() as session:
        assert type(session) is Session and session is db_session
        session.execute(text("INSERT INTO uow VALUES ('kept')"))
    with pytest.raises(RuntimeError), unit_of_work() as session:
        session.execute(text("INSERT INTO uow VALUES ('lost')"))
        raise RuntimeError("the job failed")
    assert db_session.execute(text("SELECT note FROM uow")).scalars().all() == ["kept"]


def test_the_scoped_proxy_is_refused_with_a_clear_error(db_session: Session) -> None:
    with pytest.raises(TypeError, match="expected a Session, got scoped_session: open the transaction with"):
        driver(db.session)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scoped_session"):
        transaction_memo(db.session, "x", lambda: 1)  # type: ignore[arg-type]


def test_a_memo_lasts_one_transaction(db_session: Session) -> None:
    built: list[int] = []

    def build() -> int:
        built.append(1)
        return len(built)

    db_session.execute(text("SELECT 1"))
    assert transaction_memo(db_session, "t", build) == transaction_memo(db_session, "t", build) == 1
    db_session.commit()
    db_session.execute(text("SELECT 1"))
    assert transaction_memo(db_session, "t", build) == 2  # a new transaction builds it again
