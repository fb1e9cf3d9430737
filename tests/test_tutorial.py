"""docs/own-city.md followed step by step: every `citymgmt` line of its shell blocks run as its own process, in order,
in a directory of its own with the files the page shows by name (`citymgmt.env`, `users.csv`) and the repository's
fixtures; the outputs it quotes (a `# ...` line after a command, `...` for what varies) checked. Then what the page
says of the result: the rules route at least 99 % of the located Los Angeles requests to their real `Owner`, and the
inspector's first report through the API (the page's curl, made here by the app's test client on the same database
and configuration) is routed to the department the page names; the supervisor's big screen opens."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from sqlalchemy import text

from citymgmt.core.db import db
from dispatch.routing.match import Facts, route
from dispatch.routing.rules import rule_cache
from tests.conftest import REPO, make_test_app
from tests.la311 import DEPARTMENTS, located, records
from tests.web.test_sessions import sign_in

if TYPE_CHECKING:
    from tests.conftest import TestServers

DOC = REPO / "docs/own-city.md"
BIN = REPO / ".venv/bin"
REDIS_DB = 11  # of its own: the commands' processes may queue jobs there; emptied after the test
# A fenced block: its language, the file it is (if named) and its text.
BLOCK = re.compile(r"^```(\w+)(?: +(\S+))?\n(.*?)^```", re.M | re.S)


def doc_steps() -> list[tuple[str, str, list[str]]]:
    """("file", name, [text]) for a named block; ("run", command, [quoted output lines]) for each `citymgmt` line."""
    steps: list[tuple[str, str, list[str]]] = []
    for lang, name, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        if name:
            steps.append(("file", name, [body]))
            continue
        if lang != "sh":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if line.startswith("citymgmt "):
                steps.append(("run", line, []))
            elif line.startswith("# ") and steps and steps[-1][0] == "run":
                steps[-1][2].append(line[2:])
    return steps


def run(command: str, cwd: Path, env: dict[str, str]) -> str:
    argv = shlex.split(command, comments=True)  # a line may end with a comment (`# ...`)
    out_file = None
    if ">" in argv:  # `... > passwords.tsv`
        out_file = cwd / argv[argv.index(">") + 1]
        argv = argv[: argv.index(">")]
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    if out_file is not None:
        out_file.write_text(done.stdout, encoding="utf-8")
    return done.stdout + done.stderr


def quoted(expected: str, output: str) -> bool:
    """Each part of the quoted line (split at `...`) is in the output, in order."""
    at = 0
    for part in (p.strip(" ,") for p in expected.split("...")):
        found = output.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def test_the_doc_has_the_steps_the_test_relies_on() -> None:
    steps = doc_steps()
    assert [s[1] for s in steps if s[0] == "file"] == ["citymgmt.env", "users.csv"]
    commands = [s[1].split()[1] for s in steps if s[0] == "run"]
    for needed in ("grids", "calendar", "taxonomy", "departments", "users", "rules", "cases"):
        assert needed in commands
    assert "shell" not in commands and "psql" not in DOC.read_text(encoding="utf-8")
    assert "(docs/own-city.md)" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def redis_of_its_own(servers: TestServers) -> Iterator[None]:
    yield
    redis_lib.Redis.from_url(servers.redis.url(db=REDIS_DB)).flushdb()


@pytest.mark.usefixtures("redis_of_its_own")
def test_set_up_los_angeles_as_the_tutorial_says(servers: TestServers, tmp_path: Path) -> None:
    database_url = servers.create_database("citymgmt_tutorial")  # empty: the page's `db upgrade` makes the schema
    (tmp_path / "fixtures").symlink_to(REPO / "fixtures")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CITYMGMT_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": servers.redis.url(db=REDIS_DB),
        "CITYMGMT_VAR_DIR": str(tmp_path / "var"),
        "CITYMGMT_PASSWORD_HASH_PROFILE": "cheapest",  # passwords here protect nothing
    }
    started = time.perf_counter()
    timings = []
    for kind, what, expected in doc_steps():
        if kind == "file":
            (tmp_path / what).write_text(expected[0], encoding="utf-8")
            continue
        step_started = time.perf_counter()
        output = run(what, tmp_path, env)
        timings.append(f"{time.perf_counter() - step_started:5.1f} s  {what[:70]}")
        for line in expected:
            assert quoted(line, output), f"{what}\nexpected: {line}\ngot:\n{output}"
        if what == "citymgmt config show":
            assert re.search(r"^CITYMGMT_TIMEZONE=America/Los_Angeles +# .*citymgmt\.env$", output, re.M), output
            assert re.search(r"^CITYMGMT_HOLIDAYS=none ", output, re.M), output
    print("\n".join(timings), f"\nthe page's commands: {time.perf_counter() - started:.1f} s")

    # The same configuration as the commands read from citymgmt.env.
    app = make_test_app(
        servers,
        database_url,
        redis_db=REDIS_DB,
        timezone="America/Los_Angeles",
        holidays="none",
        default_locale="en",
        demo=False,
    )
    zone = ZoneInfo("America/Los_Angeles")
    rows = [r for r in records() if located(r)]
    assert len(rows) == 8246
    owner = {r["SRNumber"]: DEPARTMENTS[r["Owner"]] for r in rows}
    with app.app_context():
        session = db.session()
        imported = session.execute(
            text(
                "SELECT external_id, category_code, cell_code, street_code, district_code, source, reported_at,"
                " ST_X(point), ST_Y(point) FROM cases WHERE external_system = 'la311'"
            )
        ).all()
        book = rule_cache.book(session)
        routed = {}
        for sr, category, cell, street, district, source, at, lon, lat in imported:
            facts = Facts(category, "event", cell, street, district, None, "", source, at, zone, lon, lat)
            routed[sr] = route(session, book, facts).department_code
        session.rollback()
        assert session.execute(text("SELECT count(*) FROM users WHERE username = 'handler-la-bos'")).scalar() == 1
    agreed = sum(1 for sr, department in owner.items() if routed.get(sr) == department)
    print(f"routed to their owner: {agreed} of {len(rows)} located requests ({agreed / len(rows):.2%})")
    assert agreed >= 0.99 * len(rows), (agreed, len(rows))

    # The first report: the inspector, with her password from passwords.tsv, through the API.
    passwords = dict(line.split("\t") for line in (tmp_path / "passwords.tsv").read_text().splitlines() if "\t" in line)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "ana", "password": passwords["ana"]}).get_json()[
        "token"
    ]
    response = client.post(
        "/api/v1/cases",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "tutorial-first-report"},
        json={
            "category_code": "E0401",
            "lon": -118.2468,
            "lat": 34.0407,
            "description": "Water running down the gutter",
        },
    )
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert "la-ladwp" in (case.get("department_code"), case.get("suggested_department_code")), case
    assert "`la-ladwp`" in DOC.read_text(encoding="utf-8")
    assert str(case.get("district_code")).startswith("900"), case  # a council: codes assigned from 900004 on

    # The big screen, for the supervisor.
    page = app.test_client()
    assert sign_in(page, "sam", passwords["sam"]).status_code == 302
    dashboard = page.get("/dashboard/")
    assert dashboard.status_code == 200
    assert '<html lang="en"' in dashboard.get_data(as_text=True)  # CITYMGMT_LOCALE=en
