"""/api/v1/auth: bearer tokens for API clients (the inspector app, integrations)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint

from citymgmt.core.access import allow_public, allow_signed_in
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.identity import authenticate, issue_token, revoke_token, user_for_token

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
@allow_public
def create_token(body: dict[str, Any]) -> dict[str, Any]:
    """Sign in with a username and password; the token expires after 12 hours."""
    session = db.session()
    user = authenticate(session, body["username"], body["password"])
    token, row = issue_token(session, user, utcnow())
    session.commit()
    return {"token": token, "expires_at": row.expires_at, "user": user}


@blp.delete("/token")
@blp.response(204)
@allow_signed_in
def delete_token() -> None:
    """Sign out: revoke the token of this request."""
    session = db.session()
    token = request.headers["Authorization"].partition(" ")[2].strip()
    _user, row = user_for_token(session, token, utcnow())
    revoke_token(session, row, utcnow())
    session.commit()


@blp.get("/me")
@blp.response(200, UserSchema)
@allow_signed_in
def me() -> Any:
    """Who the token belongs to."""
    from citymgmt.core.access import current_user

    return current_user()
