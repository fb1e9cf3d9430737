"""The category taxonomy (管理部件和事件分类) as versioned reference data: never code constants, because editions
renumber classes. One version is current; cases keep the version their category came from.

Codes carry the family: `C0102` is component (部件) class 0102, `E0102` event (事件) class 0102 (the standard
numbers both families from 0101). Major classes are `C01`, `E05`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.db import attach_row, db, driver
from citymgmt.core.errors import NotFound, ValidationError
from dispatch.taxonomy.queries import MINOR_FROM as MINOR_FROM  # published for intake's first statement
from dispatch.taxonomy.queries import minor_columns, minor_sql

LIMIT_TYPES = ("urgent_hours", "working_hours", "working_days", "natural_days")  # DOMAIN.md §5
URGENCIES = ("urgent", "normal")
FAMILIES = ("component", "event")
MAJOR = re.compile(r"^[CE][0-9]{2}$")
MINOR = re.compile(r"^[CE][0-9]{4}$")


class TaxonomyVersion(db.Model):  # type: ignore[name-defined]
    __tablename__ = "taxonomy_versions"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    effective_from: Mapped[date] = mapped_column(Date)
    current: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("uq_taxonomy_versions_current", "current", unique=True, postgresql_where=text("current")),)


class Category(db.Model):  # type: ignore[name-defined]
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_code: Mapped[str] = mapped_column(ForeignKey("taxonomy_versions.code"))
    code: Mapped[str] = mapped_column(String(10))
    family: Mapped[str] = mapped_column(String(10))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    filing_criteria: Mapped[str | None] = mapped_column(Text)
    closing_criteria: Mapped[str | None] = mapped_column(Text)
    # [{"urgency": "urgent"|"normal", "amount": 2, "type": one of LIMIT_TYPES}]
    time_limits: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)

    __table_args__ = (
        UniqueConstraint("version_code", "code"),
        CheckConstraint("family IN ('component', 'event')", name="family"),
        CheckConstraint(
            "(level = 'major' AND code ~ '^[CE][0-9]{2}$' AND parent_code IS NULL)"
            " OR (level = 'minor' AND code ~ '^[CE][0-9]{4}$' AND parent_code = left(code, 3))",
            name="code_matches_level",
        ),
    )


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def check_taxonomy(doc: Any) -> list[Problem]:
    """Every problem of a taxonomy document, so that a file is fixed in one go."""
    problems: list[Problem] = []
    if not isinstance(doc, dict):
        return [Problem("document", "must be a JSON object")]
    for key in ("version", "effective_from", "categories"):
        if key not in doc:
            problems.append(Problem("document", f"missing {key}"))
    if not _named(doc):
        problems.append(Problem("document", "missing name (or name_en)"))
    if problems:
        return problems
    if not re.match(r"^[a-z0-9._-]{1,40}$", str(doc["version"])):
        problems.append(Problem("version", "1-40 lowercase letters, digits, '.', '_' or '-'"))
    try:
        date.fromisoformat(str(doc["effective_from"]))
    except ValueError:
        problems.append(Problem("effective_from", "must be a date, YYYY-MM-DD"))
    seen: set[str] = set()
    majors = {
        c.get("code"): c.get("time_limits")
        for c in doc["categories"]
        if isinstance(c, dict) and c.get("level") == "major"
    }
    for i, c in enumerate(doc["categories"]):
        where = f"categories[{i}]" + (f" ({c.get('code')})" if isinstance(c, dict) and c.get("code") else "")
        if not isinstance(c, dict):
            problems.append(Problem(where, "must be an object"))
            continue
        code, level, family = c.get("code"), c.get("level"), c.get("family")
        if level not in ("major", "minor"):
            problems.append(Problem(where, "level must be major or minor"))
            continue
        if family not in FAMILIES:
            problems.append(Problem(where, "family must be component or event"))
        pattern = MAJOR if level == "major" else MINOR
        if not isinstance(code, str) or not pattern.match(code):
            shape = "C or E and 2 digits" if level == "major" else "C or E and 4 digits"
            problems.append(Problem(where, f"code must be {shape}"))
            continue
        if (code[0] == "C") != (family == "component"):
            problems.append(Problem(where, "codes of components start with C, of events with E"))
        if code in seen:
            problems.append(Problem(where, "code repeated"))
        seen.add(code)
        if not _named(c):
            problems.append(Problem(where, "missing name (or name_en)"))
        for key in ("name", "name_en"):
            if key in c and not isinstance(c[key], str):
                problems.append(Problem(where, f"{key} must be text"))
        if level == "major" and c.get("time_limits") is not None:
            # The default of its minor classes that give none.
            problems.extend(_check_limits(where, c["time_limits"], "a major class's time_limits are not empty"))
        if level == "minor":
            if code[:3] not in majors:
                problems.append(Problem(where, f"major class {code[:3]} is not in the file"))
            elif c.get("time_limits") is None and majors[code[:3]] is not None:
                continue  # its major class's limits
            problems.extend(_check_limits(where, c.get("time_limits")))
    return problems


def _named(item: dict[str, Any]) -> bool:
    """A name in either language: a city outside China may give name_en alone (and a Chinese one name alone)."""
    return any(isinstance(item.get(k), str) and item[k].strip() for k in ("name", "name_en"))


def _names(item: dict[str, Any]) -> tuple[str, str]:
    """(name, name_en), the one not given being the other."""
    name = item.get("name") if isinstance(item.get("name"), str) and item["name"].strip() else None
    name_en = item.get("name_en") if isinstance(item.get("name_en"), str) and item["name_en"].strip() else None
    return (name or name_en or "").strip(), (name_en or name or "").strip()


def _check_limits(
    where: str, limits: Any, missing: str = "a minor class needs time_limits (its own, or its major class's)"
) -> list[Problem]:
    if not isinstance(limits, list) or not limits:
        return [Problem(where, missing)]
    problems = []
    urgencies = []
    for limit in limits:
        if not isinstance(limit, dict):
            problems.append(Problem(where, "each time limit is an object"))
            continue
        if limit.get("urgency") not in URGENCIES:
            problems.append(Problem(where, f"urgency must be one of {', '.join(URGENCIES)}"))
        if limit.get("type") not in LIMIT_TYPES:
            problems.append(Problem(where, f"limit type must be one of {', '.join(LIMIT_TYPES)}"))
        amount = limit.get("amount")
        if not isinstance(amount, int | float) or isinstance(amount, bool) or not 0 < amount <= 1000:
            problems.append(Problem(where, "amount must be a number above 0 (at most 1000)"))
        urgencies.append(limit.get("urgency"))
    if "normal" not in urgencies:
        problems.append(Problem(where, "every class needs a normal time limit"))
    if len(urgencies) != len(set(urgencies)):
        problems.append(Problem(where, "an urgency is given twice"))
    return problems


def load_taxonomy(session: Session, path: Path, make_current: bool = True) -> tuple[str, int]:
    """Load (or reload: upsert by code) a taxonomy version from a JSON file; refuse it whole if anything is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{path}: not a readable JSON file ({exc})") from None
    problems = check_taxonomy(doc)
    if problems:
        raise ValidationError(
            f"{path}: taxonomy refused, nothing was changed ({len(problems)} problem(s)):\n"
            + "\n".join(f"  {p}" for p in problems[:50]),
            details={"problems": [str(p) for p in problems]},
        )
    version = doc["version"]
    name, name_en = _names(doc)
    session.execute(
        insert(TaxonomyVersion)
        .values(code=version, name=name, name_en=name_en, effective_from=date.fromisoformat(doc["effective_from"]))
        .on_conflict_do_update(index_elements=[TaxonomyVersion.code], set_={"name": name, "name_en": name_en})
    )
    defaults = {c["code"]: c.get("time_limits") for c in doc["categories"] if c["level"] == "major"}
    rows = [
        {
            "version_code": version,
            "code": c["code"],
            "family": c["family"],
            "level": c["level"],
            "parent_code": c.get("parent") if c["level"] == "minor" else None,
            "name": _names(c)[0],
            "name_en": _names(c)[1],
            "filing_criteria": c.get("filing_criteria"),
            "closing_criteria": c.get("closing_criteria"),
            # A minor class without limits of its own takes its major class's (copied: a case reads its category's).
            "time_limits": c.get("time_limits") or (c["level"] == "minor" and defaults.get(c["code"][:3])) or [],
            "keywords": c.get("keywords", []),
        }
        for c in doc["categories"]
    ]
    for row in rows:
        if row["level"] == "minor":
            row["parent_code"] = row["code"][:3]
    statement = insert(Category).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Category.version_code, Category.code],
            set_={
                k: statement.excluded[k]
                for k in (
                    "family",
                    "level",
                    "parent_code",
                    "name",
                    "name_en",
                    "filing_criteria",
                    "closing_criteria",
                    "time_limits",
                    "keywords",
                )
            },
        )
    )
    if make_current:
        session.execute(update(TaxonomyVersion).where(TaxonomyVersion.current).values(current=False))
        session.execute(update(TaxonomyVersion).where(TaxonomyVersion.code == version).values(current=True))
    return version, len(rows)


