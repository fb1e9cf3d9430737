"""Routing rules (派遣规则) as data: stored in the database, imported and exported as YAML, validated by a schema.

A rule is a priority, a set of conditions (all must hold) and a target. The YAML form is the contract admins edit:

    rules:
      - code: water-covers            # the rule's own id: re-importing updates it
        name: 上水井盖 → 自来水集团
        priority: 10                  # lower first; the first matching rule wins
        when:                         # every condition is optional; all given must hold
          category: [C0101]           # category codes or prefixes (C01, E05, E0102)
          family: component           # component or event
          area: ["110101"]            # cell code prefixes: district, street, community or cell
          zone: {kind: road}          # the point lies in a live responsibility zone (of this kind and/or codes)
          urgency: urgent             # urgent or normal
          time: {weekdays: [1, 2, 3, 4, 5], from: "08:00", to: "18:00"}   # city time; from > to wraps midnight
          keywords: [漏水, 冒水]       # any of them in the description
          source: [inspector]         # inspector, public, hotline, open311
        then:                         # exactly one of department / locality / zone_owner
          department: bj-water        # this department
          locality: sanitation        # or: the department of this kind serving the case's street or district
          zone_owner: true            # or: the department owning the zone the point lies in
          urgency: urgent             # optional: the urgency when the reporter gave none
          auto_dispatch: true         # dispatch at once (default); false: suggest to the dispatcher
          auto_file: true             # optional: file on arrival whatever the source (false: never; absent: default)

Importing a file replaces the rule set in one transaction: rules in the file are inserted or updated, rules missing
from it are retired (kept, never deleted). Every change takes a new revision number, which is how each process
knows its cached rule book is stale.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import marshmallow as ma
import yaml
from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, Sequence, String, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citymgmt.core.config import DEFAULT_DEPARTMENT_KINDS, DEPARTMENT_KIND
from citymgmt.core.db import Timestamped, db
from citymgmt.core.departments import live_codes
from citymgmt.core.errors import ValidationError
from citymgmt.core.revisions import forget as forget_revisions
from citymgmt.core.revisions import revisions

FORMAT_VERSION = 1
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
CATEGORY_PREFIX = re.compile(r"^[CE]([0-9]{2}){0,2}$")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)  # ISO: Monday = 1

rule_revision = Sequence("routing_rule_revision_seq", start=1)


class RoutingRule(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # {"department": code} | {"locality": kind} | {"zone_owner": true}, plus urgency, auto_dispatch, auto_file
    target: Mapped[dict[str, Any]] = mapped_column(JSONB)
    revision: Mapped[int] = mapped_column(BigInteger, rule_revision, server_default=rule_revision.next_value())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_routing_rules_revision", "revision"),)


# -- the YAML schema ---------------------------------------------------------------------------------------------


def _one_or_many(field: ma.fields.Field) -> ma.fields.Field:
    return ma.fields.List(field, validate=ma.validate.Length(min=1, max=500))


class _Listify(ma.Schema):
    """Conditions accept one value or a list; stored as lists."""

    LISTS = ("category", "area", "keywords", "source")

    @ma.pre_load
    def listify(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            return {k: ([v] if k in self.LISTS and isinstance(v, str | int) else v) for k, v in data.items()}
        return data


class ZoneConditionSchema(ma.Schema):
    kind = ma.fields.String(validate=ma.validate.Length(min=1, max=40))
    codes = _one_or_many(ma.fields.String(validate=ma.validate.Length(min=1, max=40)))

    @ma.pre_load
    def shorthand(self, data: Any, **_: Any) -> Any:
        return {} if data is True else data


class TimeConditionSchema(ma.Schema):
    weekdays = ma.fields.List(ma.fields.Integer(validate=ma.validate.OneOf(WEEKDAYS)), validate=ma.validate.Length(1))
    from_ = ma.fields.String(data_key="from", validate=ma.validate.Regexp(HHMM, error="expected HH:MM"))
    to = ma.fields.String(validate=ma.validate.Regexp(HHMM, error="expected HH:MM"))

    @ma.validates_schema(skip_on_field_errors=True)
    def both_ends(self, data: dict[str, Any], **_: Any) -> None:
        if ("from_" in data) != ("to" in data):
            raise ma.ValidationError("give both from and to, or neither", "from")
        if "from_" in data and data["from_"] == data["to"]:
            raise ma.ValidationError("from and to are the same time: an empty window", "to")
        if not data:
            raise ma.ValidationError("give weekdays, from and to, or both")


class ConditionsSchema(_Listify):
    category = _one_or_many(
        ma.fields.String(
            validate=ma.validate.Regexp(CATEGORY_PREFIX, error="expected a category code or prefix like C01, E0102")
        )
    )
    family = ma.fields.String(validate=ma.validate.OneOf(("component", "event")))
    area = _one_or_many(
        ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{2,15}$", error="expected 2 to 15 digits of a cell code"))
    )
    zone = ma.fields.Nested(ZoneConditionSchema)
    urgency = ma.fields.String(validate=ma.validate.OneOf(("urgent", "normal")))
    time = ma.fields.Nested(TimeConditionSchema)
    keywords = _one_or_many(ma.fields.String(validate=ma.validate.Length(min=1, max=40)))
    source = _one_or_many(ma.fields.String(validate=ma.validate.OneOf(("inspector", "public", "hotline", "open311"))))

    @ma.pre_load
    def area_as_text(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("area"), list):
            return {**data, "area": [str(a) for a in data["area"]]}
        return data


class TargetSchema(ma.Schema):
    department = ma.fields.String(validate=ma.validate.Length(min=1, max=40))
    # A kind of department (checked against the city's kinds, CITYMGMT_DEPARTMENT_KINDS, when imported).
    locality = ma.fields.String(validate=ma.validate.Regexp(DEPARTMENT_KIND, error="expected a kind of department"))
    zone_owner = ma.fields.Boolean()
    urgency = ma.fields.String(validate=ma.validate.OneOf(("urgent", "normal")))
    auto_dispatch = ma.fields.Boolean()
    auto_file = ma.fields.Boolean()

    @ma.validates_schema(skip_on_field_errors=True)
    def one_target(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("department", "locality", "zone_owner") if data.get(k)]
        if len(given) != 1:
            got = f" (got {', '.join(given)})" if given else ""
            raise ma.ValidationError(f"give exactly one of department, locality or zone_owner{got}")


class RuleSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Regexp(CODE, error="letters, digits, . _ - only"))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    priority = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(0, 1_000_000))
    enabled = ma.fields.Boolean(load_default=True)
    when = ma.fields.Nested(ConditionsSchema, load_default=dict)
    then = ma.fields.Nested(TargetSchema, required=True)


class RuleFileSchema(ma.Schema):
    version = ma.fields.Integer(load_default=FORMAT_VERSION, validate=ma.validate.Equal(FORMAT_VERSION))
    rules = ma.fields.List(ma.fields.Nested(RuleSchema), required=True)


_file_schema = RuleFileSchema()


def _names(schema: type[ma.Schema]) -> frozenset[str]:
    return frozenset(field.data_key or name for name, field in schema().fields.items())


# The fields each level of the rule book has, by the word of the path above them ("": the file, whose problem as a
# whole is named `file`), as the schemas above define them: a word elsewhere is one the schema refuses as unknown.
FIELDS_AT: dict[str, frozenset[str]] = {
    "": _names(RuleFileSchema) | {"file"},
    "rules": _names(RuleSchema),
    "when": _names(ConditionsSchema),
    "then": _names(TargetSchema),
    "zone": _names(ZoneConditionSchema),
    "time": _names(TimeConditionSchema),
}


def _stored_conditions(when: dict[str, Any]) -> dict[str, Any]:
    conditions = dict(when)
    if "time" in conditions:
        window = dict(conditions["time"])
        if "from_" in window:
            window["from"] = window.pop("from_")
        conditions["time"] = window
    return conditions


@dataclass(frozen=True)
class ImportResult:
    inserted: int
    updated: int
    unchanged: int
    retired: int


def parse_rules(source: str) -> list[dict[str, Any]]:
    """Validated rules from YAML text, or ValidationError naming every bad field by its path (rules.3.then...)."""
    try:
        document = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError(f"not valid YAML{where}", details={"file": "YAML syntax"}) from None
    if isinstance(document, list):
        document = {"rules": document}
    if not isinstance(document, dict):
        raise ValidationError("expected a mapping with a 'rules' list", details={"file": "no rules list"})
    try:
        loaded = _file_schema.load(document)
    except ma.ValidationError as exc:
        raise ValidationError("the rules file is not valid", details=_flatten(exc.messages)) from None
    rules: list[dict[str, Any]] = loaded["rules"]
    seen: dict[str, int] = {}
    problems: dict[str, str] = {}
    for index, rule in enumerate(rules):
        if rule["code"] in seen:
            problems[f"rules.{index}.code"] = f"{rule['code']} repeats rule {seen[rule['code']]}"
        seen.setdefault(rule["code"], index)
    if problems:
        raise ValidationError("the rules file is not valid", details=problems)
    return rules


def line_of(source: str, path: str) -> int | None:
    """The line (from 1) of the YAML text where a problem's path (`rules.3.then.department`, as `parse_rules` and
    `import_rules` name them) is, or where the deepest part of it that exists is (a missing field: its rule's line).
    Text that is not YAML: the line of its syntax error for the path `file` (the problem `parse_rules` names), else
    None. None too when the path names nothing in the text."""
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return mark.line + 1 if mark is not None and path == "file" else None
    if node is None:
        return None
    if isinstance(node, yaml.SequenceNode) and path.startswith("rules."):
        path = path.removeprefix("rules.")  # a bare list of rules, as parse_rules accepts
    line: int | None = None
    for part in path.split("."):
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _flatten(messages: Any, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "from" if key == "from_" else str(key)
            path = f"{prefix}.{name}" if prefix and key != "_schema" else (prefix or name)
            flat.update(_flatten(value, path))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "file"] = "; ".join(messages)
        else:
            for item in messages:
                flat.update(_flatten(item, prefix))
    else:
        flat[prefix or "file"] = str(messages)
    return flat


def import_rules(
    session: Session,
    source: str,
    now: datetime,
    allow_empty: bool = False,
    *,
    kinds: Seq[str] = DEFAULT_DEPARTMENT_KINDS,
) -> ImportResult:
    """Replace the live rule set with the file's, in the caller's transaction (nothing changes on an error). A file
    with no rules would retire every rule and stop automatic dispatch: refused unless `allow_empty`. A locality
    target names one of the city's `kinds` of department."""
    rules = parse_rules(source)
    unknown_kinds = {
        f"rules.{i}.then.locality": f"{r['then']['locality']} is not a kind of department here ({', '.join(kinds)})"
        for i, r in enumerate(rules)
        if r["then"].get("locality") and r["then"]["locality"] not in kinds
    }
    if unknown_kinds:
        raise ValidationError("the rules file names unknown kinds of department", details=unknown_kinds)
    if not rules and not allow_empty:
        raise ValidationError(
            "the rules file holds no rules: importing it would retire every rule and stop automatic dispatch;"
            " confirm it on purpose (PUT /api/v1/rules?retire_all=true, or rules import --retire-all)",
            details={"rules": "empty"},
        )
    live = live_codes(session)
    unknown = {
        f"rules.{i}.then.department": f"no live department {r['then']['department']}"
        for i, r in enumerate(rules)
        if r["then"].get("department") and r["then"]["department"] not in live
    }
    if unknown:
        raise ValidationError("the rules file names unknown departments", details=unknown)
    existing = {r.code: r for r in session.execute(select(RoutingRule)).scalars()}
    inserted = updated = unchanged = retired = 0
    for rule in rules:
        values = {
            "name": rule["name"],
            "priority": rule["priority"],
            "enabled": rule["enabled"],
            "conditions": _stored_conditions(rule["when"]),
            "target": dict(rule["then"]),
            "retired_at": None,
        }
        row = existing.pop(rule["code"], None)
        if row is None:
            session.add(RoutingRule(code=rule["code"], **values))
            inserted += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.revision = rule_revision.next_value()
            updated += 1
        else:
            unchanged += 1
    for row in existing.values():
        if row.retired_at is None:
            row.retired_at = now
            row.revision = rule_revision.next_value()
            retired += 1
    session.flush()
    forget_revisions(session)
    return ImportResult(inserted, updated, unchanged, retired)


def retire_rules(session: Session, codes: list[str], now: datetime) -> int:
    """Retire these rules (kept for the explanations of cases they routed); every process's cache follows."""
    rows = (
        session.execute(select(RoutingRule).where(RoutingRule.code.in_(codes), RoutingRule.retired_at.is_(None)))
        .scalars()
        .all()
    )
    for row in rows:
        row.retired_at = now
        row.revision = rule_revision.next_value()
    session.flush()
    forget_revisions(session)
    return len(rows)


def export_rules(session: Session) -> str:
    """The live rule set as YAML, in the import format (export then import changes nothing)."""
    rows = session.execute(
        select(RoutingRule).where(RoutingRule.retired_at.is_(None)).order_by(RoutingRule.priority, RoutingRule.code)
    ).scalars()
    rules = [
        {
            "code": r.code,
            "name": r.name,
            "priority": r.priority,
            **({} if r.enabled else {"enabled": False}),
            **({"when": r.conditions} if r.conditions else {}),
            "then": r.target,
        }
        for r in rows
    ]
    return yaml.safe_dump(
        {"version": FORMAT_VERSION, "rules": rules}, allow_unicode=True, sort_keys=False, default_flow_style=None
    )


def load_rules_file(
    session: Session,
    path: Path,
    now: datetime,
    allow_empty: bool = False,
    *,
    kinds: Seq[str] = DEFAULT_DEPARTMENT_KINDS,
) -> ImportResult:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc.__class__.__name__}", details={"file": str(path)}) from None
    return import_rules(session, source, now, allow_empty, kinds=kinds)


# -- the per-process cache ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    priority: int
    enabled: bool
    conditions: dict[str, Any]
    target: dict[str, Any]


@dataclass(frozen=True)
class RuleBook:
    revision: int
    rules: tuple[Rule, ...]  # live rules, by priority then code

    @property
    def uses_zones(self) -> bool:
        return any("zone" in r.conditions or r.target.get("zone_owner") for r in self.rules if r.enabled)


class RuleCache:
    """The live rules of one process, reloaded when the highest committed revision changes (one indexed query)."""

    def __init__(self) -> None:
        self._book: RuleBook | None = None
        self._lock = threading.Lock()

    def book(self, session: Session) -> RuleBook:
        revision = revisions(session).rules
        book = self._book
        if book is not None and book.revision == revision:
            return book
        rows = session.execute(
            select(RoutingRule).where(RoutingRule.retired_at.is_(None)).order_by(RoutingRule.priority, RoutingRule.code)
        ).scalars()
        book = RuleBook(
            revision=revision,
            rules=tuple(Rule(r.code, r.name, r.priority, r.enabled, dict(r.conditions), dict(r.target)) for r in rows),
        )
        with self._lock:
            self._book = book
        return book


rule_cache = RuleCache()
