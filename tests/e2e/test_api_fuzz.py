"""Schemathesis over /api/v1/openapi.json as each role: every operation, generated inputs: never a 5xx, and every
response as the document describes it (status code, content type, body schema, headers; and a 2xx only with the
credentials the operation's security asks for).

Derandomised: the same document gives the same inputs. Generated case ids that are small numbers are mapped onto a
few real cases the role may see (a hotline call, a report, a case dispatched to the handler's department), and a
small generated If-Match onto the case's real version, so that actions reach the state machine and not only 404s."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks
from sqlalchemy import text

from citymgmt.core.db import db
from citymgmt.core.identity import ALL_ROLES

EXAMPLES = int(os.environ.get("CITYMGMT_FUZZ_EXAMPLES", "30"))  # per operation and role: over 1,000 requests a role
MIN_REQUESTS = min(1000, 25 * EXAMPLES)
FORBIDDEN_CITY = {"lon": 116.3906, "lat": 39.9158}
CALL = {"category_code": "E0102", **FORBIDDEN_CITY, "description": "市民来电：路边暴露垃圾", "source": "hotline"}

# The document's promises: no 5xx; status codes, content types, bodies and headers as documented; a 2xx only with
# the credentials the operation's security asks for. Not whether schema-valid data is accepted: a report of an unknown
# category or a move the state machine forbids now is valid JSON and rightly refused (422), which no schema can say.
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.ignored_auth,
]

pytestmark = pytest.mark.usefixtures("beijing")


@pytest.fixture
def real_cases(client, token_for, users, db_session) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Three cases (id → version): a fresh hotline call, an inspector's report, one dispatched to t-water."""

    def act(case: dict[str, Any], role: str, action: str, **body: Any) -> dict[str, Any]:
        headers = {**token_for(role), "If-Match": str(case["version"])}
        response = client.post(f"/api/v1/cases/{case['id']}/actions/{action}", json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result

    def report(role: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/api/v1/cases", json=body, headers=token_for(role))
        assert response.status_code == 201, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result

    called = report("operator", CALL)
    reported = report("inspector", {"category_code": "E0102", **FORBIDDEN_CITY, "description": "暴露垃圾"})
    dispatched = report("operator", {**CALL, "description": "市民来电：井盖缺失"})
    db_session.execute(  # the test inspector walks the cell, and verifies the call there
        text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, now())"),
        {"u": users["inspector"].id, "c": dispatched["cell_code"]},
    )
    for role, action, body in (
        ("operator", "request_verification", {}),
        ("inspector", "verify", {"result": "pass"}),
        ("leader", "file", {}),
        ("dispatcher", "dispatch", {"department": "t-water"}),
    ):
        dispatched = act(dispatched, role, action, **body)
    return {case["id"]: case["version"] for case in (called, reported, dispatched)}


@pytest.mark.parametrize("role", [str(role) for role in ALL_ROLES])
def test_every_operation_survives_generated_input(role, app, db_session, redis, clock, token_for, real_cases) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = token_for(role)
    db_session.commit()
    connection = db_session.get_bind()
    ids = list(real_cases)
    problems: list[str] = []
    calls = 0
    statuses: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    started = time.monotonic()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            aim_at_real_cases(case, ids, real_cases)
            # The app commits (savepoint releases, see db_session): only a savepoint of the test's own, rolled back
            # after each request, brings the next one back to the test's state (the first DELETE /auth/token would
            # otherwise sign the role out for the rest of the run).
            savepoint = connection.begin_nested()
            response = case.call(headers=headers)
            statuses[f"{case.method} {case.operation.path} {response.status_code}"] += 1
            label = f"{role}: {case.method} {case.formatted_path}"
            try:
                if response.status_code >= 500:
                    problems.append(f"{label}: {response.status_code} {response.text[:300]}")
                    return
                case.validate_response(response, checks=CHECKS, headers=headers)  # the headers are ours
            except (Failure, FailureGroup) as failure:  # a response the document does not describe
                for each in failure.exceptions if isinstance(failure, FailureGroup) else [failure]:
                    problems.append(f"{label}: {response.status_code} {each.title}: {each.message[:300]}")
            finally:
                db.session.rollback()
                savepoint.rollback()

        run()
    seconds = time.monotonic() - started
    answered = Counter(f"{key.rsplit(' ', 1)[1][0]}xx" for key in statuses.elements())
    print(f"{role}: {calls} generated requests over {len(operations)} operations in {seconds:.1f} s", dict(answered))
    if os.environ.get("CITYMGMT_FUZZ_STATUSES"):
        print("\n".join(f"  {key}: {n}" for key, n in sorted(statuses.items())))
    assert calls >= MIN_REQUESTS, calls  # hypothesis ran them, not fewer
    assert not problems, "\n".join(sorted(set(problems))[:40])


def aim_at_real_cases(case: Any, ids: list[int], versions: dict[int, int]) -> None:
    """A small generated case id becomes one of the real cases; a small If-Match its real version."""
    path = case.path_parameters or {}
    generated = path.get("case_id")
    if not isinstance(generated, int) or not 0 <= generated < 3 * len(ids):
        return
    path["case_id"] = ids[generated % len(ids)]
    if_match = (case.headers or {}).get("If-Match")
    if isinstance(if_match, str) and re.fullmatch(r'(W/)?"?[0-9]"?', if_match):
        case.headers["If-Match"] = f'"{versions[path["case_id"]]}"'
