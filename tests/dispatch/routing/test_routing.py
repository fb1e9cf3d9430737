"""Routing rules: the YAML contract, every condition and target, the explanation, the cache, CLI and API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from dispatch.intake.explain import explain_report
from dispatch.routing.match import locality_department
from dispatch.routing.rules import export_rules, import_rules, parse_rules, rule_cache

pytestmark = pytest.mark.usefixtures("beijing")

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Monday 09:30 in Beijing
FORBIDDEN_CITY = (116.3906, 39.9158)  # Dongcheng, street 110101005 in the demo grid
XICHENG = (116.3662, 39.9125)


def rules_yaml(*rules: dict[str, Any]) -> str:
    return yaml.safe_dump({"version": 1, "rules": list(rules)}, allow_unicode=True)


def where(session: Session, category: str, at: tuple[float, float] = FORBIDDEN_CITY, **kw: Any) -> dict[str, Any]:
    return explain_report(
        session,
        rule_cache.book(session),
        category_code=category,
        lon=at[0],
        lat=at[1],
        crs="wgs84",
        at=kw.pop("when", NOW),
        settings=current_app.extensions["citymgmt.settings"],
        **kw,
    )


# -- the file format -----------------------------------------------------------------------------------------


def test_every_bad_field_is_named_by_its_path() -> None:
    bad = rules_yaml(
        {"code": "ok", "name": "ok", "priority": 1, "then": {"department": "bj-water"}},
        {"code": "bad code!", "name": "x", "priority": "high", "when": {"category": ["X99"]}, "then": {}},
        {"code": "ok", "name": "dup", "priority": 2, "then": {"locality": "Space Port!"}},
        {
            "code": "t",
            "name": "t",
            "priority": 3,
            "when": {"time": {"from": "25:00"}, "colour": "red"},
            "then": {"department": "a", "locality": "sanitation"},
        },
    )
    with pytest.raises(ValidationError) as caught:
        parse_rules(bad)
    details = caught.value.details
    assert details is not None
    assert "rules.1.code" in details and "rules.1.priority" in details
    assert "expected a category code or prefix" in details["rules.1.when.category.0"]
    assert "exactly one of department, locality or zone_owner" in details["rules.1.then"]
    assert "rules.2.then.locality" in details
    assert details["rules.3.when.time.from"] == "expected HH:MM"
    assert "rules.3.when.colour" in details
    assert "got department, locality" in details["rules.3.then"]


def test_a_locality_names_one_of_the_citys_kinds_of_department(db_session: Session) -> None:
    spaceport = rules_yaml({"code": "s", "name": "s", "priority": 1, "then": {"locality": "spaceport"}})
    with pytest.raises(ValidationError, match="unknown kinds of department") as refused:
        import_rules(db_session, spaceport, NOW)  # the default kinds (CITYMGMT_DEPARTMENT_KINDS)
    assert "spaceport is not a kind of department here" in refused.value.details["rules.0.then.locality"]
    assert import_rules(db_session, spaceport, NOW, kinds=("spaceport",)).inserted == 1


def test_yaml_syntax_errors_and_repeated_codes_are_refused() -> None:
    with pytest.raises(ValidationError, match="not valid YAML at line 2"):
        parse_rules("rules:\n  - {code: a,, }\n")
    with pytest.raises(ValidationError) as caught:
        parse_rules(
            rules_yaml(
                {"code": "a", "name": "a", "priority": 1, "then": {"department": "x"}},
                {"code": "a", "name": "b", "priority": 2, "then": {"department": "x"}},
            )
        )
    assert caught.value.details == {"rules.1.code": "a repeats rule 0"}


def test_import_refuses_unknown_departments_and_changes_nothing(db_session: Session) -> None:
    before = export_rules(db_session)
    with pytest.raises(ValidationError) as caught:
        import_rules(
            db_session, rules_yaml({"code": "x", "name": "x", "priority": 1, "then": {"department": "no-such"}}), NOW
        )
    assert caught.value.details == {"rules.0.then.department": "no live department no-such"}
    assert export_rules(db_session) == before


def test_import_updates_retires_and_export_round_trips(db_session: Session) -> None:
    first = rules_yaml(
        {"code": "a", "name": "A", "priority": 1, "when": {"category": "E01"}, "then": {"department": "bj-water"}},
        {"code": "b", "name": "B", "priority": 2, "then": {"locality": "sanitation", "auto_dispatch": False}},
    )
    result = import_rules(db_session, first, NOW)
    assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0) and result.retired >= 20  # the demo's
    exported = export_rules(db_session)
    again = import_rules(db_session, exported, NOW)
    assert (again.inserted, again.updated, again.unchanged, again.retired) == (0, 0, 2, 0)
    changed = import_rules(
        db_session,
        rules_yaml(
            {"code": "a", "name": "A", "priority": 5, "when": {"category": "E01"}, "then": {"department": "bj-gas"}}
        ),
        NOW,
    )
    assert (changed.inserted, changed.updated, changed.unchanged, changed.retired) == (0, 1, 0, 1)
    kept = db_session.execute(text("SELECT code, retired_at IS NOT NULL FROM routing_rules WHERE code IN ('a', 'b')"))
    assert dict(kept.all()) == {"a": False, "b": True}  # retired, never deleted
    assert [r.code for r in rule_cache.book(db_session).rules] == ["a"]


# -- routing ------------------------------------------------------------------------------------------------------


def test_demo_rules_route_events_to_the_locality_and_components_by_class(db_session: Session) -> None:
    garbage = where(db_session, "E0102")
    assert garbage["department"] == "110101-sanitation" and garbage["rule"] == "e-sanitation"
    assert garbage["auto_dispatch"] is True and garbage["manual"] is False
    assert where(db_session, "E0102", XICHENG)["department"] == "110102-sanitation"
    assert where(db_session, "C0101")["department"] == "bj-water"
    assert where(db_session, "C0118")["department"] == "110101-roads"
    other = where(db_session, "E0601")
    assert other["department"] == "street-110101005" and other["auto_dispatch"] is False  # 属地兜底, confirmed by hand
    trees = where(db_session, "E0601", description="大风刮断树枝挡路")
    assert trees["department"] == "110101-landscaping" and trees["rule"] == "e-tree-keywords"


def test_the_explanation_says_why_each_rule_failed(db_session: Session) -> None:
    result = where(db_session, "E0102")
    by_rule = {c["rule"]: c for c in result["considered"]}
    assert by_rule["c-water"]["matched"] is False
    assert by_rule["c-water"]["checks"] == [  # in English, and as a reason with its values for the pages
        {
            "condition": "category",
            "ok": False,
            "detail": "E0102 is not under C0101, C0110",
            "why": "category_not_under",
            "args": {"code": "E0102", "prefixes": "C0101, C0110"},
        }
    ]
    assert by_rule["e-sanitation"]["note"].startswith("to 110101-sanitation, the sanitation department")
    assert (by_rule["e-sanitation"]["why"], by_rule["e-sanitation"]["args"]) == (
        "to_locality",
        {"department": "110101-sanitation", "kind": "sanitation"},
    )
    assert by_rule["e-locality"]["matched"] is True  # evaluated too: explain shows every rule
    assert [c["rule"] for c in result["considered"]][:2] == ["c-water", "c-drainage"]


def test_time_windows_wrap_midnight_in_the_city_zone(db_session: Session) -> None:
    night = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    early = datetime(2026, 11, 23, 21, 59, tzinfo=UTC)  # 05:59
    day = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 06:00: the window is [22:00, 06:00)
    assert where(db_session, "E0303", when=night)["rule"] == "e-night-works"
    assert where(db_session, "E0303", when=early)["rule"] == "e-night-works"
    daytime = where(db_session, "E0303", when=day)
    assert daytime["rule"] == "e-enforcement"
    night_rule = next(c for c in daytime["considered"] if c["rule"] == "e-night-works")
    assert night_rule["checks"][-1] == {
        "condition": "time",
        "ok": False,
        "detail": "06:00 outside 22:00–06:00",
        "why": "time_outside",
        "args": {"problems": "06:00 outside 22:00–06:00"},
    }


def test_conditions_area_urgency_source_weekday_and_disabled(db_session: Session) -> None:
    import_rules(
        db_session,
        rules_yaml(
            {"code": "off", "name": "off", "priority": 1, "enabled": False, "then": {"department": "bj-gas"}},
            {
                "code": "xicheng-urgent-hotline",
                "name": "n",
                "priority": 2,
                "when": {"area": "110102", "urgency": "urgent", "source": ["hotline", "public"]},
                "then": {"department": "bj-power"},
            },
            {
                "code": "weekend",
                "name": "n",
                "priority": 3,
                "when": {"time": {"weekdays": [6, 7]}},
                "then": {"department": "bj-drainage"},
            },
        ),
        NOW,
    )
    assert where(db_session, "E0102", XICHENG, urgency="urgent", source="hotline")["department"] == "bj-power"
    assert where(db_session, "E0102", XICHENG, urgency="normal", source="hotline")["manual"] is True
    assert where(db_session, "E0102", FORBIDDEN_CITY, urgency="urgent", source="hotline")["manual"] is True
    saturday = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert where(db_session, "E0102", when=saturday)["department"] == "bj-drainage"
    first = where(db_session, "E0102", when=saturday)["considered"][0]
    assert first == {**first, "rule": "off", "matched": False, "note": "disabled"}


def test_owned_zones_route_to_their_owner(db_session: Session) -> None:
    lon, lat = FORBIDDEN_CITY
    db_session.execute(
        text(
            "INSERT INTO responsibility_zones (code, department_code, name, kind, geom) VALUES"
            " ('t-park', '110101-landscaping', '测试公园', 'park',"
            "  ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 0.001))),"
            " ('t-road', '110101-roads', '测试道路', 'road',"
            "  ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 0.01)))"
        ),
        {"lon": lon, "lat": lat},
    )
    import_rules(
        db_session,
        rules_yaml(
            {
                "code": "roads",
                "name": "n",
                "priority": 1,
                "when": {"zone": {"kind": "road"}},
                "then": {"zone_owner": True},
            },
            {"code": "any-zone", "name": "n", "priority": 2, "then": {"zone_owner": True}},
        ),
        NOW,
    )
    inside = where(db_session, "E0102")
    assert inside["department"] == "110101-roads" and inside["rule"] == "roads"
    assert {z["code"] for z in inside["zones"]} == {"t-park", "t-road"}
    assert inside["considered"][1]["department"] == "110101-landscaping"  # the smallest zone is the most specific
    outside = where(db_session, "E0102", XICHENG)
    assert outside["manual"] is True
    assert outside["considered"][0]["checks"][0]["detail"] == "the point lies in no live zone with kind=road"
    assert outside["considered"][1]["note"] == "the point lies in no department's zone"


def test_locality_prefers_the_street_then_the_district_then_the_city(db_session: Session) -> None:
    assert locality_department(db_session, "street_office", "110101005", "110101") == "street-110101005"
    assert locality_department(db_session, "sanitation", "110101005", "110101") == "110101-sanitation"
    assert locality_department(db_session, "water", "110101005", "110101") == "bj-water"
    assert locality_department(db_session, "sanitation", "990001001", "990001") is None


def test_a_rule_whose_target_is_retired_or_missing_does_not_match(db_session: Session) -> None:
    db_session.execute(text("UPDATE departments SET retired_at = now() WHERE code = '110101-sanitation'"))
    result = where(db_session, "E0102")
    entry = next(c for c in result["considered"] if c["rule"] == "e-sanitation")
    assert entry["matched"] is False and "no sanitation department serves" in entry["note"]
    assert result["rule"] == "e-locality"


def test_the_cache_reloads_when_rules_change(db_session: Session) -> None:
    book = rule_cache.book(db_session)
    assert rule_cache.book(db_session) is book  # unchanged: the same book, no reload
    import_rules(
        db_session, rules_yaml({"code": "only", "name": "n", "priority": 1, "then": {"department": "bj-gas"}}), NOW
    )
    fresh = rule_cache.book(db_session)
    assert fresh is not book and fresh.revision > book.revision and [r.code for r in fresh.rules] == ["only"]


# -- CLI and API --------------------------------------------------------------------------------------------------


def test_cli_import_export_explain(app: Flask, db_session: Session, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    runner = app.test_cli_runner()
    exported = runner.invoke(cli, ["rules", "export"])
    assert exported.exit_code == 0 and "code: e-sanitation" in exported.stdout
    path = tmp_path / "rules.yaml"
    path.write_text(exported.stdout, encoding="utf-8")
    db_session.commit()
    again = runner.invoke(cli, ["rules", "import", str(path)])
    assert again.exit_code == 0 and again.stdout.strip().endswith("0 retired")
    path.write_text("rules: [{code: x}]\n", encoding="utf-8")
    refused = runner.invoke(cli, ["rules", "import", str(path)])
    assert refused.exit_code == 1 and "error: the rules file is not valid" in refused.stderr
    shown = runner.invoke(
        cli,
        [
            "rules",
            "explain",
            "--lon",
            "116.3906",
            "--lat",
            "39.9158",
            "--category",
            "E0303",
            "--at",
            "2026-11-23T23:00",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "→ 110101-enforcement by e-night-works (dispatched at once)" in shown.stdout
    assert "category: E0303 is not under C0101, C0110" in shown.stdout
    outside = runner.invoke(cli, ["rules", "explain", "--lon", "0", "--lat", "0", "--category", "E0102"])
    assert outside.exit_code == 1 and outside.stderr.startswith("error: ")


def test_api_explain_list_export_and_import(client, token_for) -> None:  # type: ignore[no-untyped-def]
    query = {"category_code": "E0102", "lon": 116.3906, "lat": 39.9158}
    shown = client.get("/api/v1/rules/explain", query_string=query, headers=token_for("dispatcher"))
    assert shown.status_code == 200
    assert shown.get_json()["department"] == "110101-sanitation"
    assert client.get("/api/v1/rules/explain", query_string=query, headers=token_for("handler")).status_code == 403
    assert client.get("/api/v1/rules/explain", query_string=query).status_code == 401
    missing = client.get("/api/v1/rules/explain", query_string={"lon": 1}, headers=token_for("dispatcher"))
    assert missing.status_code == 400 and "category_code" in missing.get_json()["error"]["details"]
    listed = client.get("/api/v1/rules", headers=token_for("supervisor")).get_json()
    assert listed[0]["code"] == "c-water" and listed[0]["then"] == {"department": "bj-water"}
    exported = client.get("/api/v1/rules/export", headers=token_for("admin"))
    assert exported.mimetype == "application/yaml"
    body = exported.get_data(as_text=True)
    assert client.put("/api/v1/rules", data=body, headers=token_for("dispatcher")).status_code == 403
    same = client.put("/api/v1/rules", data=body, headers=token_for("admin"))
    assert same.status_code == 200 and same.get_json()["updated"] == 0 and same.get_json()["retired"] == 0
    bad = client.put("/api/v1/rules", data="rules: [{code: x, priority: 1}]", headers=token_for("admin"))
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"rules.0.name", "rules.0.then"}


def test_an_empty_rule_set_is_refused_unless_confirmed(client, token_for, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    admin = token_for("admin")
    live = "SELECT count(*) FROM routing_rules WHERE retired_at IS NULL"
    before = db_session.execute(text(live)).scalar_one()
    assert before > 0
    refused = client.put("/api/v1/rules", data="rules: []", headers=admin)
    assert refused.status_code == 422 and refused.get_json()["error"]["details"] == {"rules": "empty"}
    assert "retire every rule" in refused.get_json()["error"]["message"]
    assert db_session.execute(text(live)).scalar_one() == before
    confirmed = client.put("/api/v1/rules?retire_all=true", data="rules: []", headers=admin)
    assert confirmed.status_code == 200 and confirmed.get_json()["retired"] == before
    assert db_session.execute(text(live)).scalar_one() == 0
