"""The taxonomy: versioned reference data holding DOMAIN.md's examples, loaded whole or not at all, searchable."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from citymgmt.core.errors import ValidationError
from citymgmt.demo import FIXTURES
from dispatch.taxonomy.operations import check_taxonomy, current_version, load_taxonomy, search_categories

pytestmark = pytest.mark.usefixtures("beijing")
DEMO = FIXTURES / "taxonomy" / "cjt214-2007-demo.json"

# DOMAIN.md §4: every example class, by family, with its Chinese name.
COMPONENTS = {
    "C0101": "上水井盖", "C0102": "污水井盖", "C0103": "雨水井盖", "C0104": "雨水箅子", "C0118": "路灯",
    "C0201": "停车场", "C0203": "公交站亭", "C0209": "交通标志牌", "C0211": "交通护栏", "C0214": "交通信号灯",
    "C0301": "公共厕所", "C0305": "垃圾箱", "C0402": "行道树", "C0405": "绿地",
}  # fmt: skip
EVENTS = {
    "E0101": "私搭乱建", "E0102": "暴露垃圾", "E0103": "积存垃圾渣土", "E0104": "道路不洁", "E0201": "非法小广告",
    "E0302": "工地扬尘", "E0304": "施工占道", "E0401": "路面塌陷", "E0402": "自来水管破裂", "E0406": "道路积水",
    "E0501": "无照经营游商", "E0504": "店外经营", "E0505": "机动车乱停放", "E0507": "乱堆物堆料", "E0510": "露天烧烤",
}  # fmt: skip
MAJORS = {"C01", "C02", "C03", "C04", "C05", "C06", "E01", "E02", "E03", "E04", "E05"}

# DOMAIN.md §5's example limits: (code, urgency) → (amount, type).
LIMITS = {
    ("C0102", "urgent"): (2, "urgent_hours"),  # missing sewer manhole cover: 2 h, urgent
    ("E0102", "normal"): (4, "working_hours"),  # exposed garbage
    ("E0104", "normal"): (2, "working_hours"),  # dirty road
    ("E0406", "normal"): (4, "working_hours"),  # waterlogged road
    ("E0510", "normal"): (2, "urgent_hours"),  # open-air barbecue: handled within 2 h
    ("C0118", "normal"): (1, "working_days"),  # street lamps out
    ("E0101", "urgent"): (4, "working_hours"),  # illegal structure: stop work
    ("E0101", "normal"): (20, "working_days"),  # illegal structure: removal
    ("E0103", "normal"): (2, "working_days"),  # piled spoil
}


def by_code(session) -> dict:  # type: ignore[no-untyped-def]
    return {c.code: c for c in search_categories(session)}


def test_the_demo_taxonomy_holds_every_domain_example(db_session) -> None:  # type: ignore[no-untyped-def]
    cats = by_code(db_session)
    for code, name in {**COMPONENTS, **EVENTS}.items():
        assert code in cats and cats[code].name == name, code
        assert cats[code].family == ("component" if code[0] == "C" else "event")
        assert cats[code].filing_criteria and cats[code].closing_criteria and cats[code].name_en
    assert {c.code for c in cats.values() if c.level == "major"} >= MAJORS


@pytest.mark.parametrize(("key", "limit"), sorted(LIMITS.items()))
def test_the_domain_time_limits(db_session, key, limit) -> None:  # type: ignore[no-untyped-def]
    code, urgency = key
    limits = {item["urgency"]: (item["amount"], item["type"]) for item in by_code(db_session)[code].time_limits}
    assert limits[urgency] == limit


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=井盖", {"C0101", "C0102", "C0103", "C0105", "C0106", "C0107"}),
        ("q=E05", {"E05", "E0501", "E0504", "E0505", "E0506", "E0507", "E0510"}),
        ("q=c0102", {"C0102"}),
        ("q=Illegal%20parking", {"E0505"}),
        ("q=烧烤", {"E0510"}),
        ("q=%25", set()),
        ("q=_", set()),
    ],
)
def test_search_by_code_name_and_keyword(client, token_for, query: str, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/categories?{query}", headers=token_for("inspector"))
    assert response.status_code == 200
    assert {c["code"] for c in response.get_json()} == expected


def test_a_category_as_the_api_gives_it(client, token_for) -> None:  # type: ignore[no-untyped-def]
    [sewer] = client.get("/api/v1/categories?q=C0102", headers=token_for("operator")).get_json()
    assert sewer["version"] == "cjt214-2007-demo" and sewer["parent"] == "C01" and sewer["level"] == "minor"
    assert {"urgency": "urgent", "amount": 2.0, "type": "urgent_hours"} in sewer["time_limits"]
    events = client.get("/api/v1/categories?family=event", headers=token_for("operator")).get_json()
    assert events and all(c["family"] == "event" for c in events)


def test_categories_need_a_signed_in_caller_and_valid_filters(client, token_for) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/categories").status_code == 401
    bad = client.get("/api/v1/categories?family=weather", headers=token_for("inspector"))
    assert bad.status_code == 400 and "family" in bad.get_json()["error"]["details"]


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def demo_doc() -> dict:
    return json.loads(DEMO.read_text(encoding="utf-8"))


def test_a_new_version_can_be_loaded_beside_and_made_current(db_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = demo_doc()
    doc["version"] = "gbt30428-2013-demo"
    doc["categories"] = [c for c in doc["categories"] if c["code"] != "E0510"]  # the new edition drops a class
    load_taxonomy(db_session, write(tmp_path, doc), make_current=False)
    assert current_version(db_session) == "cjt214-2007-demo"
    assert "E0510" not in {c.code for c in search_categories(db_session, version="gbt30428-2013-demo")}
    load_taxonomy(db_session, write(tmp_path, doc))
    assert current_version(db_session) == "gbt30428-2013-demo"
    assert "E0510" not in by_code(db_session)
    # The old version stays, for the cases filed under it.
    assert "E0510" in {c.code for c in search_categories(db_session, version="cjt214-2007-demo")}


def test_reloading_a_version_is_idempotent(db_session) -> None:  # type: ignore[no-untyped-def]
    before = db_session.execute(text("SELECT count(*) FROM categories")).scalar_one()
    load_taxonomy(db_session, DEMO)
    assert db_session.execute(text("SELECT count(*) FROM categories")).scalar_one() == before


def _broken(change) -> dict:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(demo_doc())
    change(doc)
    return doc


def _minor(doc: dict, code: str) -> dict:
    return next(c for c in doc["categories"] if c["code"] == code)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("version"), "document: missing version"),
        (lambda d: d.update(version="Bad Version"), "version: 1-40 lowercase"),
        (lambda d: d.update(effective_from="soon"), "effective_from: must be a date"),
        (lambda d: _minor(d, "E0102").update(code="E102"), "code must be C or E and 4 digits"),
        (lambda d: _minor(d, "E0102").update(family="component"), "codes of components start with C"),
        (lambda d: _minor(d, "E0102").update(code="E0101"), "(E0101): code repeated"),
        (lambda d: _minor(d, "E0102").update(name="", name_en=""), "(E0102): missing name (or name_en)"),
        (lambda d: _minor(d, "E0102").update(level="tiny"), "level must be major or minor"),
        (lambda d: _minor(d, "E0102").update(time_limits=[]), "(E0102): a minor class needs time_limits"),
        (lambda d: _minor(d, "E0102")["time_limits"][0].update(type="fortnights"), "limit type must be one of"),
        (lambda d: _minor(d, "E0102")["time_limits"][0].update(amount=0), "amount must be a number above 0"),
        (lambda d: _minor(d, "E0102")["time_limits"][0].update(urgency="urgent"), "needs a normal time limit"),
        (lambda d: d.update(categories=[c for c in d["categories"] if c["code"] != "E05"]), "major class E05 is not"),
    ],
)
def test_a_bad_taxonomy_is_refused_whole(db_session, tmp_path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    before = db_session.execute(text("SELECT count(*), max(name) FROM categories")).one()
    doc = _broken(change)
    assert any(message in str(p) for p in check_taxonomy(doc)), check_taxonomy(doc)
    with pytest.raises(ValidationError, match="taxonomy refused, nothing was changed"):
        load_taxonomy(db_session, write(tmp_path, _broken(change)))
    assert db_session.execute(text("SELECT count(*), max(name) FROM categories")).one() == before


def test_cli_loads_and_refuses(app, db_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    runner = app.test_cli_runner()
    ok = runner.invoke(cli, ["taxonomy", "load", str(DEMO)])
    assert ok.exit_code == 0 and "taxonomy cjt214-2007-demo: 62 categories loaded, current" in ok.output
    (tmp_path / "bad.json").write_text("{not json")
    bad = runner.invoke(cli, ["taxonomy", "load", str(tmp_path / "bad.json")])
    assert bad.exit_code == 1 and "not a readable JSON file" in bad.output


# A city's own taxonomy in English alone, with one default time limit per major class.
CITY = {
    "version": "la-2026",
    "name_en": "Los Angeles request types",
    "effective_from": "2026-01-01",
    "categories": [
        {"code": "E01", "family": "event", "level": "major", "name_en": "Sanitation",
         "time_limits": [{"urgency": "normal", "amount": 3, "type": "working_days"},
                         {"urgency": "urgent", "amount": 4, "type": "urgent_hours"}]},
        {"code": "E0101", "family": "event", "level": "minor", "name_en": "Bulky Items"},
        {"code": "E0102", "family": "event", "level": "minor", "name_en": "Dead Animal Removal",
         "time_limits": [{"urgency": "normal", "amount": 8, "type": "working_hours"}]},
        {"code": "E02", "family": "event", "level": "major", "name_en": "Graffiti"},
        {"code": "E0201", "family": "event", "level": "minor", "name": "涂鸦清除", "name_en": "Graffiti Removal",
         "time_limits": [{"urgency": "normal", "amount": 2, "type": "working_days"}]},
    ],
}  # fmt: skip


def test_english_names_alone_and_a_default_limit_per_major_class(db_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert check_taxonomy(CITY) == []
    load_taxonomy(db_session, write(tmp_path, CITY))
    cats = by_code(db_session)
    assert (cats["E0101"].name, cats["E0101"].name_en) == ("Bulky Items", "Bulky Items")  # shown as given
    assert (cats["E0201"].name, cats["E0201"].name_en) == ("涂鸦清除", "Graffiti Removal")
    assert cats["E0101"].time_limits == CITY["categories"][0]["time_limits"]  # the major class's
    assert cats["E0102"].time_limits == [{"urgency": "normal", "amount": 8, "type": "working_hours"}]  # its own
    version = db_session.execute(text("SELECT name, name_en FROM taxonomy_versions WHERE code = 'la-2026'")).one()
    assert tuple(version) == ("Los Angeles request types", "Los Angeles request types")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Graffiti gives no default: its minor classes need their own.
        (lambda d: d["categories"][4].pop("time_limits"), "(E0201): a minor class needs time_limits"),
        (lambda d: d["categories"][1].update(name_en=""), "(E0101): missing name (or name_en)"),
        (lambda d: d.pop("name_en"), "document: missing name (or name_en)"),
        (lambda d: d["categories"][0].update(time_limits=[]), "(E01): a major class's time_limits are not empty"),
        (lambda d: d["categories"][0]["time_limits"][0].update(urgency="urgent"), "(E01): an urgency is given twice"),
    ],
)
def test_a_city_taxonomy_is_checked(change, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(CITY)
    change(doc)
    assert any(message in str(p) for p in check_taxonomy(doc)), check_taxonomy(doc)
