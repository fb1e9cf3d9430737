"""Users, their roles and their credentials: who is calling, and what they are.

Roles are DOMAIN.md §2's. A user may hold several (in a small centre the shift leader also dispatches). Handlers
belong to a department. Passwords are hashed with Argon2id. Credentials are random secrets stored only as SHA-256,
which expire and can be revoked; one table holds both kinds: bearer tokens for API clients (`api`) and browser
sessions (`browser`, whose secret lives in the signed session cookie; see citymgmt.core.sessions). A secret of one
kind never works as the other. Nothing is deleted: users are deactivated, credentials revoked.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row
from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core import departments
from citymgmt.core.config import PASSWORD_HASH_PROFILES
from citymgmt.core.db import Timestamped, attach_row, db, driver
from citymgmt.core.errors import Conflict, DomainError, Kind, ValidationError
from citymgmt.core.queries import credential_sql


class Role(enum.StrEnum):
    inspector = "inspector"  # 监督员
    operator = "operator"  # 受理员
    leader = "leader"  # 值班长
    dispatcher = "dispatcher"  # 派遣员
    handler = "handler"  # 处置人员 (of a department)
    supervisor = "supervisor"  # 领导
    admin = "admin"


ALL_ROLES = tuple(Role)
# The role groups, defined here once (DOMAIN.md §2); code elsewhere names a group, never lists its roles again.
CENTRE_STAFF = (Role.operator, Role.leader, Role.dispatcher)  # work the centre's desk
RECEPTION = (Role.operator, Role.leader)  # accept, verify, merge and send to the check (受理)
INTAKE_STAFF = (*CENTRE_STAFF, Role.admin)  # enter reports for the public and the hotline
OVERSEERS = (*CENTRE_STAFF, Role.supervisor, Role.admin)  # read every case and the routing rules
TOKEN_TTL = timedelta(hours=12)
# Argon2id cost profiles (argon2-cffi's): RFC 9106's low-memory recommendation, the library's default, for every real
# system; the cheapest parameters only where passwords protect nothing (the test suite), refused in production.
_HASHERS = {
    name: PasswordHasher.from_parameters(parameters)
    for name, parameters in zip(PASSWORD_HASH_PROFILES, (profiles.RFC_9106_LOW_MEMORY, profiles.CHEAPEST), strict=True)
}
# A real hash per profile to verify against when the user does not exist, so the answer takes as long either way.
_DUMMY_HASHES: dict[str, str] = {}
USERNAME_MAX = 40  # users.username's length
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10


class Unauthenticated(DomainError):
    kind = Kind.unauthenticated
    code = "unauthorized"


class User(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "roles <@ ARRAY['inspector','operator','leader','dispatcher','handler','supervisor','admin']::varchar[]"
            " AND cardinality(roles) > 0",
            name="known_roles",
        ),
        CheckConstraint("NOT ('handler' = ANY(roles)) OR department_code IS NOT NULL", name="handler_department"),
    )

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


class TokenKind(enum.StrEnum):
    api = "api"  # Authorization: Bearer, for API clients
    browser = "browser"  # a signed-in browser: the session cookie holds the secret


class ApiToken(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default=TokenKind.api, server_default=TokenKind.api.value)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_api_tokens_live", "expires_at", postgresql_where=text("revoked_at IS NULL")),
        CheckConstraint("kind IN ('api', 'browser')", name="known_kind"),
    )


def _profile() -> str:
    from flask import current_app, has_app_context

    if has_app_context():
        return str(current_app.extensions["citymgmt.settings"].password_hash_profile)
    return "rfc9106-low-memory"


def password_hasher() -> PasswordHasher:
    """The Argon2id hasher of the current app's profile (CITYMGMT_PASSWORD_HASH_PROFILE)."""
    return _HASHERS[_profile()]


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def _dummy_hash() -> str:
    profile = _profile()
    if profile not in _DUMMY_HASHES:
        _DUMMY_HASHES[profile] = _HASHERS[profile].hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[profile]


