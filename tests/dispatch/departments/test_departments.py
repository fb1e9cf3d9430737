"""Departments as data: `citymgmt departments import|list|retire`, all or nothing with every bad row named, audited;
routing never sends to a retired department."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.audit import AuditEntry
from citymgmt.core.departments import Department
from citymgmt.core.errors import Conflict, ValidationError
from citymgmt.core.identity import handler_username
from dispatch.departments.files import read_rows
from dispatch.departments.operations import import_departments, retire_department
from dispatch.intake.explain import explain_report
from dispatch.notifications.operations import NotificationChannel
from dispatch.routing.rules import import_rules, rule_cache
from tests.dispatch.routing.test_routing import NOW

pytestmark = pytest.mark.usefixtures("beijing")

KINDS = ("water", "drainage", "sanitation", "roads", "street_office", "other")

HOOK = "webhook:https://hooks.example.org/east a-secret-of-16-chars"
GOOD_CSV = f"""\
code,name,name_en,kind,district,street,parent,phone,channels
t-bureau,测试城管局,Test Bureau,other,,,,010-1234,email:bureau@example.org
t-sanitation-east,东城测试环卫所,,sanitation,110101,,t-bureau,,email:east@example.org; {HOOK}
t-street-office,测试街道办,Test street office,street_office,,110101005,t-bureau,,
"""


def run(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["departments", *args])


def audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_a_good_csv_creates_the_departments_their_parents_and_channels(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "departments.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")

    done = run(app, monkeypatch, "import", str(path))
    assert done.exit_code == 0, done.output
    assert done.stdout == ("departments: 3 rows, 3 created, 0 updated, 0 unchanged; 3 notification channels added\n")
    east = db_session.get(Department, "t-sanitation-east")
    assert east is not None
    assert (east.name_en, east.kind, east.district_code, east.parent_code) == (
        "东城测试环卫所",  # no English name: the name serves for both
        "sanitation",
        "110101",
        "t-bureau",
    )
    office = db_session.get(Department, "t-street-office")
    assert office is not None and (office.street_code, office.district_code) == ("110101005", "110101")
    channels = db_session.execute(
        select(NotificationChannel.kind, NotificationChannel.target).where(
            NotificationChannel.department_code == "t-sanitation-east"
        )
    ).all()
    assert sorted(channels) == [("email", "east@example.org"), ("webhook", "https://hooks.example.org/east")]
    assert {e.target for e in audit(db_session, "department.create")} >= {"t-bureau", "t-sanitation-east"}
    assert [e.details["created"] for e in audit(db_session, "department.import")] == [3]
    assert len(audit(db_session, "notification_channel.add")) == 3

    listed = run(app, monkeypatch, "list")
    assert "t-sanitation-east" in listed.stdout and "110101005" in listed.stdout

    again = run(app, monkeypatch, "import", str(path))
    assert again.exit_code == 0, again.output
    assert again.stdout == "departments: 3 rows, 0 created, 0 updated, 3 unchanged; 0 notification channels added\n"


def test_every_bad_row_is_named_by_line_and_field_and_nothing_is_written(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "code,name,kind,district,parent,channels\n"
        "t-ok,好的,water,110101,,\n"
        "t-bad kind,坏的,spaceport,999999,,\n"  # line 3: code, kind, district
        "t-ok,重复,water,,t-nowhere,\n"  # line 4: code repeated, parent unknown
        "t-hook,钩子,water,,,webhook:https://hooks.example.org/x short\n",  # line 5: the secret
        encoding="utf-8",
    )
    before = db_session.execute(text("SELECT count(*) FROM departments")).scalar_one()

    done = run(app, monkeypatch, "import", str(path))
    assert done.exit_code == 1
    assert "error: 3 of 4 rows refused (6 problems); nothing was written" in done.stderr
    assert "line 3: code: required: 1-40 letters" in done.stderr
    assert "line 3: kind: spaceport is not a kind of department here" in done.stderr
    assert "line 3: district: no live district 999999" in done.stderr
    assert "line 4: code: t-ok repeats line 2" in done.stderr
    assert "line 4: parent: no live department t-nowhere" in done.stderr
    assert "line 5: channels: webhook https://hooks.example.org/x: secret at least 16 characters" in done.stderr
    assert db_session.execute(text("SELECT count(*) FROM departments")).scalar_one() == before
    assert audit(db_session, "department.import") == []


def test_yaml_rows_with_a_parent_further_down_and_channels_as_mappings(db_session: Session) -> None:
    source = """\
departments:
  - code: t-child
    name: 子部门
    kind: roads
    district: 110101
    parent: t-parent
    channels:
      - {email: child@example.org, events: [new_work]}
  - code: t-parent
    name: 父部门
    name_en: Parent
    kind: other
  - code: t-loop
    name: 循环
    kind: galaxy
