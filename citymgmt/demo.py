"""`citymgmt demo load`: the demo city, loaded once by `make run`; idempotent, so loading again changes nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from citymgmt.core.config import current_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented password of the demo accounts

Progress = Callable[[str], None]

# (code, name, file) of the demo districts; their boundaries are GCJ-02.
DEMO_DISTRICTS = (
    ("110101", "东城区", "grids/beijing-dongcheng-110101.geojson"),
    ("110102", "西城区", "grids/beijing-xicheng-110102.geojson"),
)

DEMO_OPEN311_KEY = "demo-open311-key"  # the documented Open311 API key of the demo client "demo"

DEMO_INSPECTOR_BEAT = "110101005002"

# The centre's demo accounts: username → (display name, roles).
DEMO_STAFF = {
    "admin": ("系统管理员", ["admin"]),
    "inspector": ("监督员 王伟", ["inspector"]),
    "operator": ("受理员 李娜", ["operator"]),
    "leader": ("值班长 张强", ["leader"]),
    "dispatcher": ("派遣员 刘洋", ["dispatcher"]),
    "supervisor": ("监督中心主任 陈静", ["supervisor"]),
}


def demo_loaded(session: Session) -> bool:
    from citymgmt.core.identity import User
    from dispatch.components.operations import Component
    from dispatch.taxonomy.operations import TaxonomyVersion
    from grids.models import Address, Area

    codes = [code for code, _, _ in DEMO_DISTRICTS]
    found = session.execute(
        select(func.count()).select_from(Area).where(Area.code.in_(codes), Area.retired_at.is_(None))
    ).scalar_one()
    users = session.execute(select(func.count()).select_from(User).where(User.username == "admin")).scalar_one()
    taxonomy = session.execute(
        select(func.count()).select_from(TaxonomyVersion).where(TaxonomyVersion.current)
    ).scalar_one()
    components = session.execute(select(exists().where(Component.district_code == codes[0]))).scalar_one()
    addresses = session.execute(select(exists().select_from(Address))).scalar_one()
    return bool(found == len(codes) and users == 1 and taxonomy == 1 and components and addresses)


def load_demo(session: Session, now: datetime, progress: Progress) -> None:
    """Everything the demo city has, in the caller's transaction."""
    from dispatch.demo import load_demo_departments
    from grids.demo import load_demo_grids

    load_demo_grids(session, FIXTURES, DEMO_DISTRICTS, now, progress)
    from grids.addresses import load_demo_addresses

    added = load_demo_addresses(session, [code for code, _, _ in DEMO_DISTRICTS], now)
    progress(f"address gazetteer: {added} door numbers added, one per cell")
    from dispatch.taxonomy.operations import load_taxonomy

    version, count = load_taxonomy(session, FIXTURES / "taxonomy" / "cjt214-2007-demo.json")
    progress(f"taxonomy {version}: {count} categories")
    departments = load_demo_departments(session, FIXTURES, [code for code, _, _ in DEMO_DISTRICTS])
    progress(f"{len(departments)} departments")
    from dispatch.demo import load_demo_components

    registry = load_demo_components(session, [code for code, _, _ in DEMO_DISTRICTS], now)
    progress(f"{registry.rows} components: {registry.inserted} inserted, {registry.updated} updated")
    from dispatch.routing.rules import load_rules_file

    settings = current_settings()
    rules = load_rules_file(session, FIXTURES / "rules" / "demo-rules.yaml", now, kinds=settings.department_kinds)
    progress(f"routing rules: {rules.inserted} new, {rules.updated} changed, {rules.unchanged} unchanged")
    if settings.holidays == "cn":
        from dispatch.sla.calendar import seed_years

        written, _unknown = seed_years(session, range(now.year - 1, now.year + 2), now)
        progress(f"working calendar: {written} holidays and make-up days")
    else:
        progress(
            "working calendar: no built-in holidays (CITYMGMT_HOLIDAYS=none); import the city's with calendar import"
        )
    created = load_demo_accounts(session, departments)
    progress(f"{created} demo accounts created (password {DEMO_PASSWORD})")
    from grids.assignments import assign_cells

    # The demo inspector walks the community around the Forbidden City.
    assign_cells(session, "inspector", [DEMO_INSPECTOR_BEAT], now)
    from citymgmt.open311.keys import Open311Key, create_key

    if session.execute(select(Open311Key.id).where(Open311Key.name == "demo")).first() is None:
        create_key(session, "demo", now, secret=DEMO_OPEN311_KEY)
        progress(f"Open311 API key of the demo client: {DEMO_OPEN311_KEY}")


