"""Departments as data (专业部门): a city's own departments imported from a file, created, changed and retired by an
admin, every change audited. The model and the rule of "a live department" are the kernel's
(`citymgmt.core.departments`); this feature checks and writes them.

An import is all or nothing: every row is checked first, and one bad row refuses the whole file, each problem named
by line and field, with the totals. Rows of existing departments update them; a retired department's code is not
taken again (its history keeps the old meaning). Channels in the file are added when the department has no live
channel of that kind and address; channels not in the file are left as they are (`citymgmt notify channels`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import any_, func, literal, select
from sqlalchemy.orm import Session

from citymgmt.core.audit import record
from citymgmt.core.departments import LIVE, Department
from citymgmt.core.errors import Conflict, NotFound, ValidationError
from citymgmt.core.identity import User
from dispatch.cases.models import OPEN_STATES, Case
from dispatch.notifications.operations import CASE_EVENTS, channel_problems, create_channel, live_channels
from dispatch.routing.rules import RoutingRule
from grids.models import Area, AreaLevel

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
# The department's own fields, as the file and the API name them → the model's attribute.
FIELDS = {
    "name": "name",
    "name_en": "name_en",
    "kind": "kind",
    "district": "district_code",
    "street": "street_code",
    "parent": "parent_code",
    "phone": "phone",
}
LENGTHS = {"name": 100, "name_en": 100, "phone": 40}


@dataclass(frozen=True)
class ChannelSpec:
    kind: str  # email | webhook
    target: str
    secret: str | None = None
    events: tuple[str, ...] = CASE_EVENTS


@dataclass
class DepartmentSpec:
    code: str
    values: dict[str, str | None]  # the model's attributes (FIELDS' values)
    channels: list[ChannelSpec] = field(default_factory=list)
    given: frozenset[str] = frozenset(FIELDS.values())  # the attributes the row names: an update changes only these


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    created: int
    updated: int
    unchanged: int
    channels_added: int


@dataclass(frozen=True)
class RetireSummary:
    code: str
    open_cases: int  # still with the department: the dispatcher re-dispatches them
    rules: int  # live rules naming it, which no longer match
    handlers: int  # active handler accounts of it


# -- checking ----------------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A scalar as stripped text (YAML gives numbers for codes like 110101), None when empty."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected text")
    text = str(value).strip()
    return text or None


def _parse_channel(item: Any) -> ChannelSpec:
    """One channel: `email:ADDRESS`, `webhook:URL SECRET`, or a mapping {email|webhook, secret?, events?}."""
    if isinstance(item, str):
        kind, sep, rest = item.strip().partition(":")
        if not sep or kind.strip() not in ("email", "webhook"):
            raise ValueError(f"{item.strip()!r}: expected email:ADDRESS or webhook:URL SECRET")
        if kind.strip() == "email":
            return ChannelSpec("email", rest.strip())
        url, _, secret = rest.strip().partition(" ")
        return ChannelSpec("webhook", url.strip(), secret.strip() or None)
    if isinstance(item, dict):
        kinds = [k for k in ("email", "webhook") if k in item]
        unknown = set(item) - {"email", "webhook", "secret", "events"}
        if len(kinds) != 1 or unknown:
            raise ValueError("expected {email: ADDRESS} or {webhook: URL, secret: KEY}, optionally events")
        events = item.get("events", list(CASE_EVENTS))
        if isinstance(events, str):
            events = [e.strip() for e in events.split(",")]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ValueError("events: expected a list of events")
        key = item.get("secret")
        return ChannelSpec(kinds[0], str(item[kinds[0]] or "").strip(), str(key) if key else None, tuple(events))
    raise ValueError("expected email:ADDRESS or webhook:URL SECRET")


def _channels(value: Any) -> list[ChannelSpec]:
    if value is None or value == "":
        return []
    items = [p for p in value.split(";") if p.strip()] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("expected a list of channels")
    channels = []
    for item in items:
        channel = _parse_channel(item)
        problems = channel_problems(channel.kind, channel.target, channel.events, channel.secret)
        if problems:
            raise ValueError(f"{channel.kind} {channel.target}: " + "; ".join(f"{k} {v}" for k, v in problems.items()))
        channels.append(channel)
    return channels


@dataclass
class _Context:
    """What the rows are checked against, read once for the whole file."""

    kinds: Sequence[str]
    existing: dict[str, Department]
    areas: dict[str, tuple[AreaLevel, str | None]]  # live areas named by the rows: level and parent


def _context(session: Session, rows: Iterable[dict[str, Any]], kinds: Sequence[str]) -> _Context:
    named: set[str] = set()
    for row in rows:
        for key in ("district", "street"):
            try:
                value = _text(row.get(key))
            except ValueError:
                continue
            if value:
                named.add(value)
    areas = {
        code: (level, parent)
        for code, level, parent in session.execute(
            select(Area.code, Area.level, Area.parent_code).where(Area.code.in_(named), Area.retired_at.is_(None))
        )
    }
    existing = {d.code: d for d in session.execute(select(Department)).scalars()}
    return _Context(kinds, existing, areas)


def _check_values(row: dict[str, Any], ctx: _Context) -> tuple[dict[str, str | None], dict[str, str]]:
    """A row's department fields as the model's attributes, and its problems (field → what is wrong)."""
    problems: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for name, attribute in FIELDS.items():
        try:
            values[attribute] = _text(row.get(name))
        except ValueError as exc:
            problems[name] = str(exc)
    for name, limit in LENGTHS.items():
        value = values.get(FIELDS[name])
        if value is not None and len(value) > limit:
            problems[name] = f"at most {limit} characters"
    if not values.get("name") and "name" not in problems:
        problems["name"] = "required"
    if values.get("name") and not values.get("name_en"):
        values["name_en"] = values["name"]  # a city with one language names it once
    kind = values.get("kind")
    if not kind:
        problems.setdefault("kind", "required")
    elif kind not in ctx.kinds:
        problems["kind"] = (
            f"{kind} is not a kind of department here ({', '.join(ctx.kinds)}; CITYMGMT_DEPARTMENT_KINDS)"
        )
    district, street = values.get("district_code"), values.get("street_code")
    if district is not None and ctx.areas.get(district, (None,))[0] != AreaLevel.district:
        problems["district"] = f"no live district {district}"
    if street is not None:
        level, parent = ctx.areas.get(street, (None, None))
        if level != AreaLevel.street:
            problems["street"] = f"no live street {street}"
        elif district is None:
            values["district_code"] = parent  # a street office serves its street, in its district
        elif parent != district:
            problems["street"] = f"street {street} is not in district {district}"
    return values, problems


def check_rows(
    session: Session, rows: Sequence[tuple[int, dict[str, Any]]], kinds: Sequence[str]
) -> tuple[list[DepartmentSpec], dict[str, str]]:
    """Every row checked: the departments they describe, and each problem as `line N: field` → what is wrong."""
    ctx = _context(session, (r for _, r in rows), kinds)
    specs: list[DepartmentSpec] = []
    problems: dict[str, str] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        found: dict[str, str] = {}
        unknown = sorted(k for k in row if k not in (*FIELDS, "code", "channels"))
        if unknown:
            found["columns"] = f"unknown {', '.join(map(str, unknown))}"
        try:
            code = _text(row.get("code")) or ""
        except ValueError as exc:
            code, found["code"] = "", str(exc)
        if "code" not in found:
            if not CODE.match(code):
                found["code"] = "required: 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"
            elif code in seen:
                found["code"] = f"{code} repeats line {seen[code]}"
            elif code in ctx.existing and not ctx.existing[code].live:
                found["code"] = f"department {code} is retired; a retired code is not used again"
        seen.setdefault(code, line)
        values, value_problems = _check_values(row, ctx)
        found.update(value_problems)
        try:
            channels = _channels(row.get("channels"))
        except ValueError as exc:
            channels, found["channels"] = [], str(exc)
        problems.update({f"line {line}: {name}": message for name, message in found.items()})
        given = {FIELDS[k] for k in row if k in FIELDS} | ({"district_code"} if "street" in row else set())
        specs.append(DepartmentSpec(code, values, channels, frozenset(given)))
    lines = {s.code: line for s, (line, _) in zip(specs, rows, strict=True)}
    parents = {s.code: s.values.get("parent_code") for s in specs}
    for spec in specs:
        parent = spec.values.get("parent_code")
        if parent is None:
            continue
        where = f"line {lines[spec.code]}: parent"
        live = parent in parents or (parent in ctx.existing and ctx.existing[parent].live)
        if parent == spec.code:
            problems[where] = "a department is not its own parent"
        elif not live:
            problems[where] = f"no live department {parent} (in the file or already here)"
        elif _cycle(spec.code, parents, ctx.existing):
            problems[where] = f"{spec.code} would answer to itself through {parent}"
    return specs, problems


def _cycle(code: str, parents: dict[str, str | None], existing: dict[str, Department]) -> bool:
    seen = {code}
    current = parents.get(code)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents[current] if current in parents else getattr(existing.get(current), "parent_code", None)
    return False


def _refusal(problems: dict[str, str], rows: int) -> ValidationError:
    bad = len({key.partition(":")[0] for key in problems})
    return ValidationError(
        f"{bad} of {rows} rows refused ({len(problems)} problems); nothing was written",
        details=dict(sorted(problems.items(), key=lambda kv: _line_order(kv[0]))),
    )


def _line_order(key: str) -> tuple[int, str]:
    head, _, rest = key.partition(":")
    number = head.removeprefix("line ")
    return (int(number) if number.isdigit() else 0, rest)


# -- writing -----------------------------------------------------------------------------------------------------


def import_departments(
    session: Session, rows: Sequence[tuple[int, dict[str, Any]]], kinds: Sequence[str], now: datetime, source: str
) -> ImportSummary:
    """Create or update the file's departments and add their channels, in the caller's transaction; every row
    checked first (ValidationError naming each problem by line and field: nothing is written)."""
    specs, problems = check_rows(session, rows, kinds)
    if problems:
        raise _refusal(problems, len(rows))
    existing = {d.code: d for d in session.execute(select(Department)).scalars()}
    created = updated = unchanged = channels_added = 0
    # Parents are set once every department of the file exists (a row may name one further down).
    for spec in specs:
        row = existing.get(spec.code)
        if row is None:
            session.add(Department(code=spec.code, **{**spec.values, "parent_code": None}))
            record(session, "department.create", spec.code, now, source=source, **_audited(spec.values))
            created += 1
    session.flush()
    for spec in specs:
        department = session.get(Department, spec.code)
        assert department is not None
        if spec.code in existing:
            changes = _apply(department, spec.values, spec.given)
            if changes:
                record(session, "department.update", spec.code, now, source=source, changes=changes)
                updated += 1
            else:
                unchanged += 1
        else:
            department.parent_code = spec.values.get("parent_code")
        channels_added += _add_channels(session, spec, now, source)
    session.flush()
    summary = ImportSummary(len(specs), created, updated, unchanged, channels_added)
    record(session, "department.import", source, now, **summary.__dict__)
    return summary


def _audited(values: dict[str, str | None]) -> dict[str, str | None]:
    return {name: values.get(attribute) for name, attribute in FIELDS.items()}


def _apply(department: Department, values: dict[str, str | None], given: Iterable[str]) -> dict[str, list[str | None]]:
    """Set the changed fields of those given; return them as field → [old, new]."""
    changes: dict[str, list[str | None]] = {}
    for name, attribute in FIELDS.items():
        if attribute not in given:
            continue
        old, new = getattr(department, attribute), values.get(attribute)
        if old != new:
            changes[name] = [old, new]
            setattr(department, attribute, new)
    return changes


def _add_channels(session: Session, spec: DepartmentSpec, now: datetime, source: str) -> int:
    have = {(c.kind, c.target) for c in live_channels(session, spec.code)}
    added = 0
    for channel in spec.channels:
        if (channel.kind, channel.target) in have:
            continue
        create_channel(session, channel.kind, channel.target, spec.code, channel.events, channel.secret, now, source)
        have.add((channel.kind, channel.target))
        added += 1
    return added


def _one(session: Session, body: dict[str, Any], kinds: Sequence[str]) -> DepartmentSpec:
    """One department's fields checked as a file's row is, its problems named by field alone."""
    specs, problems = check_rows(session, [(0, body)], kinds)
    if problems:
        raise ValidationError(
            "the department is not valid", details={key.removeprefix("line 0: "): v for key, v in problems.items()}
        )
    return specs[0]


def create_department(
    session: Session, body: dict[str, Any], kinds: Sequence[str], now: datetime, source: str
) -> Department:
    """A new department (and its channels), or ValidationError/Conflict naming the field."""
    code = body.get("code")
    if isinstance(code, str) and session.get(Department, code.strip()) is not None:
        raise Conflict(f"department {code.strip()} exists", details={"code": code.strip()})
    spec = _one(session, body, kinds)
    department = Department(code=spec.code, **spec.values)
    session.add(department)
    session.flush()
    record(session, "department.create", spec.code, now, source=source, **_audited(spec.values))
    _add_channels(session, spec, now, source)
    return department


def update_department(
    session: Session, code: str, changes: dict[str, Any], kinds: Sequence[str], now: datetime, source: str
) -> Department:
    """Change some of a live department's fields (those not given stay)."""
    department = live_department(session, code)
    current = {name: getattr(department, attribute) for name, attribute in FIELDS.items()}
    if "district" in changes and "street" not in changes and changes["district"] != department.district_code:
        current["street"] = None  # moved to another district: no longer a street's office unless it says so
    spec = _one(session, {**current, **changes, "code": code}, kinds)
    applied = _apply(department, spec.values, spec.given)
    if applied:
        session.flush()
        record(session, "department.update", code, now, source=source, changes=applied)
    return department


