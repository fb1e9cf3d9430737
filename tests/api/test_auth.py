"""Signing in, tokens, and the one access check every endpoint goes through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from citymgmt.core.access import policy_of
from citymgmt.core.errors import Conflict, ValidationError
from citymgmt.core.identity import ApiToken, Unauthenticated, User, authenticate, create_user
from tests.conftest import PASSWORD


def test_sign_in_gives_a_token_that_works_until_revoked(client, users, clock) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/auth/token", json={"username": "t-inspector", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"] == {
        "username": "t-inspector",
        "display_name": "t-inspector",
        "roles": ["inspector"],
        "department_code": None,
    }
    assert body["expires_at"].startswith((clock.now() + timedelta(hours=12)).isoformat()[:16])
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).get_json()["username"] == "t-inspector"
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    after = client.get("/api/v1/auth/me", headers=headers)
    assert after.status_code == 401
    assert after.get_json()["error"]["message"] == "the token is invalid, expired or revoked: sign in again"


def test_tokens_are_stored_only_as_digests(client, users, db_session) -> None:  # type: ignore[no-untyped-def]
    token = client.post("/api/v1/auth/token", json={"username": "t-admin", "password": PASSWORD}).get_json()["token"]
    stored = db_session.execute(select(ApiToken.token_hash)).scalars().all()
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_an_expired_token_is_refused(client, users, clock) -> None:  # type: ignore[no-untyped-def]
    token = client.post("/api/v1/auth/token", json={"username": "t-admin", "password": PASSWORD}).get_json()["token"]
    clock.advance(hours=12, seconds=1)
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"username": "t-admin", "password": "wrong-password"}, 401, "wrong username or password"),
        ({"username": "nobody-here", "password": PASSWORD}, 401, "wrong username or password"),
        ({"username": "T-ADMIN ", "password": PASSWORD}, 201, None),
        ({"username": "t-admin"}, 422, "invalid password"),
        ({"password": PASSWORD}, 422, "invalid username"),
        ({"username": "", "password": PASSWORD}, 422, "invalid username"),
    ],
)
def test_sign_in_failures_say_little_and_the_same(client, users, body, status: int, message: str | None) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == status
    if message:
        assert response.get_json()["error"]["message"] == message


def test_a_deactivated_user_cannot_sign_in_or_use_old_tokens(client, users, db_session, clock) -> None:  # type: ignore[no-untyped-def]
    token = client.post("/api/v1/auth/token", json={"username": "t-leader", "password": PASSWORD}).get_json()["token"]
    users["leader"].deactivated_at = clock.now()
    db_session.flush()
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = client.post("/api/v1/auth/token", json={"username": "t-leader", "password": PASSWORD})
    assert again.status_code == 401


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic dXNlcjpwYXNz", "Authorization must be 'Bearer <token>'"),
        ("Bearer ", "Authorization must be 'Bearer <token>'"),
        ("Bearer not-a-token", "the token is invalid, expired or revoked: sign in again"),
    ],
)
def test_bad_authorization_headers(client, header: str, message: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == message
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="citymgmt"'


def test_without_a_token_the_api_says_how_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/grids/match?lon=116.39&lat=39.91")
    assert response.status_code == 401
    assert "POST /api/v1/auth/token" in response.get_json()["error"]["message"]


def test_every_route_declares_who_may_call_it(app: Flask) -> None:
    missing = [rule.endpoint for rule in app.url_map.iter_rules() if policy_of(app, rule.endpoint) is None]
    assert missing == [], f"endpoints without an access policy: {missing}"


def test_an_endpoint_without_a_policy_is_refused(servers, database_url) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_test_app

    app = make_test_app(servers, database_url)

    @app.get("/forgotten")
    def forgotten() -> str:
        return "secret"

    response = app.test_client().get("/forgotten")
    assert response.status_code == 403
    assert response.get_json()["error"]["message"] == "this endpoint has no access policy"


def test_public_endpoints_are_few_and_known(app: Flask) -> None:
    public = sorted(
        rule.endpoint for rule in app.url_map.iter_rules() if (p := policy_of(app, rule.endpoint)) and p.public
    )
    assert public == [
        "api-docs.openapi_json",
        "api-docs.openapi_swagger_ui",
        "auth.create_token",
        "favicon",  # the site's icon, asked for by browsers on every page
        "health.healthz",
        # The inspector app's manifest and service worker: browsers fetch them without the session.
        "mobile.manifest",
        "mobile.service_worker",
        # Open311 GeoReport v2: public by the specification; its POSTs check their api_key themselves.
        "open311.discovery",
        "open311.get_request",
        "open311.get_requests",
        "open311.get_token",
        "open311.get_updates",
        "open311.media",
        "open311.post_request",
        "open311.post_update",
        "open311.service_definition",
        "open311.services",
        "open311.unknown",
        "static",
        "web.login",
        "web.logout",
    ]


def test_passwords_are_hashed_with_argon2id_and_checked(db_session, users) -> None:  # type: ignore[no-untyped-def]
    user = db_session.execute(select(User).where(User.username == "t-admin")).scalar_one()
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert authenticate(db_session, "t-admin", PASSWORD).id == user.id


def test_a_hash_of_another_cost_profile_is_rehashed_at_sign_in(app: Flask, db_session, users) -> None:  # type: ignore[no-untyped-def]
    """A real system hashes with RFC 9106's low-memory parameters; a password hashed under another profile (here the
    suite's own cheap one, or an older default) is re-hashed under the system's at the next sign-in."""
    from dataclasses import replace

    from argon2 import extract_parameters, profiles

    user = db_session.execute(select(User).where(User.username == "t-admin")).scalar_one()
    assert extract_parameters(user.password_hash) == profiles.CHEAPEST  # made by the suite's app
    settings = app.extensions["citymgmt.settings"]
    app.extensions["citymgmt.settings"] = replace(settings, password_hash_profile="rfc9106-low-memory")
    try:
        assert authenticate(db_session, "t-admin", PASSWORD).id == user.id
        assert extract_parameters(user.password_hash) == profiles.RFC_9106_LOW_MEMORY
        with pytest.raises(Unauthenticated):
            authenticate(db_session, "t-admin", "not-the-password")
        with pytest.raises(Unauthenticated):
            authenticate(db_session, "nobody-at-all", PASSWORD)
    finally:
        app.extensions["citymgmt.settings"] = settings


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("Bad Name", PASSWORD, ["admin"]), ValidationError, "username must be"),
        (("newuser", PASSWORD, []), ValidationError, "roles must be among"),
        (("newuser", PASSWORD, ["mayor"]), ValidationError, "roles must be among"),
        (("newuser", "short", ["admin"]), ValidationError, "at least 10 characters"),
        (("newuser", "newuser-2026-pass", ["admin"]), ValidationError, "must not contain the username"),
        (("newuser", PASSWORD, ["handler"]), ValidationError, "a handler belongs to a department"),
        (("t-admin", PASSWORD, ["admin"]), Conflict, "user t-admin exists"),
    ],
)
def test_creating_users_refuses_bad_input(db_session, users, args, error, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        create_user(db_session, *args)


def test_a_handler_needs_an_existing_department(db_session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="no department nowhere"):
        create_user(db_session, "newhandler", PASSWORD, ["handler"], department_code="nowhere")


def test_users_cli_creates_and_refuses(app: Flask, db_session) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    runner = app.test_cli_runner()
    ok = runner.invoke(
        cli,
        ["users", "create", "cli-user", "--role", "operator", "--role", "leader", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert ok.exit_code == 0, ok.output
    assert "created cli-user (operator, leader)" in ok.output
    dup = runner.invoke(
        cli, ["users", "create", "cli-user", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert dup.exit_code == 1 and "user cli-user exists" in dup.output
    roles = db_session.execute(select(User.roles).where(User.username == "cli-user")).scalar_one()
    assert roles == ["operator", "leader"]
