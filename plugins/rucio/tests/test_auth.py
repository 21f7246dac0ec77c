"""Who the plugin talks to Rucio as, and what a researcher reads when that fails."""

import socket
import time

import pytest
import requests
from esap_rucio.archive import RucioArchive
from esap_rucio.connection import Deadline, connect
from esap_rucio.settings import read_instance
from joserfc import jwt
from joserfc.jwk import RSAKey

from esap_core import ArchiveError, CredentialsExpired, Secret, UserContext

QUERY = {"scope": "escape", "name": "demo_dataset_*", "did_type": "dataset"}


def rucio_token(rucio_server, password: str | None = None) -> str:
    """A token the server issued, standing in for the user's delegated OIDC token."""
    answer = requests.get(
        f"{rucio_server.auth_host}/auth/userpass",
        headers={
            "X-Rucio-Account": rucio_server.account,
            "X-Rucio-Username": rucio_server.username,
            "X-Rucio-Password": password or rucio_server.password,
        },
        timeout=10,
    )
    answer.raise_for_status()
    return answer.headers["X-Rucio-Auth-Token"]


def test_userpass_service_account(archive, user):
    assert archive.search(QUERY, 1, user, 10).total == 2


def test_userpass_keeps_tokens_out_of_files(make_instance, user, tmp_path, monkeypatch):
    """The stock client writes <tmp>/.rucio_<user>/auth_token_for_account_<account>; not here."""
    from rucio.client.baseclient import BaseClient

    monkeypatch.setattr(BaseClient, "TOKEN_PATH_PREFIX", f"{tmp_path}/.rucio_")
    archive = RucioArchive(make_instance(name="no-token-files"))
    assert archive.search(QUERY, 1, user, 10).total == 2
    assert list(tmp_path.iterdir()) == []


def test_token_auth_sends_the_users_token(make_instance, rucio_server):
    calls = []

    def access_token() -> str:
        calls.append(1)
        return rucio_token(rucio_server)

    archive = RucioArchive(make_instance(auth="token", account=None, username=None, password=None))
    user = UserContext(username="alice", access_token=access_token)
    assert archive.search(QUERY, 1, user, 10).total == 2
    assert calls == [1]


def test_a_token_the_server_refuses(make_instance):
    archive = RucioArchive(make_instance(auth="token", account=None, username=None, password=None))
    user = UserContext(username="alice", access_token=lambda: "not-a-token")
    with pytest.raises(ArchiveError, match=r"refused the credentials: .*did not accept the user's token"):
        archive.search(QUERY, 1, user, 10)


def test_expired_credentials_go_up_to_the_core(make_instance):
    def expired() -> str:
        raise CredentialsExpired("refresh token expired")

    archive = RucioArchive(make_instance(auth="token", account=None, username=None, password=None))
    with pytest.raises(CredentialsExpired):
        archive.search(QUERY, 1, UserContext(username="alice", access_token=expired), 10)


def test_token_auth_without_a_login(make_instance, user):
    archive = RucioArchive(make_instance(auth="token", account=None, username=None, password=None))
    with pytest.raises(ArchiveError, match="needs your login token"):
        archive.search(QUERY, 1, user, 10)


def test_wrong_password(make_instance, user):
    archive = RucioArchive(make_instance(name="wrong-password", password=Secret("nope", "test")))
    with pytest.raises(ArchiveError, match=r"Rucio \(Test Rucio\) refused the credentials: .*"):
        archive.search(QUERY, 1, user, 10)


def test_unknown_account(make_instance, user):
    archive = RucioArchive(make_instance(name="wrong-account", account="nobody"))
    with pytest.raises(ArchiveError, match="refused the credentials"):
        archive.search(QUERY, 1, user, 10)


def test_x509_without_its_certificate_file(make_instance, user, tmp_path):
    archive = RucioArchive(make_instance(auth="x509", password=None, client_cert=str(tmp_path / "missing.pem")))
    with pytest.raises(ArchiveError, match="not configured correctly: .*certificate not found"):
        archive.search(QUERY, 1, user, 10)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_down(make_instance, user):
    host = f"http://127.0.0.1:{closed_port()}"
    archive = RucioArchive(make_instance(host=host, auth_host=host))
    with pytest.raises(ArchiveError, match=f"cannot be reached at {host}: is it up"):
        archive.search(QUERY, 1, user, 10)


