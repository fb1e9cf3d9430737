"""The revisions of what each process caches from the database (routing rules, the working calendar), read together
in one round trip at most once per transaction: a report needs both, and this runs on every report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from sqlalchemy.orm import Session

from citymgmt.core.db import driver, forget_memo, remember_memo, transaction_memo
from citymgmt.core.queries import REVISION_COLUMNS, REVISIONS_SQL

# The revisions as named columns, for a hot statement that reads them with its own work (intake's first); `remember`
# takes them back by these names.
COLUMNS = REVISION_COLUMNS
MEMO = "citymgmt.revisions"


@dataclass(frozen=True)
class Revisions:
    rules: int
    calendar: int


def revisions(session: Session) -> Revisions:
    """The highest committed (or, in this transaction, written) revisions; writers call `forget` after writing."""

    def read() -> Revisions:
        row = driver(session).execute(REVISIONS_SQL, prepare=True, row_factory=dict_row).fetchone()
        assert row is not None
        return _of(row)

    return transaction_memo(session, MEMO, read)


def _of(row: Mapping[str, Any]) -> Revisions:
    return Revisions(int(row["rules_revision"]), int(row["calendar_revision"]))


def remember(session: Session, row: Mapping[str, Any]) -> Revisions:
    """Revisions read by another statement with COLUMNS (intake reads them with its first), by name, for the rest
    of the transaction."""
    found = _of(row)
    remember_memo(session, MEMO, found)
    return found


def forget(session: Session) -> None:
    """After writing rules or calendar days: the next `revisions` reads them again."""
    forget_memo(session, MEMO)
