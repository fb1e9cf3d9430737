"""Security headers: pages cannot be framed and run scripts from this site only, nothing is sniffed, nothing a
signed-in person sees is cached, a 503 says when to come back."""

from __future__ import annotations

from citymgmt.core.config import Settings
from citymgmt.core.headers import content_security_policy, tile_source


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
    unready = client.get("/healthz")  # no worker, no scheduler in this test
    assert unready.status_code == 503 and unready.headers["Retry-After"] == "30"


def test_the_basemap_tiles_are_allowed_as_images() -> None:
    assert tile_source("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://*.tile.openstreetmap.org"
    assert tile_source("https://tiles.example.org/{z}/{x}/{y}.png") == "https://tiles.example.org"
    assert tile_source("/tiles/{z}/{x}/{y}.png") is None and tile_source("") is None
    policy = content_security_policy(Settings(basemap_url="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))
    assert "img-src 'self' data: blob: https://*.tile.openstreetmap.org;" in policy
