"""The revisions of what each process caches from the database (routing rules, the working calendar), read together
in one round trip at most once per transaction: a report needs both, and this runs on every report."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import dict_row
from sqlalchemy.orm import Session

from citymgmt.core.db import driver, forget_memo, transaction_memo

SQL = (
    "SELECT (SELECT coalesce(max(revision), 0) FROM routing_rules) AS rules,"
    " (SELECT coalesce(max(revision), 0) FROM calendar_days) AS calendar"
)
MEMO = "citymgmt.revisions"


@dataclass(frozen=True)
class Revisions:
    rules: int
    calendar: int


def revisions(session: Session) -> Revisions:
    """The highest committed (or, in this transaction, written) revisions; writers call `forget` after writing."""

    def read() -> Revisions:
        row = driver(session).execute(SQL, prepare=True, row_factory=dict_row).fetchone()
        assert row is not None
        return Revisions(int(row["rules"]), int(row["calendar"]))

    return transaction_memo(session, MEMO, read)


def forget(session: Session) -> None:
    """After writing rules or calendar days: the next `revisions` reads them again."""
    forget_memo(session, MEMO)
