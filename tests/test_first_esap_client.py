"""The first ESAP's notebook client (esap-userprofile-python-client 0.0.4) against ESAP's compat endpoint.

Over real HTTP, with ESAP logging in through the real test OpenID provider. Every run does
what that client's code does (its shopping_client and connectors, read in its repository:
volodymyrss/esap-userprofile-python-client); the client itself runs when a Python that has
it installed is named by ESAP1_CLIENT_PYTHON.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.parse

import pandas
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from esap_core import access_tokens, accounts
from tests.fixtures import bearer

ENDPOINT = "esap-api/accounts/user-profiles/"  # joined to the host as the client does
ITEMS = [
    {
        "archive": "apertif",
        "identifier": "img-1",
        "title": "Apertif image 1",
        "fetch": {"method": "http", "url": "https://vo.example.org/img-1.fits"},
        "payload": {"ra": 211.05, "dec": 53.9},
    },
    {
        "archive": "apertif",
        "identifier": "img-2",
        "title": "Apertif image 2",
        "fetch": {"method": "http", "url": "https://vo.example.org/img-2.fits"},
        # Keys of the archive's row that share names with the record's own must not hide them.
        "payload": {"ra": 10.5, "dec": -3.25, "identifier": "not-me", "title": "not me", "url": "https://evil.example"},
    },
    {
        "archive": "rucio",
        "identifier": "escape:run-7",
        "title": "Run 7",
        "fetch": {"method": "rucio", "did": "escape:run-7", "host": "https://rucio.example.org"},
    },
    {"archive": "gaia", "identifier": "src-42", "title": "A source", "fetch": {"method": "http", "url": "https://g/x"}},
]
CONNECTORS = {"alta": "apertif", "rucio": "rucio"}  # the client's connectors: name → the archive they take


@pytest.fixture
def committed_config(oidc_provider, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", oidc_provider.client_secret)
    oidc = {
        "issuer": oidc_provider.issuer,
        "client_id": oidc_provider.client_id,
        "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
    }
    return {"load_plugins": [], "oidc": oidc}


@pytest.fixture
def alice(committed_app, oidc_provider):
    """A user who logged in through the provider once, with the items above in her basket."""
    with committed_app.app_context():
        claims = {"sub": "alice", "preferred_username": "alice", "email": "alice@example.org"}
        user = accounts.user_from_claims(oidc_provider.issuer, claims)
    access_tokens.forget_all()
    return user


@pytest.fixture
def host(live_server, committed_app, alice) -> str:
    auth = bearer(committed_app, alice, ["basket:write"])
    answer = requests.post(f"{live_server.url}/api/v1/basket/items", json={"items": ITEMS}, headers=auth, timeout=10)
    assert answer.json()["added"] == len(ITEMS)
    return live_server.url + "/"


def access_token(oidc_provider, sub: str = "alice", lifetime: int = 600, key: RSAKey | None = None) -> str:
    """A JWT access token as the issuer signs them (ESCAPE IAM's are JWTs), with the provider's own key."""
    now = int(time.time())
    claims = {"iss": oidc_provider.issuer, "sub": sub, "aud": "rucio", "scope": "openid", "iat": now}
    claims["exp"] = now + lifetime
    signing_key = key or oidc_provider.signing_key
    return jwt.encode({"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)


def as_the_client_does(host: str, token: str) -> tuple[list[dict], dict[str, pandas.DataFrame]]:
    """The steps of shopping_client.get_basket and its connectors, one by one."""
    middle = token.split(".")[1]  # it checks the expiry before sending the token
    assert json.loads(base64.b64decode(middle))["exp"] > time.time() + 10  # plain base64, as the brief names it
    padded = middle + "=" * divmod(len(middle), 4)[1]  # the client's own padding rule, then URL-safe decoding
    assert json.loads(base64.urlsafe_b64decode(padded))["exp"] > int(time.time()) + 10
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    response = requests.get(urllib.parse.urljoin(host, ENDPOINT), headers=headers, timeout=10)
    assert response.ok, response.text
    basket = json.loads(response.content)["results"][0]["shopping_cart"]
    frames = {}
    for name, archive in CONNECTORS.items():
        # validate_basket_item: item_data is JSON whose "archive" is the connector's; then a Series per item.
        series = [
            pandas.Series(json.loads(item["item_data"]))
            for item in basket
            if json.loads(item["item_data"]).get("archive") == archive
        ]
        joined = pandas.concat(series, axis=1)
        frames[name] = joined.to_frame().T if joined.ndim < 2 else joined.T
    return basket, frames


def check_what_it_read(basket: list[dict], frames: dict[str, pandas.DataFrame]) -> None:
    assert len(basket) == len(ITEMS) and all(isinstance(item["item_data"], str) for item in basket)
    apertif = frames["alta"]
    assert list(apertif.columns) == ["archive", "record"] and len(apertif) == 2
    records = list(apertif["record"])
    assert [record["identifier"] for record in records] == ["img-1", "img-2"]
    assert records[1]["title"] == "Apertif image 2" and records[1]["url"] == "https://vo.example.org/img-2.fits"
    assert (records[1]["ra"], records[1]["dec"]) == (10.5, -3.25)
    assert list(frames["rucio"]["record"])[0]["url"] == "escape:run-7"


def test_what_the_first_esaps_client_does_works_with_a_personal_token(host, committed_app, alice):
    token = bearer(committed_app, alice, ["basket:read"])["Authorization"].removeprefix("Bearer ")

    check_what_it_read(*as_the_client_does(host, token))


def test_what_the_first_esaps_client_does_works_with_the_issuers_jwt_access_token(host, oidc_provider):
    check_what_it_read(*as_the_client_does(host, access_token(oidc_provider)))


def test_an_opaque_access_token_from_a_real_login_is_checked_at_userinfo(host, oidc_provider, committed_app):
    from authlib.integrations.requests_client import OAuth2Session

    discovery = requests.get(f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10).json()
    redirect = "http://127.0.0.1:5999/auth/callback"
    oauth = OAuth2Session(
        oidc_provider.client_id,
        oidc_provider.client_secret,
        scope="openid",
        redirect_uri=redirect,
        code_challenge_method="S256",
    )
    verifier = "v" * 64
    authorize, _ = oauth.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
    with requests.Session() as browser:
        back = oidc_provider.login(browser, authorize, user="alice")
    tokens = oauth.fetch_token(discovery["token_endpoint"], authorization_response=back, code_verifier=verifier)
    opaque = tokens["access_token"]
    assert opaque.count(".") != 2  # this provider's access tokens are opaque

    headers = {"Authorization": f"Bearer {opaque}"}
    answer = requests.get(urllib.parse.urljoin(host, ENDPOINT), headers=headers, timeout=10)

    assert answer.status_code == 200
    assert answer.json()["results"][0]["user_name"] == "alice"
    assert requests.get(f"{host}api/v1/basket", headers=headers, timeout=10).status_code == 401  # only here


@pytest.mark.parametrize(
    ("change", "why"),
    [("key", "signed by someone else"), ("expired", "expired"), ("subject", "nobody who logged in to ESAP")],
)
def test_access_tokens_esap_cannot_trust_are_refused(host, oidc_provider, change, why):
    forged = RSAKey.generate_key(2048, {"kid": oidc_provider.signing_key.kid})
    token = access_token(
        oidc_provider,
        sub="mallory" if change == "subject" else "alice",
        lifetime=-120 if change == "expired" else 600,
        key=forged if change == "key" else None,
    )

    answer = requests.get(urllib.parse.urljoin(host, ENDPOINT), headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401, why


def test_an_accepted_access_token_is_remembered_no_longer_than_it_lives(host, oidc_provider):
    token = access_token(oidc_provider, lifetime=20)

    assert requests.get(urllib.parse.urljoin(host, ENDPOINT), headers={"Authorization": f"Bearer {token}"}).ok

    ((_, until),) = access_tokens._cache.values()
    assert until - time.monotonic() <= 20


CLIENT_SCRIPT = """
import json, sys
from alta import alta_connector
from rucio_cli import rucio_connector
from shopping_client import shopping_client

host, token = sys.argv[1], sys.argv[2]
client = shopping_client(host=host, token=token, connectors=[alta_connector(), rucio_connector()])
basket = client.get_basket()
frames = client.get_basket(convert_to_pandas=True, reload=True)
read = {name: {"columns": list(frame.columns), "records": list(frame["record"])} for name, frame in frames.items()}
print(json.dumps({"items": len(basket), "frames": read}))
"""


@pytest.mark.skipif(
    not os.environ.get("ESAP1_CLIENT_PYTHON"),
    reason="the first ESAP's client is not on PyPI: install esap-userprofile-python-client 0.0.4 from its "
    "repository into a virtual environment of its own and set ESAP1_CLIENT_PYTHON to that environment's python",
)
@pytest.mark.parametrize("kind", ["personal token", "issuer access token"])
def test_the_first_esaps_own_client_reads_the_basket(host, committed_app, alice, oidc_provider, kind):
    if kind == "personal token":
        token = bearer(committed_app, alice, ["basket:read"])["Authorization"].removeprefix("Bearer ")
    else:
        token = access_token(oidc_provider)

    ran = subprocess.run(
        [os.environ["ESAP1_CLIENT_PYTHON"], "-c", CLIENT_SCRIPT, host, token],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )

    assert ran.returncode == 0, ran.stderr
    read = json.loads(ran.stdout.splitlines()[-1])
    assert read["items"] == len(ITEMS)
    apertif = read["frames"]["alta"]
    assert apertif["columns"] == ["archive", "record"]
    assert [record["identifier"] for record in apertif["records"]] == ["img-1", "img-2"]
    assert apertif["records"][1]["url"] == "https://vo.example.org/img-2.fits"
    assert read["frames"]["rucio"]["records"][0]["identifier"] == "escape:run-7"
