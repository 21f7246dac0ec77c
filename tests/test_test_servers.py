"""The OpenID provider and Chromium fixtures work for real: login, tokens, logout, pages, screenshots."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.servers.oidc import OidcProvider

SCOPE = "openid email profile groups"
REPO = Path(__file__).resolve().parent.parent

PAGE = b"""<!doctype html>
<html><head><title>ESAP fixture page</title></head>
<body><h1>Hello</h1><script>window.answer = 6 * 7;</script></body></html>
"""


@dataclass
class LocalSite:
    """A tiny loopback web server: one page for every path, and the paths it was asked for."""

    url: str
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def local_site() -> Iterator[LocalSite]:
    site = LocalSite(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the recorded paths say enough

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def discovery(oidc_provider: OidcProvider) -> dict:
    response = requests.get(f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10)
    response.raise_for_status()
    return response.json()


def client_session(oidc: OidcProvider, redirect_uri: str, **kwargs) -> OAuth2Session:
    options = {"client_id": oidc.client_id, "client_secret": oidc.client_secret} | kwargs
    return OAuth2Session(
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        **options,
    )


def id_token_claims(discovery: dict, id_token: str) -> dict:
    """The ID token's claims, after checking its signature against the provider's keys."""
    keys = requests.get(discovery["jwks_uri"], timeout=10).json()
    return jwt.decode(id_token, KeySet.import_key_set(keys)).claims


def log_in(oidc: OidcProvider, discovery: dict, user: str, redirect_uri: str) -> tuple[dict, str]:
    """A full authorization code flow with requests: the token response and the code's redirect."""
    verifier = secrets.token_urlsafe(48)
    with client_session(oidc, redirect_uri) as client, requests.Session() as browser:
        authorize_url, _ = client.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
        )
        redirect = oidc.login(browser, authorize_url, user=user)
        token = client.fetch_token(discovery["token_endpoint"], authorization_response=redirect, code_verifier=verifier)
    return dict(token), redirect


def test_discovery_names_the_issuer_and_its_endpoints(oidc_provider: OidcProvider, discovery: dict) -> None:
    issuer = oidc_provider.issuer
    assert issuer.startswith("http://127.0.0.1:")
    assert discovery["issuer"] == issuer
    for endpoint in ("authorization", "token", "userinfo", "end_session", "revocation"):
        assert discovery[f"{endpoint}_endpoint"].startswith(f"{issuer}/"), endpoint
    assert discovery["jwks_uri"].startswith(f"{issuer}/")
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert {"groups", "preferred_username", "email"} <= set(discovery["claims_supported"])
    assert Path(f"/proc/{oidc_provider.pid}").exists()


def test_headless_login_gives_a_code_that_buys_tokens(oidc_provider: OidcProvider, discovery: dict) -> None:
    redirect_uri = "http://127.0.0.1:8123/auth/callback"
    token, redirect = log_in(oidc_provider, discovery, "alice", redirect_uri)

    assert redirect.startswith(f"{redirect_uri}?")
    query = parse_qs(urlsplit(redirect).query)
    assert query["code"] and query["state"]
    assert query["iss"] == [oidc_provider.issuer]
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["refresh_token"]
    claims = id_token_claims(discovery, token["id_token"])
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == oidc_provider.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["sub"] == "alice"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.org"
    assert claims["name"] == "Alice Example"
    assert set(claims["groups"]) == {"esap-users", "admins"}


def test_refresh_token_grant_gives_new_tokens(oidc_provider: OidcProvider, discovery: dict) -> None:
    token, _ = log_in(oidc_provider, discovery, "alice", "http://127.0.0.1:8123/auth/callback")
    with client_session(oidc_provider, "http://127.0.0.1:8123/auth/callback") as client:
        refreshed = client.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert id_token_claims(discovery, refreshed["id_token"])["sub"] == "alice"
    userinfo = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == "alice"


def test_other_users_are_only_esap_users(oidc_provider: OidcProvider, discovery: dict) -> None:
    token, _ = log_in(oidc_provider, discovery, "bob", "http://127.0.0.1:8124/cb")
    claims = id_token_claims(discovery, token["id_token"])
    assert claims["sub"] == "bob"
    assert claims["email"] == "bob@example.org"
    assert claims["groups"] == ["esap-users"]


