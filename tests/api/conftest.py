"""API fixtures: users of every role, and a client that signs in as one of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from citymgmt.core.identity import ALL_ROLES, create_user

PASSWORD = "a-good-long-password"


@pytest.fixture
def department(db_session) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    db_session.execute(
        text(
            "INSERT INTO departments (code, name, name_en, kind) VALUES ('t-water', '测试供水', 'Test water', 'water')"
        )
    )
    return "t-water"


@pytest.fixture
def make_user(db_session, department: str) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def make(username: str, *roles: str) -> Any:
        dept = department if "handler" in roles else None
        return create_user(db_session, username, PASSWORD, list(roles), department_code=dept)

    return make


@pytest.fixture
def users(make_user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {role: make_user(f"t-{role}", role) for role in ALL_ROLES}


@pytest.fixture
def token_for(client: FlaskClient, users) -> Callable[[str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """Authorization headers of a freshly signed-in user of the role."""

    def sign_in(role: str) -> dict[str, str]:
        response = client.post("/api/v1/auth/token", json={"username": f"t-{role}", "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    return sign_in