def live_department(session: Session, code: str) -> Department:
    department = session.execute(select(Department).where(Department.code == code, LIVE)).scalar_one_or_none()
    if department is None:
        raise NotFound(f"no live department {code}", details={"code": code})
    return department


def retire_department(session: Session, code: str, now: datetime, source: str) -> RetireSummary:
    """Retire a live department (kept, with its history): routing sends nothing more to it. Refused while live
    departments answer to it. Says what still points at it: open cases, live rules and active handlers."""
    department = live_department(session, code)
    children = sorted(session.execute(select(Department.code).where(Department.parent_code == code, LIVE)).scalars())
    if children:
        raise Conflict(
            f"{len(children)} live departments answer to {code} ({', '.join(children[:10])}): retire them or give"
            " them another parent first",
            details={"children": ", ".join(children)},
        )
    department.retired_at = now
    open_cases = session.execute(
        select(func.count()).select_from(Case).where(Case.department_code == code, Case.status.in_(OPEN_STATES))
    ).scalar_one()
    rules = session.execute(
        select(func.count())
        .select_from(RoutingRule)
        .where(RoutingRule.retired_at.is_(None), RoutingRule.target["department"].astext == code)
    ).scalar_one()
    handlers = session.execute(
        select(func.count())
        .select_from(User)
        .where(User.department_code == code, User.deactivated_at.is_(None), literal("handler") == any_(User.roles))
    ).scalar_one()
    summary = RetireSummary(code, int(open_cases), int(rules), int(handlers))
    record(session, "department.retire", code, now, source=source, **summary.__dict__)
    session.flush()
    return summary


def list_departments(session: Session, include_retired: bool = False) -> list[Department]:
    """The departments by code; live ones only unless asked."""
    query = select(Department).order_by(Department.code)
    if not include_retired:
        query = query.where(LIVE)
    return list(session.execute(query).scalars())