def test_server_that_does_not_answer(make_instance, user):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are accepted by the kernel, never answered
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        archive = RucioArchive(make_instance(host=host, auth_host=host))
        started = time.monotonic()
        with pytest.raises(ArchiveError, match=r"did not answer within 1.5 s"):
            archive.search(QUERY, 1, user, 1.5)
        assert time.monotonic() - started < 10


def test_a_stale_service_token_is_replaced(make_instance, user):
    from esap_rucio.connection import SERVICE_TOKENS

    instance = make_instance(name="stale-token")
    SERVICE_TOKENS.put(instance, "expired-token")
    assert RucioArchive(instance).search(QUERY, 1, user, 10).total == 2
    fresh = SERVICE_TOKENS.get(instance)
    assert fresh and fresh != "expired-token"
    assert RucioArchive(instance).search(QUERY, 1, user, 10).total == 2
    assert SERVICE_TOKENS.get(instance) == fresh


@pytest.fixture(scope="module")
def issuer(request: pytest.FixtureRequest):
    """The real OpenID provider of ESAP's own tests (its tests/servers/oidc.py), whose keys Rucio is made to trust."""
    try:
        return request.getfixturevalue("oidc_provider")
    except pytest.FixtureLookupError:
        pytest.skip(
            "token auth needs the OpenID provider of ESAP's repository tests: run these from ESAP's "
            "repository root with its configuration (`pytest -c pyproject.toml plugins/rucio`, or `make test`)"
        )


@pytest.fixture(scope="module")
def oidc_alice(rucio_server, issuer) -> str:
    """The Rucio account ``alice``, mapped to ``alice`` at the test OpenID provider, which Rucio trusts."""
    rucio_server.trust_issuer(issuer.issuer, issuer.client_id, issuer.client_secret)
    root = read_instance(
        {
            "name": "root",
            "host": rucio_server.host,
            "auth": "userpass",
            "account": rucio_server.account,
            "username": rucio_server.username,
            "password": Secret(rucio_server.password, "test"),
        },
        "test",
    )
    with connect(root, UserContext(username="root"), Deadline(20)) as client:
        client.add_account("alice", "USER", "alice@example.org")
        client.add_identity("alice", f"SUB=alice, ISS={issuer.issuer}", "OIDC", "alice@example.org")
    return "alice"


def access_token(issuer, sub: str = "alice", audience: str = "rucio", key=None) -> str:
    """A JWT access token as ESAP's issuer would delegate it, signed with the provider's key."""
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "sub": sub,
        "aud": audience,
        "scope": "openid profile email",
        "iat": now,
        "exp": now + 600,
    }
    signing_key = key or issuer.signing_key
    return jwt.encode({"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)


def test_token_auth_with_a_jwt_from_the_trusted_issuer(make_instance, issuer, oidc_alice):
    archive = RucioArchive(make_instance(auth="token", account=None, username=None, password=None))
    token = access_token(issuer, sub=oidc_alice)
    user = UserContext(username="alice", access_token=lambda: token)
    assert archive.search(QUERY, 1, user, 10).total == 2
    assert archive.metadata("escape:demo_dataset_1", user, 10)["account"] == "root"


@pytest.mark.parametrize("change", ["audience", "key", "subject"])
def test_token_auth_refuses_a_jwt_rucio_cannot_trust(make_instance, issuer, oidc_alice, change):
    forged_key = RSAKey.generate_key(2048, {"kid": issuer.signing_key.kid})
    token = access_token(
        issuer,
        sub="mallory" if change == "subject" else oidc_alice,
        audience="other-service" if change == "audience" else "rucio",
        key=forged_key if change == "key" else None,
    )
    archive = RucioArchive(make_instance(auth="token", account=None, username=None, password=None))
    with pytest.raises(ArchiveError, match="refused the credentials"):
        archive.search(QUERY, 1, UserContext(username="alice", access_token=lambda: token), 10)
