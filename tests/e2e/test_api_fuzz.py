"""Schemathesis over /api/v1/openapi.json: every operation, signed in, generated inputs: never a 5xx, and every
response as the document describes it (status code, content type, body schema)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from citymgmt.core.db import db

EXAMPLES = int(os.environ.get("CITYMGMT_FUZZ_EXAMPLES", "65"))  # over 1,000 requests in all

pytestmark = pytest.mark.usefixtures("beijing")


def test_every_operation_survives_generated_input(app, db_session, redis, clock, token_for) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = token_for("admin")
    problems: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

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
            response = case.call(headers=headers)
            db.session.rollback()  # each request starts again from the test's state
            label = f"{case.method} {case.formatted_path}"
            if response.status_code >= 500:
                problems.append(f"{label}: {response.status_code} {response.text[:300]}")
                return
            try:
                case.validate_response(response)
            except Exception as exc:  # a response the document does not describe
                problems.append(f"{label}: {response.status_code} {str(exc).splitlines()[0][:300]}")

        run()
    print(f"{calls} generated requests over {len(operations)} operations")
    assert calls >= min(1000, 15 * EXAMPLES), calls  # hypothesis ran them, not fewer
    assert not problems, "\n".join(sorted(set(problems))[:40])
