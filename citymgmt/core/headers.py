"""Security headers on every response: no framing (the one-key desk cannot be framed), no MIME sniffing, no referrer
across origins, a Content-Security-Policy for pages (scripts only from this site), nothing signed-in cached, a
Retry-After on 503s, and HSTS when served over TLS."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from citymgmt.core.config import Settings

RETRY_AFTER_S = 30
# Over TLS (directly, or behind a trusted proxy that says so): browsers keep to https for a year. Not for
# subdomains, which may be other systems of the city's.
HSTS = "max-age=31536000"
# flask-smorest's Swagger UI page starts itself with an inline script: the one page allowed one.
_INLINE_SCRIPT_PATHS = ("/api/v1/docs",)


def tile_source(basemap_url: str) -> str | None:
    """The CSP source of the basemap's tiles: https://*.tile.example.org for https://{s}.tile.example.org/{z}/..."""
    if not basemap_url or basemap_url.startswith("/"):
        return None
    parts = urlsplit(re.sub(r"\{[a-z]\}\.", "*.", basemap_url).replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(settings: Settings, inline_scripts: bool = False) -> str:
    images = " ".join(filter(None, ("'self'", "data:", "blob:", tile_source(settings.basemap_url))))
    scripts = "'self' 'unsafe-inline'" if inline_scripts else "'self'"
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",  # Leaflet and ECharts set element styles
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "worker-src 'self'",
            "manifest-src 'self'",
        )
    )


def install_security_headers(app: Flask, settings: Settings) -> None:
    policy = content_security_policy(settings)
    docs_policy = content_security_policy(settings, inline_scripts=True)

    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if response.mimetype == "text/html":
            headers.setdefault(
                "Content-Security-Policy", docs_policy if request.path.startswith(_INLINE_SCRIPT_PATHS) else policy
            )
        if g.get("user") is not None and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"  # what a signed-in person sees stays off shared and back caches
        if response.status_code == 503:
            headers.setdefault("Retry-After", str(RETRY_AFTER_S))
        return response
