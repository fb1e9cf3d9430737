"""Accounts: one created and audited (`create_account`), in bulk (`citymgmt users import FILE`: a CSV of users,
created all or nothing, each through `create_user`, the one owner of what an account must be, every bad row named by
line and field), a password set anew or an account deactivated (never deleted), each audited; the command line and
the admin's pages (/admin/accounts) both go through these.

Columns: `username`, `display_name`, `role` (one or more, separated by spaces, `;` or `|`), `department`, `password`,
`phone`; `username` and `role` must be there. An empty password is generated (returned once, to be handed over; only
its hash is kept). A handler's empty username is the department's conventional `handler-<code>`.
"""

from __future__ import annotations

import csv
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from citymgmt.core.audit import record
from citymgmt.core.csvfiles import checked_reader
from citymgmt.core.errors import Conflict, DomainError, NotFound, ValidationError
from citymgmt.core.identity import (
    USERNAME,
    Role,
    User,
    check_password_strength,
    create_user,
    handler_username,
    hash_password,
    revoke_all_tokens,
)

COLUMNS = ("username", "display_name", "role", "department", "password", "phone")
REQUIRED = ("username", "role")
MAX_ROWS = 10_000


@dataclass(frozen=True)
class Created:
    username: str
    roles: tuple[str, ...]
    generated_password: str | None  # only when generated: shown once, never stored in clear


def _generated(username: str) -> str:
    while True:
        password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
        if username not in password.lower():
            return password


def read_user_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = checked_reader(text, REQUIRED, COLUMNS, "users")
    rows = []
    try:
        for record_ in reader:
            values = {k: (v or "").strip() for k, v in record_.items() if isinstance(k, str) and v is not None}
            if any(values.values()):
                rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise ValidationError(f"not valid CSV at line {reader.line_num}: {exc}", details={"file": "CSV"}) from None
    if not rows:
        raise ValidationError("the file holds no users", details={"file": "empty"})
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"at most {MAX_ROWS} users a file", details={"file": f"{len(rows)} rows"})
    return rows


# The field a refusal of create_user is about, from the keys of its details.
_FIELD_OF = {
    "username": "username",
    "roles": "role",
    "department": "department",
    "password": "password",
    "display_name": "display_name",
    "phone": "phone",
}


def import_users(session: Session, rows: list[tuple[int, dict[str, str]]], now: datetime, source: str) -> list[Created]:
    """Create every row's account in the caller's transaction, or raise ValidationError naming each bad row by line
    and field (the caller's rollback then leaves nothing)."""
    problems: dict[str, str] = {}
    created: list[Created] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        roles = [r for r in re.split(r"[\s;|,]+", row.get("role", "")) if r]
        department = row.get("department") or None
        username = row.get("username", "").lower()
        if not username and Role.handler in roles and department:
            username = handler_username(department)
        if username in seen:
            problems[f"line {line}: username"] = f"{username} repeats line {seen[username]}"
            continue
        seen[username] = line
        try:
            created.append(
                create_account(
                    session,
                    username,
                    row.get("password") or None,
                    roles,
                    now,
                    source,
                    row.get("display_name") or None,
                    department,
                    row.get("phone") or None,
                )
            )
        except DomainError as exc:
            field = next((_FIELD_OF[k] for k in (exc.details or {}) if k in _FIELD_OF), "row")
            problems[f"line {line}: {field}"] = exc.message
    if problems:
        raise ValidationError(f"{len(problems)} of {len(rows)} rows refused; no account was created", details=problems)
    record(session, "user.import", source, now, created=len(created))
    return created


def list_accounts(
    session: Session, query: str, offset: int, limit: int, active_only: bool = False
) -> tuple[list[User], int]:
    """Accounts by username (deactivated ones too unless `active_only`: their history stays theirs), those whose
    username, name or department contains `query`; one page of them and how many there are."""
    conditions: list[ColumnElement[bool]] = []
    if active_only:
        conditions.append(User.deactivated_at.is_(None))
    text_ = query.strip().lower()
    if text_:
        pattern = "%" + text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                User.username.like(pattern),
                func.lower(User.display_name).like(pattern),
                func.lower(User.department_code).like(pattern),
            )
        )
    total = session.execute(select(func.count()).select_from(User).where(*conditions)).scalar_one()
    rows = session.execute(select(User).where(*conditions).order_by(User.username).offset(offset).limit(limit))
    return list(rows.scalars()), int(total)


def account(session: Session, username: str) -> User:
    """The account of this username, or NotFound."""
    name = username.strip().lower()
    user = None
    if USERNAME.match(name):  # no other text is a username (nor reaches the database)
        user = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username.strip().lower()[:40]}", details={"username": username[:40]})
    return user


def create_account(
    session: Session,
    username: str,
    password: str | None,
    roles: list[str],
    now: datetime,
    source: str,
    display_name: str | None = None,
    department_code: str | None = None,
    phone: str | None = None,
) -> Created:
    """One account (`create_user` checks it), audited; without a password one is generated and returned once."""
    chosen = password or _generated(username.strip().lower())
    user = create_user(session, username, chosen, roles, display_name, department_code, phone)
    record(
        session,
        "user.create",
        user.username,
        now,
        roles=list(user.roles),
        department=user.department_code,
        display_name=user.display_name,
        source=source,
        password="given" if password else "generated",
    )
    return Created(user.username, tuple(user.roles), None if password else chosen)


def set_password(session: Session, username: str, password: str | None, now: datetime, source: str) -> tuple[str, int]:
    """A new password for a live account (generated when none is given): every token and browser session of the
    account is revoked, so whoever had it is signed out at once. Returns the password when generated (shown once;
    only its hash is kept) or "", and how many tokens were revoked."""
    user = account(session, username)
    if not user.active:
        raise Conflict(
            f"user {user.username} is deactivated", details={"username": user.username}, code="account_deactivated"
        )
    chosen = password or _generated(user.username)
    check_password_strength(chosen, user.username)
    user.password_hash = hash_password(chosen)
    revoked = revoke_all_tokens(session, user, now)
    record(
        session,
        "user.set_password",
        user.username,
        now,
        tokens_revoked=revoked,
        source=source,
        password="given" if password else "generated",
    )
    return ("" if password else chosen), revoked


def deactivate_account(session: Session, username: str, now: datetime, source: str, actor: User | None = None) -> int:
    """Stop an account from signing in (kept, with its history): its tokens and browser sessions are revoked.
    An admin may not deactivate their own account from a page (nobody would be left to undo it). Returns how many
    tokens were revoked."""
    user = account(session, username)
    if actor is not None and actor.id == user.id:
        raise Conflict(
            "you cannot deactivate your own account", details={"username": user.username}, code="own_account"
        )
    if not user.active:
        raise Conflict(
            f"user {user.username} is already deactivated",
            details={"username": user.username},
            code="account_deactivated",
        )
    user.deactivated_at = now
    revoked = revoke_all_tokens(session, user, now)
    record(session, "user.deactivate", user.username, now, tokens_revoked=revoked, source=source)
    return revoked