def handler_username(department_code: str) -> str:
    """The conventional account of a department's handlers, `handler-<code>`, within the 40 characters a username
    may have: a longer one keeps the code's start and adds 6 hex digits of its SHA-256, so that two long codes with
    the same start still get two names. Lowercase, as every username is."""
    name = f"handler-{department_code}".lower()
    if len(name) <= USERNAME_MAX:
        return name
    digest = hashlib.sha256(department_code.encode()).hexdigest()[:6]
    return f"{name[: USERNAME_MAX - 7].rstrip('._-')}-{digest}"


def check_password_strength(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", details={"password": "too short"})
    if username and username.lower() in password.lower():
        raise ValidationError("password must not contain the username", details={"password": "contains username"})


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: list[str],
    display_name: str | None = None,
    department_code: str | None = None,
    phone: str | None = None,
) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise ValidationError(
            "username must be 2-40 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
            details={"username": username},
        )
    unknown = sorted(set(roles) - {r.value for r in Role})
    if not roles or unknown:
        raise ValidationError(f"roles must be among {', '.join(ALL_ROLES)}", details={"roles": unknown or "none given"})
    if display_name is not None and len(display_name) > 100:
        raise ValidationError("a display name has at most 100 characters", details={"display_name": "too long"})
    if phone is not None and len(phone) > 40:
        raise ValidationError("a phone number has at most 40 characters", details={"phone": "too long"})
    if Role.handler in roles and not department_code:
        raise ValidationError("a handler belongs to a department", details={"department": "required for handler"})
    if department_code is not None and not departments.is_live(session, department_code):
        raise ValidationError(f"no department {department_code}", details={"department": department_code})
    check_password_strength(password, username)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username} exists", details={"username": username}, code="account_exists")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        roles=sorted(set(roles), key=list(Role).index),
        department_code=department_code,
        phone=phone,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user with these credentials, or Unauthenticated (the same message whatever was wrong)."""
    user = session.execute(select(User).where(User.username == username.strip().lower())).scalar_one_or_none()
    hasher = password_hasher()
    try:
        hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("wrong username or password") from None
    if user is None or not user.active:
        raise Unauthenticated("wrong username or password")
    if hasher.check_needs_rehash(user.password_hash):  # hashed under another profile: re-hashed under this one
        user.password_hash = hasher.hash(password)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, now: datetime, ttl: timedelta = TOKEN_TTL, kind: TokenKind = TokenKind.api
) -> tuple[str, ApiToken]:
    """A new secret (returned once, never stored in clear) and its row."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, kind=kind, token_hash=_digest(token), expires_at=now + ttl, last_used_at=now)
    session.add(row)
    session.flush()
    return token, row


# One round trip for both rows, a prepared statement on the driver: this runs on every signed-in request.
_TOKEN_COLUMNS = tuple(c.name for c in ApiToken.__table__.columns)
_USER_COLUMNS = tuple(c.name for c in User.__table__.columns)
_CREDENTIAL_SQL = credential_sql(_TOKEN_COLUMNS, _USER_COLUMNS)


def live_credential(session: Session, token: str, kind: TokenKind, now: datetime) -> tuple[User, ApiToken] | None:
    """The active user and the unrevoked, unexpired row of this secret and kind, or None."""
    found = (
        driver(session)
        .execute(_CREDENTIAL_SQL, {"token_hash": _digest(token), "kind": str(kind)}, prepare=True, row_factory=dict_row)
        .fetchone()
    )
    if found is None:
        return None
    row = attach_row(session, ApiToken, {c: found[f"token_{c}"] for c in _TOKEN_COLUMNS})
    user = attach_row(session, User, {c: found[f"user_{c}"] for c in _USER_COLUMNS})
    if row.expires_at <= now or not user.active:
        return None
    return user, row


def user_for_token(session: Session, token: str, now: datetime) -> tuple[User, ApiToken]:
    found = live_credential(session, token, TokenKind.api, now)
    if found is None:
        raise Unauthenticated("the token is invalid, expired or revoked: sign in again")
    return found


def revoke_token(session: Session, row: ApiToken, now: datetime) -> None:
    row.revoked_at = now


def revoke_all_tokens(session: Session, user: User, now: datetime) -> int:
    """Revoke every bearer token and browser session of the user (new password, deactivation)."""
    tokens = session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalars()
    count = 0
    for t in tokens:
        t.revoked_at = now
        count += 1
    return count
