"""The audit trail of administration (审计日志): who changed accounts, rules, the calendar, keys and channels, when.

Each admin action writes one row in the transaction that makes the change, so the row exists exactly when the
change does. The actor is the signed-in user of a request, or `cli:<account>` for a command run on the server.
The table, like `case_events`, is append-only in the database itself: a trigger refuses UPDATE, DELETE and
TRUNCATE, whoever asks (see the migration `append_only_audit`).
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

from flask import has_request_context
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.db import db


class AuditEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_target", "target"))


def _actor() -> tuple[int | None, str]:
    if has_request_context():
        from citymgmt.core.access import current_user

        user = current_user()
        if user is not None:
            return user.id, user.username
    try:
        account = getpass.getuser()
    except (KeyError, OSError):
        account = "unknown"
    return None, f"cli:{account}"


def record(session: Session, action: str, target: str, now: datetime, **details: Any) -> AuditEntry:
    """Write one audit row into the caller's transaction (it is kept only if the change is)."""
    actor_id, actor = _actor()
    entry = AuditEntry(at=now, actor_id=actor_id, actor=actor, action=action, target=str(target)[:200], details=details)
    session.add(entry)
    return entry
