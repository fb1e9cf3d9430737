"""Accounts in bulk (`citymgmt users import FILE`): a CSV of users, created all or nothing, each through
`create_user` (the one owner of what an account must be), every bad row named by line and field.

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

from sqlalchemy.orm import Session

from citymgmt.core.audit import record
from citymgmt.core.csvfiles import checked_reader
from citymgmt.core.errors import DomainError, ValidationError
from citymgmt.core.identity import Role, create_user, handler_username

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
        password = row.get("password") or _generated(username)
        try:
            user = create_user(
                session,
                username,
                password,
                roles,
                row.get("display_name") or None,
                department,
                row.get("phone") or None,
            )
        except DomainError as exc:
            field = next((_FIELD_OF[k] for k in (exc.details or {}) if k in _FIELD_OF), "row")
            problems[f"line {line}: {field}"] = exc.message
            continue
        record(
            session,
            "user.create",
            user.username,
            now,
            roles=list(user.roles),
            department=user.department_code,
            display_name=user.display_name,
            source=source,
            password="generated" if not row.get("password") else "from the file",
        )
        created.append(Created(user.username, tuple(user.roles), None if row.get("password") else password))
    if problems:
        raise ValidationError(f"{len(problems)} of {len(rows)} rows refused; no account was created", details=problems)
    record(session, "user.import", source, now, created=len(created))
    return created
