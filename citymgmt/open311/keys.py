"""Open311 API keys: one per client (a 311 app, a hotline system, FixMyStreet), each reporting as its own user.

A key is a random secret shown once and stored only as SHA-256. Its user is created with the key: an operator
account nobody can sign in as (its password is a random secret thrown away), so that cases carry a reporter, their
source is "open311" and the idempotency and visibility rules that hang on the reporter keep working. Revoking a
key keeps its row and its cases; the user is deactivated with it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.db import db
from citymgmt.core.errors import Conflict, DomainError, Kind, NotFound, ValidationError
from citymgmt.core.identity import Role, User, create_user
from dispatch.intake.operations import OPEN311_USER_PREFIX as USER_PREFIX

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
# How a client reads a request's status in the updates feed: mySociety's extended statuses (FIXED,
# ACTION_SCHEDULED, ...), or plain OPEN/CLOSED for a client that knows no more.
STATUS_STYLES = ("extended", "plain")


class InvalidKey(DomainError):
    kind = Kind.forbidden
    code = "invalid_api_key"


class Open311Key(db.Model):  # type: ignore[name-defined]
    __tablename__ = "open311_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_style: Mapped[str] = mapped_column(String(10), default="extended", server_default="extended")

    __table_args__ = (CheckConstraint("status_style IN ('extended', 'plain')", name="status_style"),)


class Open311Request(db.Model):  # type: ignore[name-defined]
    """What an Open311 POST brought beside the report: the client, its media URL (stored, never fetched), the
    address id and the service attributes as sent."""

    __tablename__ = "open311_requests"

    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cases.id"), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("open311_keys.id"))
    media_url: Mapped[str | None] = mapped_column(String(2000))
    address_id: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))

    __table_args__ = (Index("ix_open311_requests_key", "key_id"),)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, name: str, now: datetime, secret: str | None = None, status_style: str = "extended"
) -> tuple[str, Open311Key]:
    """A new key for the client `name` (returned once) and its row; `secret` only for the demo's known key."""
    _check_style(status_style)
    name = name.strip().lower()
    if not NAME.match(name):
        raise ValidationError(
            "the client name must be 2-32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
            details={"name": name},
        )
    if session.execute(select(Open311Key.id).where(Open311Key.name == name)).first():
        raise Conflict(f"an Open311 key named {name} exists (revoked keys keep their name)", details={"name": name})
    username = USER_PREFIX + name
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        user = create_user(
            session, username, secrets.token_urlsafe(32), [Role.operator], display_name=f"Open311: {name}"
        )
    else:
        user.deactivated_at = None
    secret = secret or secrets.token_urlsafe(32)
    row = Open311Key(name=name, key_hash=digest(secret), user_id=user.id, created_at=now, status_style=status_style)
    session.add(row)
    session.flush()
    return secret, row


def _check_style(style: str) -> None:
    if style not in STATUS_STYLES:
        raise ValidationError(f"the status style is one of {', '.join(STATUS_STYLES)}", details={"status_style": style})


def _named(session: Session, name: str) -> Open311Key:
    row = session.execute(select(Open311Key).where(Open311Key.name == name.strip().lower())).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no Open311 key named {name}", details={"name": name})
    return row


def set_status_style(session: Session, name: str, style: str) -> Open311Key:
    _check_style(style)
    row = _named(session, name)
    row.status_style = style
    return row


def revoke_key(session: Session, name: str, now: datetime) -> Open311Key:
    row = _named(session, name)
    if row.revoked_at is None:
        row.revoked_at = now
        user = session.get(User, row.user_id)
        if user is not None:
            user.deactivated_at = now
    return row


def reader_for_key(session: Session, key: str | None) -> Open311Key | None:
    """The live key a GET names (GETs need none: None when not given); InvalidKey for one unknown or revoked. A read
    records nothing."""
    if not key:
        return None
    row = session.execute(select(Open311Key).where(Open311Key.key_hash == digest(key))).scalar_one_or_none()
    if row is None:
        raise InvalidKey("invalid api_key received", details={"api_key": "unknown"})
    if row.revoked_at is not None:
        raise InvalidKey("this api_key has been revoked", details={"api_key": "revoked"})
    return row


def client_for_key(session: Session, key: str | None, now: datetime) -> tuple[Open311Key, User]:
    """The live key and its user; InvalidKey (403) for an unknown or revoked key, ValidationError if none."""
    row = reader_for_key(session, key)
    if row is None:
        raise ValidationError("api_key was not provided", details={"api_key": "required"})
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise InvalidKey("this api_key's account is deactivated", details={"api_key": "deactivated"})
    row.last_used_at = now
    return row, user