"""
    with pytest.raises(ValidationError) as refused:
        import_departments(db_session, read_rows(source, "yaml"), KINDS, NOW, "test.yaml")
    assert list(refused.value.details) == ["line 13: kind"]  # the line its mapping starts on
    assert refused.value.details["line 13: kind"].startswith("galaxy is not a kind of department here")

    fixed = source.replace("galaxy", "other")
    summary = import_departments(db_session, read_rows(fixed, "yaml"), KINDS, NOW, "test.yaml")
    assert (summary.created, summary.channels_added) == (3, 1)
    child = db_session.get(Department, "t-child")
    assert child is not None and child.parent_code == "t-parent" and child.district_code == "110101"
    events = db_session.execute(
        select(NotificationChannel.events).where(NotificationChannel.department_code == "t-child")
    ).scalar_one()
    assert events == ["new_work"]

    # A second file that names only some fields changes only those, and says so in the audit.
    summary = import_departments(
        db_session, read_rows("- {code: t-parent, name: 新父部门, kind: other}\n", "yaml"), KINDS, NOW, "again.yaml"
    )
    assert (summary.updated, summary.created) == (1, 0)
    parent = db_session.get(Department, "t-parent")
    assert parent is not None and (parent.name, parent.name_en) == ("新父部门", "Parent")
    assert audit(db_session, "department.update")[-1].details["changes"] == {"name": ["父部门", "新父部门"]}


def test_a_cycle_of_parents_is_refused(db_session: Session) -> None:
    source = "- {code: t-a, name: a, kind: other, parent: t-b}\n- {code: t-b, name: b, kind: other, parent: t-a}\n"
    with pytest.raises(ValidationError) as refused:
        import_departments(db_session, read_rows(source, "yaml"), KINDS, NOW, "cycle.yaml")
    assert "t-a would answer to itself through t-b" in refused.value.details["line 1: parent"]


def test_kinds_are_the_citys_configuration(db_session: Session) -> None:
    rows = read_rows("code,name,kind\nt-fire,消防,fire_dept\n", "csv")
    with pytest.raises(ValidationError, match="1 of 1 rows refused"):
        import_departments(db_session, rows, current_app.extensions["citymgmt.settings"].department_kinds, NOW, "f")
    assert import_departments(db_session, rows, (*KINDS, "fire_dept"), NOW, "f").created == 1


def test_retiring_keeps_the_department_and_routing_sends_nothing_to_it(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = current_app.extensions["citymgmt.settings"]

    def route(category: str, component: str | None = None) -> dict[str, Any]:
        return explain_report(
            db_session,
            rule_cache.book(db_session),
            category_code=category,
            lon=116.3906,
            lat=39.9158,
            crs="wgs84",
            at=NOW,
            settings=settings,
            component_id=component,
        )

    owned = db_session.execute(
        text("SELECT id FROM components WHERE owner_department_code = 'bj-drainage' AND retired_at IS NULL LIMIT 1")
    ).scalar_one()
    category = "C" + owned[6:10]
    assert route(category, owned)["department"] == "bj-drainage"
    assert route("E0102")["department"] == "110101-sanitation"

    done = run(app, monkeypatch, "retire", "bj-drainage")
    assert done.exit_code == 0, done.output
    assert done.stdout == "department bj-drainage retired\n"
    assert "1 handler accounts belong to it" in done.stderr  # the demo's handler-bj-drainage
    retire_department(db_session, "110101-sanitation", NOW, "test")

    drainage = db_session.get(Department, "bj-drainage")
    assert drainage is not None and drainage.retired_at is not None  # kept, with its history
    owner = route(category, owned)
    assert owner["department"] != "bj-drainage"
    assert "which is retired" in owner["considered"][0]["note"]
    assert route("E0102")["department"] != "110101-sanitation"
    assert [e.target for e in audit(db_session, "department.retire")] == ["bj-drainage", "110101-sanitation"]

    listed = run(app, monkeypatch, "list")
    assert "bj-drainage" not in listed.stdout
    assert "bj-drainage" in run(app, monkeypatch, "list", "--all").stdout
    again = run(app, monkeypatch, "retire", "bj-drainage")
    assert again.exit_code == 1 and "no live department bj-drainage" in again.stderr
    with pytest.raises(ValidationError, match="1 of 1 rows refused") as refused:
        import_departments(db_session, read_rows("code,name,kind\nbj-drainage,x,drainage\n", "csv"), KINDS, NOW, "f")
    assert "retired code is not used again" in refused.value.details["line 2: code"]


def test_a_department_others_answer_to_is_not_retired(db_session: Session) -> None:
    rows = read_rows("code,name,kind,parent\nt-top,上级,other,\nt-sub,下级,other,t-top\n", "csv")
    import_departments(db_session, rows, KINDS, NOW, "f")
    with pytest.raises(Conflict, match="1 live departments answer to t-top"):
        retire_department(db_session, "t-top", NOW, "test")
    retire_department(db_session, "t-sub", NOW, "test")
    retire_department(db_session, "t-top", NOW, "test")


def test_handler_usernames_fit_forty_characters() -> None:
    assert handler_username("110101-roads") == "handler-110101-roads"
    long_a, long_b = "d" * 36 + "-001", "d" * 36 + "-002"
    names = {handler_username(long_a), handler_username(long_b), handler_username("X" * 40)}
    assert len(names) == 3
    assert all(len(n) <= 40 and n == n.lower() for n in names)


def test_a_zone_of_a_retired_department_routes_nothing_to_it(db_session: Session) -> None:
    db_session.execute(
        text(
            "INSERT INTO responsibility_zones (code, department_code, name, kind, geom) VALUES"
            " ('t-park', '110101-landscaping', '测试公园', 'park',"
            "  ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(116.3906, 39.9158), 4326), 0.001)))"
        )
    )
    import_rules(
        db_session,
        "rules:\n  - {code: parks, name: parks, priority: 1, when: {zone: {kind: park}}, then: {zone_owner: true}}\n",
        NOW,
    )
    settings = current_app.extensions["citymgmt.settings"]

    def route() -> dict[str, Any]:
        return explain_report(
            db_session,
            rule_cache.book(db_session),
            category_code="E0102",
            lon=116.3906,
            lat=39.9158,
            crs="wgs84",
            at=NOW,
            settings=settings,
        )

    assert route()["department"] == "110101-landscaping"
    retire_department(db_session, "110101-landscaping", NOW, "test")
    decision = route()
    assert decision["department"] is None and decision["manual"] is True
    assert decision["considered"][0]["note"] == "the zone's department is retired: t-park (110101-landscaping)"
