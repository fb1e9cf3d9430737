"""Security headers: pages cannot be framed and run scripts from this site only, nothing is sniffed, nothing a
signed-in person sees is cached, a 503 says when to come back."""

from __future__ import annotations

from citymgmt.core.config import Settings
from citymgmt.core.headers import content_security_policy, tile_source
from tests.conftest import make_test_app


def test_every_answer_carries_the_headers(client, token_for) -> None:  # type: ignore[no-untyped-def]
    login = client.get("/login")
    assert login.status_code == 200
    assert login.headers["X-Frame-Options"] == "DENY"
    assert login.headers["X-Content-Type-Options"] == "nosniff"
    assert login.headers["Referrer-Policy"] == "same-origin"
    csp = login.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp and "'unsafe-inline'" in csp  # styles
    me = client.get("/api/v1/auth/me", headers=token_for("inspector"))
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"
    assert me.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in me.headers  # JSON is not a page
    docs = client.get("/api/v1/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in login.headers  # plain http: HSTS would be ignored, or lock it out
    secure = client.get("/login", base_url="https://citymgmt.example.org")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    unready = client.get("/healthz")  # no worker, no scheduler in this test
    assert unready.status_code == 503 and unready.headers["Retry-After"] == "30"


def test_the_basemap_tiles_are_allowed_as_images() -> None:
    assert tile_source("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://*.tile.openstreetmap.org"
    assert tile_source("https://tiles.example.org/{z}/{x}/{y}.png") == "https://tiles.example.org"
    assert tile_source("/tiles/{z}/{x}/{y}.png") is None and tile_source("") is None
    policy = content_security_policy(Settings(basemap_url="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))
    assert "img-src 'self' data: blob: https://*.tile.openstreetmap.org;" in policy


def test_behind_a_trusted_tls_proxy_hsts_is_sent(servers, database_url, client) -> None:  # type: ignore[no-untyped-def]
    """The proxy ends TLS and says so in X-Forwarded-Proto, believed only from a proxy the city configured."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert "Strict-Transport-Security" not in client.get("/login", headers=forwarded).headers  # no proxy trusted
    trusting = make_test_app(servers, database_url, trusted_proxies=1).test_client()
    assert trusting.get("/login", headers=forwarded).headers["Strict-Transport-Security"] == "max-age=31536000"
