"""The revisions of what each process caches from the database (routing rules, the working calendar), read together
in one round trip at most once per transaction: a report needs both, and this runs on every report."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from citymgmt.core.db import driver

SQL = (
    "SELECT (SELECT coalesce(max(revision), 0) FROM routing_rules),"
    " (SELECT coalesce(max(revision), 0) FROM calendar_days)"
)
WITH_NUMBER_SQL = SQL.replace("SELECT ", "SELECT nextval('case_number_seq'), ", 1)
MEMO = "citymgmt.revisions"


@dataclass(frozen=True)
class Revisions:
    rules: int
    calendar: int


def revisions(session: Session) -> Revisions:
    """The highest committed (or, in this transaction, written) revisions; writers call `forget` after writing."""
    transaction = session.get_transaction()
    memo = session.info.get(MEMO)
    if transaction is not None and memo is not None and memo[0] is transaction:
        known: Revisions = memo[1]
        return known
    row = driver(session).execute(SQL, prepare=True).fetchone()
    assert row is not None
    found = Revisions(int(row[0]), int(row[1]))
    session.info[MEMO] = (session.get_transaction(), found)
    return found


def revisions_and_case_number(session: Session) -> tuple[Revisions, int]:
    """The revisions as `revisions` gives them, and the next case number, in one round trip (intake needs both)."""
    row = (
        driver(session).execute(f"SELECT nextval('case_number_seq'), {SQL[len('SELECT ') :]}", prepare=True).fetchone()
    )
    assert row is not None
    found = Revisions(int(row[1]), int(row[2]))
    session.info[MEMO] = (session.get_transaction(), found)
    return found, int(row[0])


def forget(session: Session) -> None:
    """After writing rules or calendar days: the next `revisions` reads them again."""
    session.info.pop(MEMO, None)
