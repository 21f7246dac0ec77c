"""Web security: CSRF tokens, safe redirects, security headers, loopback checks."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, request, session, url_for

from esap_core.errors import is_api_request

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# The SAMP Web Profile hub on the researcher's own machine: the standard fixes its address, and
# sampjs writes it with "localhost". Pages may connect there and nowhere else but ESAP (docs/samp.md).
SAMP_HUB_ORIGIN = "http://localhost:21012"


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def safe_next(target: str | None) -> str:
    """A redirect target within this site, or ``/``: never another host (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(character) < 32 for character in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def external_url(endpoint: str, **values) -> str:
    base = current_app.extensions["esap.config"].base_url
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def is_loopback_address(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").strip("[]")).is_loopback
    except ValueError:
        return address in LOOPBACK_HOSTS


def is_loopback_url(url: str) -> bool:
    return is_loopback_address(urlsplit(url).hostname)


def check_csrf() -> None:
    """State-changing requests made with the browser's session must carry the page's CSRF token."""
    if request.method not in UNSAFE_METHODS or "Authorization" in request.headers:
        return  # a browser cannot add this header across sites, so bearer requests need no CSRF token
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(403, "This form has expired or came from another site. Reload the page and try again.")


def content_security_policy(form_origins: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"connect-src 'self' {SAMP_HUB_ORIGIN}",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            f"form-action 'self' {form_origins}".strip(),
        ]
    )


def init_app(app: Flask, issuer_origin: str) -> None:
    policy = content_security_policy(issuer_origin)
    # Swagger UI sets inline styles; its page gets them, and nothing else does.
    docs_policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.after_request
    def security_headers(response):
        is_docs = request.endpoint == "api_docs.docs_page"
        response.headers.setdefault("Content-Security-Policy", docs_policy if is_docs else policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static" and (g.get("user") is not None or is_api_request()):
            response.headers.setdefault("Cache-Control", "no-store")  # personal: no shared or back-button copy
        return response