def load_demo_accounts(session: Session, departments: list[str]) -> int:
    """The accounts of ARCHITECTURE.md; existing ones keep their passwords (they may have changed)."""
    from citymgmt.core.identity import User, handler_username, hash_password

    wanted: dict[str, tuple[str, list[str], str | None]] = {
        name: (display, roles, None) for name, (display, roles) in DEMO_STAFF.items()
    }
    from citymgmt.core.departments import Department

    names = dict(
        session.execute(select(Department.code, Department.name).where(Department.code.in_(departments))).all()
    )
    for code in departments:  # named for their department as people know it, not by its code
        wanted[handler_username(code)] = (f"{names.get(code, code)}处置人员", ["handler"], code)
    existing = set(session.execute(select(User.username).where(User.username.in_(wanted))).scalars())
    # Loading the demo again (after `demo unload`) lets its accounts sign in again; their passwords stay as they are.
    session.execute(
        update(User).where(User.username.in_(wanted), User.deactivated_at.is_not(None)).values(deactivated_at=None)
    )
    password_hash = hash_password(DEMO_PASSWORD)  # one hash for all: they share the password
    for username, (display, roles, department) in wanted.items():
        if username not in existing:
            session.add(
                User(
                    username=username,
                    display_name=display,
                    password_hash=password_hash,
                    roles=roles,
                    department_code=department,
                )
            )
    session.flush()
    return len(wanted) - len(existing)


def another_city(session: Session) -> bool:
    """Whether the database holds places that are not the live demo city: another city's districts, or the demo's
    retired by `demo unload`. `demo load --if-empty` then leaves it alone."""
    from grids.models import Area, AreaLevel

    codes = [code for code, _, _ in DEMO_DISTRICTS]
    elsewhere = or_(Area.code.not_in(codes), Area.retired_at.is_not(None))
    return bool(session.execute(select(exists().where(Area.level == AreaLevel.district, elsewhere))).scalar_one())


def unload_demo(session: Session, now: datetime, progress: Progress) -> None:
    """Take the demo city out of use, in the caller's transaction, deleting nothing: its districts, streets,
    communities and cells, its assets, departments and routing rules are retired, its accounts deactivated (their
    tokens revoked) and its Open311 key revoked. Its cases stay as they are, with every event: they are the record of
    what was reported and done, and evaluations of past periods count them. The taxonomy and the working calendar
    are reference data, not the demo's, and stay."""
    import yaml

    from citymgmt.core.audit import record
    from citymgmt.core.departments import retire_departments
    from citymgmt.core.errors import NotFound
    from citymgmt.core.identity import User, revoke_all_tokens
    from citymgmt.open311.keys import revoke_key
    from dispatch.cases.models import Case
    from dispatch.components.operations import retire_components_in
    from dispatch.demo import demo_department_codes
    from dispatch.routing.rules import retire_rules
    from grids.retire import retire_districts

    codes = [code for code, _, _ in DEMO_DISTRICTS]
    departments = demo_department_codes(session, FIXTURES, codes)
    rule_file = yaml.safe_load((FIXTURES / "rules" / "demo-rules.yaml").read_text(encoding="utf-8"))
    rules = retire_rules(session, [r["code"] for r in rule_file["rules"]], now)
    components = retire_components_in(session, codes, now)
    retired_departments = retire_departments(session, departments, now)
    usernames = list(DEMO_STAFF) + [f"handler-{code}" for code in departments]
    users = session.execute(select(User).where(User.username.in_(usernames), User.deactivated_at.is_(None))).scalars()
    accounts = tokens = 0
    for user in users:
        user.deactivated_at = now
        tokens += revoke_all_tokens(session, user, now)
        accounts += 1
    with contextlib.suppress(NotFound):  # a demo loaded before Open311 keys existed has none
        revoke_key(session, "demo", now)
    places = retire_districts(session, codes, now)
    cases = session.execute(
        select(func.count()).select_from(Case).where(func.left(Case.cell_code, 6).in_(codes))
    ).scalar_one()
    summary = {
        "areas": places.areas,
        "cells": places.cells,
        "beats": places.beats,
        "components": components,
        "departments": retired_departments,
        "rules": rules,
        "accounts": accounts,
        "tokens": tokens,
        "cases_kept": cases,
    }
    record(session, "demo.unload", "demo", now, **summary)
    progress(
        f"retired {places.areas} areas, {places.cells} cells, {components} components, {retired_departments}"
        f" departments and {rules} routing rules; {accounts} accounts deactivated ({tokens} tokens revoked), the"
        f" demo Open311 key revoked; {cases} cases kept as they are"
    )
