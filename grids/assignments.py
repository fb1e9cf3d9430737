"""Inspectors' beats (责任网格): which cells each inspector patrols, as a history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citymgmt.core.errors import NotFound, ValidationError
from citymgmt.core.identity import Role, User
from grids.queries import (
    ASSIGN_CELLS_SQL,
    BEAT_OF_SQL,
    COUNT_PREFIXED_CELLS_SQL,
    INSPECTORS_OF_SQL,
    UNASSIGN_CELLS_SQL,
)


def _inspector(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise NotFound(f"no active user {username}")
    if not user.has_role(Role.inspector):
        raise ValidationError(f"{username} is not an inspector", details={"username": username})
    return user


def assign_cells(session: Session, username: str, code_prefixes: list[str], now: datetime) -> int:
    """Give the inspector every live cell whose code starts with one of the prefixes (a cell, community,
    street or district code); return how many cells were newly assigned."""
    user = _inspector(session, username)
    bad = [p for p in code_prefixes if not (p.isdigit() and len(p) in (6, 9, 12, 15))]
    if not code_prefixes or bad:
        raise ValidationError(
            "give cell (15 digits), community (12), street (9) or district (6) codes", details={"codes": bad}
        )
    matched = session.execute(text(COUNT_PREFIXED_CELLS_SQL), {"prefixes": code_prefixes}).scalar_one()
    if matched == 0:
        raise NotFound("no live cells with these codes", details={"codes": code_prefixes})
    return session.execute(
        text(ASSIGN_CELLS_SQL),
        {"user_id": user.id, "prefixes": code_prefixes, "now": now},
    ).rowcount  # type: ignore[attr-defined]


def unassign_cells(session: Session, username: str, code_prefixes: list[str], now: datetime) -> int:
    user = _inspector(session, username)
    return session.execute(
        text(UNASSIGN_CELLS_SQL),
        {"user_id": user.id, "prefixes": code_prefixes, "now": now},
    ).rowcount  # type: ignore[attr-defined]


def inspectors_of(session: Session, cell_code: str) -> list[str]:
    """Usernames of the inspectors whose beat includes the cell now."""
    return list(session.execute(text(INSPECTORS_OF_SQL), {"code": cell_code}).scalars())


def beat_of(session: Session, username: str) -> list[str]:
    user = _inspector(session, username)
    return list(session.execute(text(BEAT_OF_SQL), {"u": user.id}).scalars())
