"""Login through a real OpenID provider: code flow with PKCE, state and nonce; users; delegated tokens; logout."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from esap_core import CredentialsExpired, credentials
from esap_core.models import User, UserSecret
from tests.fixtures import csrf_headers, log_in


def test_anonymous_page_goes_to_login_and_comes_back(oidc_app, oidc_provider):
    client = oidc_app.test_client()
    first = client.get("/profile")
    assert first.status_code == 302 and first.headers["Location"] == "/login?next=/profile"
    back = log_in(client, oidc_provider, "alice", next_path="/profile")
    assert back.status_code == 302 and back.headers["Location"] == "/profile"
    page = client.get("/profile").get_data(as_text=True)
    assert "Alice Example" in page and "alice@example.org" in page and "Administrator" in page


def test_user_is_created_once_keyed_by_issuer_and_subject(oidc_app, oidc_provider, db):
    client = oidc_app.test_client()
    log_in(client, oidc_provider, "bob")
    client.post("/logout", headers=csrf_headers(client))
    log_in(client, oidc_provider, "bob")
    users = db.scalars(select(User).where(User.subject == "bob")).all()
    assert len(users) == 1
    user = users[0]
    assert (user.issuer, user.username, user.email) == (oidc_provider.issuer, "bob", "bob@example.org")
    assert user.claims["groups"] == ["esap-users"] and "Researcher" in client.get("/profile").get_data(as_text=True)


def test_authorize_request_uses_pkce_state_nonce_and_extra_parameters(oidc_app_factory):
    app = oidc_app_factory(oidc={"authorize_params": {"audience": "rucio"}, "scopes": ["openid", "offline_access"]})
    location = app.test_client().get("/login").headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0] and query["audience"] == ["rucio"]
    assert query["scope"][0].split() == ["openid", "offline_access"]
    assert query["redirect_uri"] == ["http://127.0.0.1:5999/auth/callback"]


def test_replayed_state_is_refused(oidc_app, oidc_provider):
    client = oidc_app.test_client()
    start = client.get("/login")
    with requests.Session() as browser:
        back = oidc_provider.login(browser, start.headers["Location"]).removeprefix("http://127.0.0.1:5999")
    assert client.get(back).status_code == 302
    client.post("/logout", headers=csrf_headers(client))
    replay = client.get(back)
    assert replay.status_code == 400 and "could not be completed" in replay.get_data(as_text=True)
    assert client.get("/profile").status_code == 302  # not logged in


def test_provider_error_is_shown_not_raised(oidc_app):
    client = oidc_app.test_client()
    client.get("/login")
    answer = client.get("/auth/callback?error=access_denied&error_description=User+said+no&state=x")
    assert answer.status_code == 400 and "access_denied" in answer.get_data(as_text=True)


def test_open_redirect_in_next_is_neutralised(oidc_app, oidc_provider):
    client = oidc_app.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert log_in(client, oidc_provider, next_path=target).headers["Location"] == "/"


class TokenTamperer:
    """Plays an attacker between ESAP and the provider's token endpoint: swaps the ID token for a forged one."""

    def __init__(self, token_endpoint: str):
        self.token_endpoint = token_endpoint
        self.forge = lambda claims: None
        tamperer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                real = requests.post(
                    tamperer.token_endpoint,
                    data=body,
                    timeout=10,
                    headers={
                        "Content-Type": self.headers["Content-Type"],
                        "Authorization": self.headers["Authorization"],
                    },
                )
                answer = real.json()
                claims = jwt.decode(answer["id_token"], RSAKey.import_key(tamperer.public_jwk)).claims
                answer["id_token"] = tamperer.forge(claims)
                payload = json.dumps(answer).encode()
                self.send_response(real.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def tamperer(oidc_app, oidc_provider):
    oauth = oidc_app.extensions["esap.oauth"].esap
    metadata = oauth.load_server_metadata()
    proxy = TokenTamperer(metadata["token_endpoint"])
    proxy.public_jwk = requests.get(metadata["jwks_uri"], timeout=5).json()["keys"][0]
    metadata["token_endpoint"] = proxy.url  # the attacker sits on the way to the token endpoint
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


def unsigned(claims):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def signed(key, claims):
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


@pytest.mark.parametrize(
    ("case", "forge"),
    [
        ("forged signature", lambda key, c: signed(RSAKey.generate_key(2048, {"kid": key.kid}), c)),
        ("expired", lambda key, c: signed(key, {**c, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600})),
        ("wrong audience", lambda key, c: signed(key, {**c, "aud": "someone-else"})),
        ("wrong issuer", lambda key, c: signed(key, {**c, "iss": "https://impostor.example"})),
        ("wrong nonce", lambda key, c: signed(key, {**c, "nonce": "replayed-nonce"})),
        ("unsigned", lambda key, c: unsigned(c)),
    ],
)
def test_bad_id_tokens_are_refused(oidc_app, oidc_provider, tamperer, db, case, forge):
    tamperer.forge = lambda claims: forge(oidc_provider.signing_key, claims)
    client = oidc_app.test_client()
    answer = log_in(client, oidc_provider, "mallory")
    assert answer.status_code in (400, 401), case
    assert "not logged in" in answer.get_data(as_text=True) or "could not be completed" in answer.get_data(as_text=True)
    assert db.scalar(select(User).where(User.subject == "mallory")) is None
    assert client.get("/profile").status_code == 302


def test_a_correctly_signed_token_passes_the_tamperer(oidc_app, oidc_provider, tamperer):
    tamperer.forge = lambda claims: signed(oidc_provider.signing_key, claims)  # unchanged claims, same key
    assert log_in(oidc_app.test_client(), oidc_provider, "carol").status_code == 302


def logged_in_user(app, client, oidc_provider, name):
    log_in(client, oidc_provider, name)
    with app.app_context():
        return app.extensions["esap.db"].session.scalar(select(User).where(User.subject == name))


def test_delegated_tokens_are_encrypted_and_refreshed(oidc_app, oidc_provider):
    client = oidc_app.test_client()
    user = logged_in_user(oidc_app, client, oidc_provider, "dave")
    with oidc_app.app_context():
        session = oidc_app.extensions["esap.db"].session
        stored = session.get(UserSecret, (user.id, credentials.DELEGATED))
        first = credentials.access_token(user.id)
        assert first.encode() not in stored.ciphertext
        userinfo = oidc_app.extensions["esap.oauth"].esap.load_server_metadata()["userinfo_endpoint"]
        assert requests.get(userinfo, headers={"Authorization": f"Bearer {first}"}, timeout=5).json()["sub"] == "dave"

        record = json.loads(credentials.get(user.id, credentials.DELEGATED))
        credentials.put(user.id, credentials.DELEGATED, json.dumps({**record, "expires_at": time.time() - 1}))
        fresh = credentials.access_token(user.id)  # refreshed at the real provider
        assert fresh != first
        assert requests.get(userinfo, headers={"Authorization": f"Bearer {fresh}"}, timeout=5).json()["sub"] == "dave"


def test_failed_refresh_asks_to_log_in_again(oidc_app, oidc_provider):
    @oidc_app.get("/uses-delegated-token")
    def uses_token():
        from esap_core.auth import current_context

        return current_context().access_token()

    client = oidc_app.test_client()
    user = logged_in_user(oidc_app, client, oidc_provider, "erin")

    with oidc_app.app_context():
        record = json.loads(credentials.get(user.id, credentials.DELEGATED))
        expired = {**record, "expires_at": time.time() - 1, "refresh_token": "revoked-or-garbage"}
        credentials.put(user.id, credentials.DELEGATED, json.dumps(expired))
        with pytest.raises(CredentialsExpired):
            credentials.access_token(user.id)
    page = client.get("/uses-delegated-token")
    assert page.status_code == 401
    text = page.get_data(as_text=True)
    assert "Please log in again" in text and "/login?next=/uses-delegated-token" in text and "Traceback" not in text


def test_logout_is_rp_initiated_and_forgets_delegated_tokens(oidc_app, oidc_provider, db):
    client = oidc_app.test_client()
    user = logged_in_user(oidc_app, client, oidc_provider, "frank")
    assert client.post("/logout").status_code == 403  # no CSRF token
    answer = client.post("/logout", headers=csrf_headers(client))
    location = answer.headers["Location"]
    assert location.startswith(oidc_provider.issuer + "/session/end")
    query = parse_qs(urlsplit(location).query)
    assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:5999/"] and query["id_token_hint"][0]
    with requests.Session() as browser:
        assert oidc_provider.logout(browser, location).startswith("http://127.0.0.1:5999/?state=")
    assert client.get("/profile").status_code == 302
    assert db.get(UserSecret, (user.id, credentials.DELEGATED)) is None


def test_provider_down_is_a_503_page(oidc_app_factory):
    app = oidc_app_factory(oidc={"issuer": "http://127.0.0.1:1"})
    answer = app.test_client().get("/login")
    assert answer.status_code == 503 and "identity provider cannot be reached" in answer.get_data(as_text=True)


def test_issuer_without_client_id_refuses_to_start(app_factory):
    from esap_core.config import ConfigError

    with pytest.raises(ConfigError, match="oidc.client_id: required"):
        app_factory(oidc={"issuer": "http://127.0.0.1:1"})


@pytest.mark.browser
def test_login_in_the_browser(page, oidc_provider, oidc_app_factory, monkeypatch):
    from tests.fixtures import LiveServer

    holder = {}

    class Lazy:  # the live server's port decides the base URL, so the app is made once the port is known
        def __call__(self, environ, start_response):
            return holder["app"](environ, start_response)

    with LiveServer(Lazy()) as server:
        holder["app"] = oidc_app_factory(base_url=server.url)
        page.goto(server.url + "/profile")
        assert oidc_provider.at_provider(page.url)
        landed = oidc_provider.login_in_browser(page, "alice")
        page.wait_for_url(server.url + "/profile")
        assert landed.startswith(server.url)
        assert page.locator("h1").inner_text() == "Your profile"
        assert page.get_by_role("link", name="Alice Example").is_visible()
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(lambda url: oidc_provider.at_provider(url))