def current_version(session: Session) -> str:
    version = session.execute(select(TaxonomyVersion.code).where(TaxonomyVersion.current)).scalar_one_or_none()
    if version is None:
        raise NotFound("no taxonomy loaded: run citymgmt taxonomy load FILE (or citymgmt demo load)")
    return version


def current_categories(session: Session) -> list[Category]:
    """Every category (major and minor classes) of the current taxonomy, by code; none before one is loaded."""
    current = select(TaxonomyVersion.code).where(TaxonomyVersion.current).scalar_subquery()
    return list(
        session.execute(select(Category).where(Category.version_code == current).order_by(Category.code)).scalars()
    )


def search_categories(
    session: Session, q: str | None = None, family: str | None = None, version: str | None = None, limit: int = 200
) -> list[Category]:
    """Categories of a version (default: the current one) whose code starts with `q` or whose zh/en name or
    keywords contain it; major classes first, then by code."""
    version = version or current_version(session)
    query = select(Category).where(Category.version_code == version)
    if family:
        query = query.where(Category.family == family)
    if q:
        needle = q.strip()
        query = query.where(
            or_(
                Category.code.startswith(needle.upper(), autoescape=True),
                Category.name.icontains(needle, autoescape=True),
                Category.name_en.icontains(needle, autoescape=True),
                func.array_to_string(Category.keywords, " ").icontains(needle, autoescape=True),
            )
        )
    return list(session.execute(query.order_by(Category.family, Category.code).limit(limit)).scalars())


