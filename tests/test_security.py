"""Web security: CSRF on every state change, cookie flags, headers, the local mode's loopback-only rule."""

import os
import subprocess
import sys

import pytest

from esap_core.security import safe_next
from tests.fixtures import bearer, csrf_headers, make_user


def test_state_changes_need_the_csrf_token(client):
    data = {"name": "x", "scopes": ["basket:read"]}
    refused = client.post("/profile/tokens", data=data)
    assert refused.status_code == 403 and "came from another site" in refused.get_data(as_text=True)
    assert client.post("/profile/tokens", data=data, headers={"X-CSRF-Token": "guess"}).status_code == 403
    headers = csrf_headers(client)
    assert client.post("/profile/tokens", data=data, headers=headers).status_code == 201
    form = {**data, "csrf_token": headers["X-CSRF-Token"]}
    assert client.post("/profile/tokens", data=form).status_code == 201


def test_every_page_carries_the_token_for_htmx(client):
    page = client.get("/").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRF-Token": "' in page


def test_bearer_requests_need_no_csrf_token(app):
    auth = bearer(app, make_user(app, "alice"), ["basket:read", "tokens"])
    answer = app.test_client().post("/api/v1/tokens", json={"name": "n", "scopes": ["basket:read"]}, headers=auth)
    assert answer.status_code == 201


def test_security_headers(client):
    headers = client.get("/").headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "style-src 'self' 'unsafe-inline'" in client.get("/api/v1/docs").headers["Content-Security-Policy"]


def test_session_cookie_flags(client, oidc_app_factory):
    client.get("/")  # the CSRF token lands in the session
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    public = oidc_app_factory(base_url="https://esap.example.org").test_client()
    public.get("/")
    assert public.get_cookie("session").secure


def test_oidc_login_form_action_allows_the_issuer(oidc_app, oidc_provider):
    policy = oidc_app.test_client().get("/").headers["Content-Security-Policy"]
    assert f"form-action 'self' {oidc_provider.issuer}" in policy


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/basket?x=1", "/basket?x=1"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def test_local_mode_answers_only_this_machine(client):
    assert client.get("/profile").status_code == 200
    remote = client.get("/profile", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert remote.status_code == 403 and "local single-user mode" in remote.get_data(as_text=True)
    rebound = client.get("/profile", headers={"Host": "attacker.example"})
    assert rebound.status_code == 403
    page = client.get("/").get_data(as_text=True)
    assert "local mode" in page and "Log out" not in page


def test_local_mode_refuses_to_serve_beyond_loopback(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ESAP_")}
    environment["ESAP_INSTANCE_PATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "esap_core.cli", "serve", "--host", "0.0.0.0"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "local single-user mode" in result.stderr and "0.0.0.0" in result.stderr


def test_anonymous_api_gets_401_json(oidc_app):
    answer = oidc_app.test_client().get("/api/v1/me")
    assert answer.status_code == 401 and answer.get_json()["message"].startswith("Log in, or send a personal")
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="ESAP"'
