"""`citymgmt users import FILE`: accounts in bulk, all or nothing, every bad row named; a generated password is
printed once and a given one never; every account audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citymgmt.cli import cli
from citymgmt.core.audit import AuditEntry
from citymgmt.core.identity import User, authenticate

GIVEN = "a-given-long-password"


def run(app: Flask, monkeypatch: pytest.MonkeyPatch, path: Path) -> Any:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    return app.test_cli_runner().invoke(cli, ["users", "import", str(path)])


def test_a_good_file_creates_every_account_and_prints_only_generated_passwords(
    app: Flask, db_session: Session, department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "username,display_name,role,department,password\n"
        f"t-ops,受理员 甲,operator leader,,{GIVEN}\n"
        f"t-fixer,处置人员 乙,handler,{department},\n"
        f",,handler,{department},\n",  # the department's conventional handler account
        encoding="utf-8",
    )
    done = run(app, monkeypatch, path)
    assert done.exit_code == 0, done.output
    assert "created 3 users (2 with generated passwords)" in done.stderr
    assert GIVEN not in done.output  # a given password is never printed
    printed = dict(line.split("\t") for line in done.stdout.splitlines())
    assert set(printed) == {"t-fixer", f"handler-{department}"}
    assert authenticate(db_session, "t-fixer", printed["t-fixer"]).department_code == department
    assert authenticate(db_session, "t-ops", GIVEN).roles == ["operator", "leader"]
    audited = db_session.execute(
        select(AuditEntry.target, AuditEntry.details).where(AuditEntry.action == "user.create")
    ).all()
    assert {target for target, _ in audited} == {"t-ops", "t-fixer", f"handler-{department}"}
    assert all(printed.get(target, GIVEN) not in str(details) for target, details in audited)
    assert db_session.execute(select(AuditEntry.details).where(AuditEntry.action == "user.import")).scalar_one() == {
        "created": 3
    }


def test_bad_rows_are_named_and_no_account_is_created(
    app: Flask, db_session: Session, department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "username,role,department,password\n"
        f"t-good,operator,,{GIVEN}\n"
        f"t-wizard,wizard,,{GIVEN}\n"  # line 3: role
        f"t-orphan,handler,,{GIVEN}\n"  # line 4: no department
        "t-short,operator,,short\n"  # line 5: password
        f"t-good,leader,,{GIVEN}\n"  # line 6: repeated
        f"t-lost,handler,no-such-department,{GIVEN}\n",  # line 7
        encoding="utf-8",
    )
    before = db_session.execute(text("SELECT count(*) FROM users")).scalar_one()
    done = run(app, monkeypatch, path)
    assert done.exit_code == 1
    assert "error: 5 of 6 rows refused; no account was created" in done.stderr
    for expected in (
        "line 3: role: roles must be among",
        "line 4: department: a handler belongs to a department",
        "line 5: password: password must be at least 10 characters",
        "line 6: username: t-good repeats line 2",
        "line 7: department: no department no-such-department",
    ):
        assert expected in done.stderr
    assert GIVEN not in done.output
    assert db_session.execute(text("SELECT count(*) FROM users")).scalar_one() == before
    assert db_session.execute(select(User.id).where(User.username == "t-good")).first() is None


def test_a_file_that_is_not_a_users_file_is_refused(
    app: Flask, db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("name,email\nx,y\n", encoding="utf-8")
    done = run(app, monkeypatch, path)
    assert done.exit_code == 1
    assert "the CSV header is not a users header" in done.stderr
    assert "missing username, role" in done.stderr
