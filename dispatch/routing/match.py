"""Routing (派遣): which department a case goes to, and why. The one place rules are evaluated.

Order: a component (部件) whose registered asset has an owner goes to the owner first (先属主); then the rules, by
priority, first match wins (events are routed by locality rules: 先属地); no match leaves the case for the
dispatcher's manual queue. A rule whose target cannot be resolved for this case (no department of that kind
serves the district, the point lies in no owned zone) does not match, and the explanation says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import Session

from citymgmt.core import departments
from citymgmt.core.departments import Department
from dispatch.routing.queries import ZONES_AT_SQL
from dispatch.routing.rules import Rule, RuleBook
from dispatch.taxonomy.operations import Category
from grids.matching import CellMatch


@dataclass(frozen=True)
class Zone:
    code: str
    kind: str
    department_code: str


@dataclass
class Facts:
    """What rules look at. Zones are looked up only if a rule needs them."""

    category_code: str
    family: str
    cell_code: str
    street_code: str
    district_code: str
    urgency: str | None  # None: the reporter gave none (a rule may set it; conditions see "normal")
    description: str
    source: str
    at: datetime
    zone_info: ZoneInfo
    lon: float
    lat: float
    component_owner: str | None = None
    component_id: str | None = None
    zones_loader: Callable[[], list[Zone]] | None = None

    @cached_property
    def zones(self) -> list[Zone]:
        return self.zones_loader() if self.zones_loader is not None else []


# What an explanation says, by reason: the English here (`detail`, `note`), and the reason with its values (`why`,
# `args`) for a page to say it in its user's language (the desk's REASON_TEXTS, the same keys).
REASONS = {
    "category_under": "{code} is under {prefix}",
    "category_not_under": "{code} is not under {prefixes}",
    "family": "{family}, rule wants {wanted}",
    "area_in": "cell {cell} is in {prefix}",
    "area_not_in": "cell {cell} is in none of {prefixes}",
    "zone_in": "in {zones}",
    "zone_none": "the point lies in no live zone with {wanted}",
    "urgency": "{urgency}, rule wants {wanted}",
    "time_inside": "{at} is inside the window",
    "time_outside": "{problems}",
    "keywords_found": "found {words}",
    "keywords_none": "none of the keywords in the description",
    "source": "{source}, rule wants {wanted}",
    "owner_is": "asset {asset} is owned by {owner}",
    "owner_none": "no registered asset with an owner",
    "owner_unowned": "the asset has no owner",
    "owner_retired": "asset {asset} is owned by {owner}, which is retired",
    "disabled": "disabled",
    "condition_fails": "{condition} does not hold",
    "to_department": "to {department}",
    "department_retired": "department {department} is retired",
    "no_locality": "no {kind} department serves street {street} or district {district}",
    "to_locality": "to {department}, the {kind} department of the locality (属地)",
    "no_zone_owner": "the point lies in no department's zone",
    "to_zone_owner": "to {department}, owner of zone {zone}",
    "zone_owner_retired": "the zone's department is retired: {zones}",
}


@dataclass(frozen=True)
class Reason:
    why: str
    args: dict[str, str] = field(default_factory=dict)

    @property
    def english(self) -> str:
        return REASONS[self.why].format(**self.args)


def _because(why: str, **args: Any) -> Reason:
    return Reason(why, {k: str(v) for k, v in args.items()})


@dataclass(frozen=True)
class Check:
    condition: str
    ok: bool
    reason: Reason

    @property
    def detail(self) -> str:
        return self.reason.english

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "ok": self.ok,
            "detail": self.detail,
            "why": self.reason.why,
            "args": self.reason.args,
        }


@dataclass
class Considered:
    rule: str
    name: str
    priority: int
    matched: bool
    checks: list[Check] = field(default_factory=list)
    department: str | None = None
    reason: Reason | None = None

    @property
    def note(self) -> str:
        return self.reason.english if self.reason else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "priority": self.priority,
            "matched": self.matched,
            "checks": [c.as_dict() for c in self.checks],
            "department": self.department,
            "note": self.note,
            "why": self.reason.why if self.reason else None,
            "args": self.reason.args if self.reason else {},
        }


@dataclass
class Decision:
    department_code: str | None  # None: the dispatcher's manual queue
    rule_code: str | None  # the matching rule, "component-owner", or None
    auto_dispatch: bool
    auto_file: bool | None  # None: the default for the source
    urgency: str | None
    considered: list[Considered]
    revision: int

    @property
    def explanation(self) -> dict[str, Any]:
        return {
            "department": self.department_code,
            "rule": self.rule_code,
            "auto_dispatch": self.auto_dispatch,
            "rules_revision": self.revision,
            "considered": [c.as_dict() for c in self.considered],
        }


OWNER_RULE = "component-owner"


def route(session: Session, book: RuleBook, facts: Facts, *, explain_all: bool = False) -> Decision:
    """The routing decision for these facts. With explain_all, every rule is evaluated (for `rules explain`)."""
    considered: list[Considered] = []
    decision: Decision | None = None
    if facts.family == "component":
        owner = Considered(OWNER_RULE, "部件属主优先 (component owner first)", -1, False)
        if facts.component_owner and not departments.is_live(session, facts.component_owner):
            owner.reason = _because("owner_retired", asset=facts.component_id, owner=facts.component_owner)
        elif facts.component_owner:
            owner.matched = True
            owner.department = facts.component_owner
            owner.reason = _because("owner_is", asset=facts.component_id, owner=facts.component_owner)
            decision = Decision(facts.component_owner, OWNER_RULE, True, None, None, [], book.revision)
        else:
            owner.reason = _because("owner_none" if facts.component_id is None else "owner_unowned")
        considered.append(owner)
    for rule in book.rules:
        if decision is not None and not explain_all:
            break
        entry = _evaluate(session, rule, facts)
        considered.append(entry)
        if entry.matched and decision is None:
            decision = Decision(
                entry.department,
                rule.code,
                bool(rule.target.get("auto_dispatch", True)),
                rule.target.get("auto_file"),
                rule.target.get("urgency"),
                [],
                book.revision,
            )
    if decision is None:
        decision = Decision(None, None, False, None, None, [], book.revision)
    decision.considered = considered
    return decision


def _evaluate(session: Session, rule: Rule, facts: Facts) -> Considered:
    entry = Considered(rule.code, rule.name, rule.priority, False)
    if not rule.enabled:
        entry.reason = _because("disabled")
        return entry
    for name, value in rule.conditions.items():
        check = CONDITIONS[name](value, facts)
        entry.checks.append(check)
        if not check.ok:
            entry.reason = _because("condition_fails", condition=name)
            return entry
    department, entry.reason = _target(session, rule, facts)
    if department is None:
        return entry
    entry.matched = True
    entry.department = department
    return entry


def _category(value: list[str], facts: Facts) -> Check:
    hit = next((p for p in value if facts.category_code.startswith(p)), None)
    if hit:
        return Check("category", True, _because("category_under", code=facts.category_code, prefix=hit))
    return Check("category", False, _because("category_not_under", code=facts.category_code, prefixes=", ".join(value)))


def _family(value: str, facts: Facts) -> Check:
    return Check("family", facts.family == value, _because("family", family=facts.family, wanted=value))


def _area(value: list[str], facts: Facts) -> Check:
    hit = next((p for p in value if facts.cell_code.startswith(p)), None)
    if hit:
        return Check("area", True, _because("area_in", cell=facts.cell_code, prefix=hit))
    return Check("area", False, _because("area_not_in", cell=facts.cell_code, prefixes=", ".join(value)))


def _zone(value: dict[str, Any], facts: Facts) -> Check:
    zones = [z for z in facts.zones if _zone_fits(value, z)]
    if zones:
        listed = ", ".join(f"{z.code} ({z.kind}, {z.department_code})" for z in zones)
        return Check("zone", True, _because("zone_in", zones=listed))
    wanted = ", ".join(f"{k}={v}" for k, v in value.items()) or "any zone"
    return Check("zone", False, _because("zone_none", wanted=wanted))


def _zone_fits(value: dict[str, Any], zone: Zone) -> bool:
    return ("kind" not in value or zone.kind == value["kind"]) and ("codes" not in value or zone.code in value["codes"])


def _urgency(value: str, facts: Facts) -> Check:
    urgency = facts.urgency or "normal"
    return Check("urgency", urgency == value, _because("urgency", urgency=urgency, wanted=value))


def _time(value: dict[str, Any], facts: Facts) -> Check:
    local = facts.at.astimezone(facts.zone_info)
    problems = []
    if "weekdays" in value and local.isoweekday() not in value["weekdays"]:
        problems.append(f"weekday {local.isoweekday()} not in {value['weekdays']}")
    if "from" in value:
        start, end, now = time.fromisoformat(value["from"]), time.fromisoformat(value["to"]), local.time()
        inside = start <= now < end if start < end else (now >= start or now < end)
        if not inside:
            problems.append(f"{now:%H:%M} outside {value['from']}–{value['to']}")
    if problems:
        return Check("time", False, _because("time_outside", problems="; ".join(problems)))
    return Check("time", True, _because("time_inside", at=f"{local:%a %H:%M}"))


def _keywords(value: list[str], facts: Facts) -> Check:
    text_ = facts.description.casefold()
    hit = [k for k in value if k.casefold() in text_]
    if hit:
        return Check("keywords", True, _because("keywords_found", words=", ".join(hit)))
    return Check("keywords", False, _because("keywords_none"))


def _source(value: list[str], facts: Facts) -> Check:
    return Check("source", facts.source in value, _because("source", source=facts.source, wanted=", ".join(value)))


CONDITIONS: dict[str, Callable[[Any, Facts], Check]] = {
    "category": _category,
    "family": _family,
    "area": _area,
    "zone": _zone,
    "urgency": _urgency,
    "time": _time,
    "keywords": _keywords,
    "source": _source,
}


def _target(session: Session, rule: Rule, facts: Facts) -> tuple[str | None, Reason]:
    target = rule.target
    if target.get("department"):
        code = str(target["department"])
        if departments.is_live(session, code):
            return code, _because("to_department", department=code)
        return None, _because("department_retired", department=code)
    if target.get("locality"):
        kind = str(target["locality"])
        local = locality_department(session, kind, facts.street_code, facts.district_code)
        if local is None:
            return None, _because("no_locality", kind=kind, street=facts.street_code, district=facts.district_code)
        return local, _because("to_locality", department=local, kind=kind)
    wanted = rule.conditions.get("zone", {})
    zones = [z for z in facts.zones if _zone_fits(wanted, z)]
    if not zones:
        return None, _because("no_zone_owner")
    live = [z for z in zones if departments.is_live(session, z.department_code)]
    if not live:
        retired = ", ".join(f"{z.code} ({z.department_code})" for z in zones)
        return None, _because("zone_owner_retired", zones=retired)
    return live[0].department_code, _because("to_zone_owner", department=live[0].department_code, zone=live[0].code)


def locality_department(session: Session, kind: str, street_code: str, district_code: str) -> str | None:
    """The live department of this kind nearest the place: the street's, then the district's, then city-wide."""
    unplaced = Department.street_code.is_(None)
    query = (
        select(Department.code)
        .where(
            Department.kind == kind,
            departments.LIVE,
            or_(
                Department.street_code == street_code,
                and_(unplaced, Department.district_code == district_code),
                and_(unplaced, Department.district_code.is_(None)),
            ),
        )
        .order_by(unplaced, Department.district_code.is_(None), Department.code)
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def zones_at(session: Session, lon: float, lat: float) -> list[Zone]:
    """Live responsibility zones covering the point, smallest first (the most specific owner)."""
    rows = session.execute(text(ZONES_AT_SQL), {"lon": lon, "lat": lat}).all()
    return [Zone(*row) for row in rows]


def facts_for(
    session: Session,
    category: Category,
    match: CellMatch,
    *,
    urgency: str | None,
    description: str,
    source: str,
    at: datetime,
    zone_info: ZoneInfo,
    component_id: str | None = None,
    component_owner: str | None = None,
) -> Facts:
    return Facts(
        category_code=category.code,
        family=category.family,
        cell_code=match.cell_code,
        street_code=match.street_code,
        district_code=match.district_code,
        urgency=urgency,
        description=description,
        source=source,
        at=at,
        zone_info=zone_info,
        lon=match.lon,
        lat=match.lat,
        component_id=component_id,
        component_owner=component_owner,
        zones_loader=lambda: zones_at(session, match.lon, match.lat),
    )
