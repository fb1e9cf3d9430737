"""`citymgmt demo unload` and `demo load --if-empty --if-enabled` (what `make run` runs): the demo city taken out of
use without deleting anything, and not brought back by the next start; CITYMGMT_DEMO=0 leaves it out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.errors import ValidationError
from grids.matching import match_cell

FORBIDDEN_CITY = (116.3906, 39.9158)


def invoke(app: Flask, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["demo", *args])


def count(session: Session, sql: str, **params: Any) -> int:
    return int(session.execute(text(sql), params).scalar_one())


def test_unload_retires_the_demo_city_and_keeps_its_cases(
    app: Flask, beijing: None, client, token_for, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # A case reported in the demo city, and a department and accounts of the test's own: the unload leaves them be.
    report = client.post(
        "/api/v1/cases",
        json={"category_code": "E0102", "lon": FORBIDDEN_CITY[0], "lat": FORBIDDEN_CITY[1], "description": "垃圾"},
        headers=token_for("inspector"),
    )
    assert report.status_code == 201, report.get_json()
    case_id = report.get_json()["id"]
    events_before = count(db_session, "SELECT count(*) FROM case_events WHERE case_id = :c", c=case_id)
    cases_before = count(db_session, "SELECT count(*) FROM cases")

    result = invoke(app, monkeypatch, "unload")
    assert result.exit_code == 0, result.output
    assert result.stdout == "demo city unloaded\n"
    assert "cases kept as they are" in result.stderr

    assert count(db_session, "SELECT count(*) FROM cases") == cases_before  # nothing deleted
    assert count(db_session, "SELECT count(*) FROM case_events WHERE case_id = :c", c=case_id) == events_before
    assert count(db_session, "SELECT count(*) FROM areas WHERE left(code, 6) IN ('110101', '110102')") > 0
    assert (
        count(db_session, "SELECT count(*) FROM areas WHERE code IN ('110101', '110102') AND retired_at IS NULL") == 0
    )
    assert (
        count(db_session, "SELECT count(*) FROM grid_cells WHERE left(code, 6) = '110101' AND retired_at IS NULL") == 0
    )
    assert (
        count(db_session, "SELECT count(*) FROM components WHERE district_code = '110101' AND retired_at IS NULL") == 0
    )
    assert count(db_session, "SELECT count(*) FROM departments WHERE code = 'bj-water' AND retired_at IS NULL") == 0
    assert count(db_session, "SELECT count(*) FROM departments WHERE code = 't-water' AND retired_at IS NULL") == 1
    assert count(db_session, "SELECT count(*) FROM routing_rules WHERE code = 'c-water' AND retired_at IS NULL") == 0
    assert count(db_session, "SELECT count(*) FROM users WHERE username = 'admin' AND deactivated_at IS NULL") == 0
    assert (
        count(db_session, "SELECT count(*) FROM users WHERE username = 't-dispatcher' AND deactivated_at IS NULL") == 1
    )
    assert count(db_session, "SELECT count(*) FROM open311_keys WHERE name = 'demo' AND revoked_at IS NULL") == 0
    assert count(db_session, "SELECT count(*) FROM inspector_cells WHERE unassigned_at IS NULL") == 0
    assert count(db_session, "SELECT count(*) FROM audit_log WHERE action = 'demo.unload'") == 1
    with pytest.raises(ValidationError):
        match_cell(db_session, *FORBIDDEN_CITY)  # a report there is now outside the city

    # The next `make run` does not bring it back.
    again = invoke(app, monkeypatch, "load", "--if-empty")
    assert again.exit_code == 0, again.output
    assert again.stdout == "demo city not loaded: the database holds another city\n"
    assert count(db_session, "SELECT count(*) FROM areas WHERE code = '110101' AND retired_at IS NULL") == 0


def test_make_runs_load_leaves_the_demo_out_when_it_is_turned_off(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.extensions["citymgmt.settings"]
    monkeypatch.setitem(app.extensions, "citymgmt.settings", dataclasses.replace(settings, demo=False))
    before = count(db_session, "SELECT count(*) FROM areas")
    result = invoke(app, monkeypatch, "load", "--if-empty", "--if-enabled")
    assert result.exit_code == 0, result.output
    assert result.stdout == "demo city not loaded: CITYMGMT_DEMO is off\n"
    assert count(db_session, "SELECT count(*) FROM areas") == before


def test_the_demo_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from citymgmt.core.config import ConfigError, Settings

    monkeypatch.setenv("CITYMGMT_DEMO", "0")
    assert Settings.from_env().demo is False
    monkeypatch.setenv("CITYMGMT_DEMO", "maybe")
    with pytest.raises(ConfigError, match="CITYMGMT_DEMO"):
        Settings.from_env()
    monkeypatch.delenv("CITYMGMT_DEMO")
    monkeypatch.setenv("CITYMGMT_LEVEL_NAMES", "Council,Area")
    with pytest.raises(ConfigError, match="CITYMGMT_LEVEL_NAMES"):
        Settings.from_env()
    monkeypatch.setenv("CITYMGMT_LEVEL_NAMES", "Council, Area ,Block")
    assert Settings.from_env().level_names == ("Council", "Area", "Block")


def test_the_demo_loads_again_on_purpose_after_an_unload(
    app: Flask, beijing: None, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(app, monkeypatch, "unload").exit_code == 0
    result = invoke(app, monkeypatch, "load")
    assert result.exit_code == 0, result.output
    assert result.stdout == "demo city loaded\n"
    assert count(db_session, "SELECT count(*) FROM areas WHERE code = '110101' AND retired_at IS NULL") == 1
    assert count(db_session, "SELECT count(*) FROM departments WHERE code = 'bj-water' AND retired_at IS NULL") == 1
    assert count(db_session, "SELECT count(*) FROM users WHERE username = 'admin' AND deactivated_at IS NULL") == 1
    assert count(db_session, "SELECT count(*) FROM routing_rules WHERE code = 'c-water' AND retired_at IS NULL") == 1
    assert match_cell(db_session, *FORBIDDEN_CITY).district_code == "110101"
