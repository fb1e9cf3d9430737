"""Departments (专业部门 / 处置单位): who fixes what. Handlers belong to one; cases, rules and components point at
them. Nothing is deleted: a department is retired, and "a live department" is `LIVE` here, nowhere else. The kinds a
department may be are configuration (`Settings.department_kinds`, CITYMGMT_DEPARTMENT_KINDS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.db import Timestamped, db


class Department(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # zh-CN
    name_en: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    # The district it serves, or none for a city-wide department (a utility).
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    # A street office serves its street.
    street_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    # The department it answers to (a bureau's section, a utility's branch), or none.
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def live(self) -> bool:
        """`LIVE` for a loaded row."""
        return self.retired_at is None


LIVE: ColumnElement[bool] = Department.retired_at.is_(None)  # a live department: not retired


def is_live(session: Session, code: str) -> bool:
    """Whether a live department has this code."""
    return session.execute(select(Department.code).where(Department.code == code, LIVE)).first() is not None


def liveness(session: Session) -> dict[str, bool]:
    """Every department's code and whether it is live (retired ones too, to tell "retired" from "unknown")."""
    return {code: bool(live) for code, live in session.execute(select(Department.code, LIVE))}


def live_codes(session: Session) -> set[str]:
    return set(session.execute(select(Department.code).where(LIVE)).scalars())


def live_departments(session: Session) -> list[Department]:
    """The live departments, by code (the ones a case may be dispatched to)."""
    return list(session.execute(select(Department).where(LIVE).order_by(Department.code)).scalars())


def retire_departments(session: Session, codes: list[str], now: datetime) -> int:
    """Retire these departments (never deleted: cases, rules and handlers keep pointing at them); how many were live."""
    rows = session.execute(select(Department).where(Department.code.in_(codes), LIVE)).scalars().all()
    for row in rows:
        row.retired_at = now
    return len(rows)
