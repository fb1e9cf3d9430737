"""/api/v1/auth: bearer tokens for API clients (the inspector app, integrations); browsers sign in at /login."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint

from citymgmt.core.access import allow_public, allow_signed_in, current_credential, current_user
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.identity import issue_token, revoke_token
from citymgmt.core.signin import login_throttle, sign_in

blp = Blueprint("auth", __name__, description="Sign in: bearer tokens")


class TokenRequest(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200), load_only=True)


class UserSchema(ma.Schema):
    username = ma.fields.String()
    display_name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    department_code = ma.fields.String(allow_none=True)


class TokenResponse(ma.Schema):
    token = ma.fields.String(metadata={"description": "Send as Authorization: Bearer <token>"})
    expires_at = ma.fields.DateTime()
    user = ma.fields.Nested(UserSchema)


@blp.post("/token")
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@blp.alt_response(401, description="Wrong username or password")
@blp.alt_response(429, description="Too many failed sign-ins for this username or from this address (Retry-After)")
@allow_public
def create_token(body: dict[str, Any]) -> dict[str, Any]:
    """Sign in with a username and password; the token expires after 12 hours.

    Repeated failures lock the username (and the client address) out for a while: see the README."""
    session = db.session()
    now = utcnow()
    user = sign_in(
        session, login_throttle(), body["username"], body["password"], request.remote_addr or "", now, via="api"
    )
    token, row = issue_token(session, user, now)
    return {"token": token, "expires_at": row.expires_at, "user": user}


@blp.delete("/token")
@blp.response(204)
@allow_signed_in
def delete_token() -> None:
    """Sign out: revoke the token of this request (or, called from a signed-in browser, its session)."""
    session = db.session()
    row = current_credential()
    assert row is not None, "the access policy let only signed-in callers in"
    revoke_token(session, row, utcnow())


@blp.get("/me")
@blp.response(200, UserSchema)
@allow_signed_in
def me() -> Any:
    """Who is signed in (with a bearer token or in this browser)."""
    return current_user()
