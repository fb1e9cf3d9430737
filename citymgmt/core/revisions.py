"""The revisions of what each process caches from the database (routing rules, the working calendar), read together
in one round trip at most once per transaction: a report needs both, and this runs on every report."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from citymgmt.core.db import driver, forget_memo, remember_memo, transaction_memo

COLUMNS = (
    "(SELECT coalesce(max(revision), 0) FROM routing_rules), (SELECT coalesce(max(revision), 0) FROM calendar_days)"
)
SQL = f"SELECT {COLUMNS}"
MEMO = "citymgmt.revisions"


@dataclass(frozen=True)
class Revisions:
    rules: int
    calendar: int


def revisions(session: Session) -> Revisions:
    """The highest committed (or, in this transaction, written) revisions; writers call `forget` after writing."""

    def read() -> Revisions:
        row = driver(session).execute(SQL, prepare=True).fetchone()
        assert row is not None
        return Revisions(int(row[0]), int(row[1]))

    return transaction_memo(session, MEMO, read)


def remember(session: Session, rules: int, calendar: int) -> Revisions:
    """Revisions read by another statement (intake reads them with its first), for the rest of the transaction."""
    found = Revisions(int(rules), int(calendar))
    remember_memo(session, MEMO, found)
    return found


def forget(session: Session) -> None:
    """After writing rules or calendar days: the next `revisions` reads them again."""
    forget_memo(session, MEMO)