def test_a_code_needs_its_pkce_verifier_and_its_own_client(oidc_provider: OidcProvider, discovery: dict) -> None:
    redirect_uri = "http://127.0.0.1:8125/cb"
    verifier = secrets.token_urlsafe(48)
    with client_session(oidc_provider, redirect_uri) as client, requests.Session() as browser:
        authorize_url, _ = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
        code = parse_qs(urlsplit(oidc_provider.login(browser, authorize_url)).query)["code"][0]

    def redeem(client_id: str, client_secret: str, code_verifier: str) -> requests.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        form["code_verifier"] = code_verifier
        return requests.post(discovery["token_endpoint"], data=form, auth=(client_id, client_secret), timeout=10)

    wrong_secret = redeem(oidc_provider.client_id, "not-the-secret", verifier)
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    other_client = redeem(oidc_provider.other_client_id, oidc_provider.other_client_secret, verifier)
    assert other_client.status_code == 400
    assert other_client.json()["error"] == "invalid_grant"
    wrong_verifier = redeem(oidc_provider.client_id, oidc_provider.client_secret, secrets.token_urlsafe(48))
    assert wrong_verifier.status_code == 400
    assert wrong_verifier.json()["error"] == "invalid_grant"
    right = redeem(oidc_provider.client_id, oidc_provider.client_secret, verifier)
    assert right.status_code == 200
    assert right.json()["id_token"]
    reused = redeem(oidc_provider.client_id, oidc_provider.client_secret, verifier)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_redirects_outside_the_loopback_address_are_refused(oidc_provider: OidcProvider, discovery: dict) -> None:
    with client_session(oidc_provider, "http://esap.example.org/cb") as client, requests.Session() as browser:
        authorize_url, _ = client.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=secrets.token_urlsafe(48)
        )
        with pytest.raises(AssertionError, match="redirect_uri"):
            oidc_provider.login(browser, authorize_url)


def test_rp_initiated_logout_ends_the_provider_session(oidc_provider: OidcProvider, discovery: dict) -> None:
    redirect_uri = "http://127.0.0.1:8126/cb"
    with client_session(oidc_provider, redirect_uri) as client, requests.Session() as browser:

        def authorize() -> tuple[str, str]:
            verifier = secrets.token_urlsafe(48)
            url, _ = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
            return url, verifier

        url, verifier = authorize()
        redirect = oidc_provider.login(browser, url, user="carol")
        token = client.fetch_token(discovery["token_endpoint"], authorization_response=redirect, code_verifier=verifier)
        # Logged in and consented: the next authorization goes straight back to the client.
        again = browser.get(authorize()[0], allow_redirects=False, timeout=10)
        assert again.headers["Location"].startswith(f"{redirect_uri}?code=")

        logout_params = {
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8126/",
            "state": "bye",
        }
        end_session = f"{discovery['end_session_endpoint']}?{urlencode(logout_params)}"
        assert oidc_provider.logout(browser, end_session) == "http://127.0.0.1:8126/?state=bye"

        after = browser.get(authorize()[0], allow_redirects=False, timeout=10)
        assert "/interaction/" in after.headers["Location"]


@pytest.mark.browser
def test_chromium_renders_a_local_page(page, local_site: LocalSite) -> None:
    page.goto(f"{local_site.url}/hello")
    assert page.title() == "ESAP fixture page"
    assert page.evaluate("window.answer") == 42
    assert page.locator("h1").inner_text() == "Hello"
    assert page.viewport_size == {"width": 1280, "height": 800}
    assert local_site.paths == ["/hello"]


@pytest.mark.browser
def test_chromium_refuses_hosts_outside_the_loopback_address(page, local_site: LocalSite) -> None:
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(request.failure or ""))
    page.goto(local_site.url)
    outcome = page.evaluate("fetch('http://esap.invalid/').then(() => 'loaded', () => 'refused')")
    assert outcome == "refused"
    [failure] = failures
    assert failure.startswith("net::ERR_BLOCKED_BY_CLIENT")


@pytest.mark.browser
def test_chromium_logs_in_at_the_provider(
    page, local_site: LocalSite, oidc_provider: OidcProvider, discovery: dict
) -> None:
    redirect_uri = f"{local_site.url}/auth/callback"
    verifier = secrets.token_urlsafe(48)
    with client_session(oidc_provider, redirect_uri) as client:
        authorize_url, state = client.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier
        )
        page.goto(authorize_url)
        assert page.locator("input[name=login]").is_visible()

        reached = oidc_provider.login_in_browser(page, "dave")

        assert reached.startswith(f"{redirect_uri}?")
        assert page.title() == "ESAP fixture page"
        [callback] = local_site.paths
        query = parse_qs(urlsplit(callback).query)
        assert query["state"] == [state]
        token = client.fetch_token(discovery["token_endpoint"], authorization_response=reached, code_verifier=verifier)
    assert id_token_claims(discovery, token["id_token"])["sub"] == "dave"


def test_asyncio_runs_beside_the_browser() -> None:
    # Run after the browser tests above: Playwright's event loop must not look like a running one here.
    async def answer() -> int:
        return 42

    assert asyncio.run(answer()) == 42


FAILING_BROWSER_TEST = """
import asyncio


def test_fails(page):
    page.set_content("<title>failing</title><h1>Seen at the failure</h1>")
    assert page.title() == "something else"


def test_asyncio_after_the_browser():
    async def answer():
        return 42

    assert asyncio.run(answer()) == 42
"""


def test_a_failing_browser_test_leaves_a_screenshot(tmp_path: Path) -> None:
    (tmp_path / "test_failing.py").write_text(FAILING_BROWSER_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.servers.chromium", "-p", "no:cacheprovider", tmp_path],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    screenshot = tmp_path / "instance" / "test-screens" / "test_failing.py_test_fails.png"
    assert f"Chromium screenshot: {screenshot}" in result.stdout
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