# Every report looks its category up: a prepared statement on the driver (queries.py). Its columns are named (the
# version as taxonomy_version, the category's as category_<column>), also for intake's first statement, which reads
# them with its own work (MINOR_COLUMNS and MINOR_FROM, published for it) and hands the row back by name.
_CATEGORY_COLUMNS = tuple(c.name for c in Category.__table__.columns)
MINOR_COLUMNS = minor_columns(_CATEGORY_COLUMNS)
MINOR_SQL = minor_sql(MINOR_COLUMNS)


def minor_category(session: Session, code: str) -> Category:
    """The minor class with this code in the current taxonomy, or ValidationError naming category_code."""
    code = code.strip().upper()
    row = driver(session).execute(MINOR_SQL, {"category_code": code}, prepare=True, row_factory=dict_row).fetchone()
    return minor_category_of_row(session, code, row)


def minor_category_of_row(session: Session, code: str, row: Mapping[str, Any] | None) -> Category:
    """minor_category's checks on a row with MINOR_COLUMNS, by name (read by MINOR_SQL, or by intake's first
    statement)."""
    if row is None:
        raise NotFound("no taxonomy loaded: run citymgmt taxonomy load FILE (or citymgmt demo load)")
    version, values = row["taxonomy_version"], {c: row[f"category_{c}"] for c in _CATEGORY_COLUMNS}
    if values["id"] is None:
        raise ValidationError(f"no category {code} in taxonomy {version}", details={"category_code": "unknown"})
    category = attach_row(session, Category, values)
    if category.level != "minor":
        raise ValidationError(
            f"{category.code} is a major class: choose one of its minor classes",
            details={"category_code": "major class"},
        )
    return category
