"""Personal API tokens: created on the profile page, the API and the CLI; hashed; scoped; revocable; expiring."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update

from esap_core import tokens
from esap_core.models import ApiToken
from tests.fixtures import bearer, csrf_headers, make_user


def test_profile_page_creates_shows_once_and_revokes(client, db):
    headers = {**csrf_headers(client), "HX-Request": "true"}
    created = client.post(
        "/profile/tokens",
        data={"name": "my notebook", "scopes": ["basket:read", "basket:write"], "expires": "30d"},
        headers=headers,
    )
    assert created.status_code == 201
    fragment = BeautifulSoup(created.get_data(as_text=True), "html.parser")
    secret = fragment.select_one("#new-token")["value"]
    assert secret.startswith("esap_") and fragment.select_one("section#tokens")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()["scopes"] == [
        "basket:read",
        "basket:write",
    ]

    page = client.get("/profile").get_data(as_text=True)
    assert "my notebook" in page and secret not in page  # shown once only
    stored = db.scalar(select(ApiToken))
    assert stored.digest != secret and secret not in stored.digest

    revoked = client.post(f"/profile/tokens/{stored.id}/revoke", headers=headers)
    assert revoked.status_code == 200 and "You have no tokens yet" in revoked.get_data(as_text=True)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_profile_form_errors_are_shown_and_nothing_is_stored(client, db):
    answer = client.post("/profile/tokens", data={"name": "", "scopes": ["basket:read"]}, headers=csrf_headers(client))
    assert answer.status_code == 400 and "needs a name" in answer.get_data(as_text=True)
    answer = client.post("/profile/tokens", data={"name": "x", "scopes": ["root"]}, headers=csrf_headers(client))
    assert answer.status_code == 400 and "Unknown or missing scopes: root" in answer.get_data(as_text=True)
    answer = client.post(
        "/profile/tokens",
        data={"name": "x", "scopes": ["basket:read"], "expires": "tomorrow"},
        headers=csrf_headers(client),
    )
    assert answer.status_code == 400 and "Cannot read the expiry" in answer.get_data(as_text=True)
    assert db.scalar(select(ApiToken)) is None


def test_api_create_list_revoke(app):
    client = app.test_client()
    user = make_user(app, "alice")
    auth = bearer(app, user, ["basket:read", "basket:write", "tokens"])
    created = client.post(
        "/api/v1/tokens", json={"name": "script", "scopes": ["basket:read"], "expires": "12h"}, headers=auth
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("esap_") and body["scopes"] == ["basket:read"]
    assert datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC) < timedelta(hours=12, minutes=1)

    listed = client.get("/api/v1/tokens", headers=auth).get_json()["tokens"]
    assert [t["name"] for t in listed] == ["test", "script"] and all("secret" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=auth).status_code == 204
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=auth).status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['secret']}"}).status_code == 401


def test_a_token_cannot_grant_more_than_it_has(app):
    client = app.test_client()
    manager = bearer(app, make_user(app, "alice"), ["basket:read", "tokens"])
    answer = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["basket:write"]}, headers=manager)
    assert (
        answer.status_code == 403
        and "cannot grant scopes it does not have: basket:write" in answer.get_json()["message"]
    )


def test_a_launch_token_cannot_manage_tokens(app, db):
    """The basket:read token a launch writes into a session must not mint, list or revoke tokens."""
    client = app.test_client()
    user = make_user(app, "alice")
    with app.app_context():
        kept, _ = tokens.create(user, "kept", ["basket:read"], None, admin=False)
        session_token = tokens.mint_session_token(user, "launch-1")
    headers = {"Authorization": f"Bearer {session_token}"}
    minted = client.post(
        "/api/v1/tokens", json={"name": "forever", "scopes": ["basket:read"], "expires": "never"}, headers=headers
    )
    assert minted.status_code == 403 and "'tokens' scope" in minted.get_json()["message"]
    assert client.get("/api/v1/tokens", headers=headers).status_code == 403
    assert client.delete(f"/api/v1/tokens/{kept.id}", headers=headers).status_code == 403
    assert db.scalar(select(ApiToken).where(ApiToken.id == kept.id)).revoked is None
    assert db.scalar(select(ApiToken).where(ApiToken.name == "forever")) is None
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # it still reads who it is


def test_a_token_never_mints_one_that_outlives_it(app, db):
    client = app.test_client()
    user = make_user(app, "alice")
    with app.app_context():
        _, secret = tokens.create(
            user, "manager", ["basket:read", "tokens"], datetime.now(UTC) + timedelta(days=2), admin=False
        )
    headers = {"Authorization": f"Bearer {secret}"}
    for expires in ("never", "30d"):
        answer = client.post(
            "/api/v1/tokens", json={"name": "x", "scopes": ["basket:read"], "expires": expires}, headers=headers
        )
        assert answer.status_code == 400 and "cannot create one that outlives it" in answer.get_json()["message"]
    assert (
        client.post(
            "/api/v1/tokens", json={"name": "ok", "scopes": ["basket:read"], "expires": "1d"}, headers=headers
        ).status_code
        == 201
    )
    assert sorted(db.scalars(select(ApiToken.name))) == ["manager", "ok"]


@pytest.mark.parametrize("expires", ["99999999d", "99999999999999999999d", "9999-12-31", "0x10d"])
def test_expiries_out_of_range_are_a_400_and_store_nothing(client, db, expires):
    answer = client.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["basket:read"], "expires": expires},
        headers=csrf_headers(client),
    )
    assert answer.status_code == 400 and "expiry" in answer.get_json()["message"]
    assert db.scalar(select(ApiToken)) is None


def test_a_token_is_a_jwt_whose_middle_plain_base64_decodes_to_its_expiry(app):
    """What the first ESAP's notebook client does with a token before sending it."""
    import base64
    import json

    user = make_user(app, "alice")
    with app.app_context():
        token, secret = tokens.create(user, "x", ["basket:read"], datetime.now(UTC) + timedelta(days=1), admin=False)
        _, forever = tokens.create(user, "y", ["basket:read"], None, admin=False)
    header, payload, signature = secret.removeprefix("esap_").split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(base64.b64decode(secret.split(".")[1]))
    assert claims["exp"] == int(token.expires.timestamp()) and claims["scope"] == "basket:read"
    assert json.loads(base64.b64decode(forever.split(".")[1]))["exp"] > datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def test_only_admins_get_the_admin_scope(app):
    client = app.test_client()
    user = make_user(app, "bob")
    with app.app_context():
        secret = tokens.create(user, "all", ["basket:read"], None, admin=False)[1]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()["admin"] is False
    with app.app_context():
        try:
            tokens.create(user, "sneaky", ["admin"], None, admin=False)
        except tokens.TokenError as error:
            assert "Only admins" in str(error)
        else:
            raise AssertionError("a non-admin got an admin token")


def test_bad_tokens_get_401_and_missing_scopes_403(app, db):
    @app.get("/api/v1/needs-launch")
    def needs_launch():
        from esap_core.auth import require_scope

        return require_scope("launch")(lambda: "ok")()

    client = app.test_client()
    user = make_user(app, "carol")
    reader = bearer(app, user, ["basket:read"])
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer esap_nonsense"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    answer = client.get("/api/v1/me", headers={"Authorization": "Bearer "})
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "unknown, revoked or expired" in answer.get_json()["message"]

    db.execute(update(ApiToken).values(expires=datetime.now(UTC) - timedelta(seconds=1)))
    db.commit()
    assert client.get("/api/v1/me", headers=reader).status_code == 401

    writer = bearer(app, user, ["basket:read"])
    answer = client.get("/api/v1/needs-launch", headers=writer)
    assert answer.status_code == 403 and "needs the 'launch' scope" in answer.get_json()["message"]


def test_last_used_is_recorded(app, db):
    client = app.test_client()
    auth = bearer(app, make_user(app, "dan"), ["basket:read"])
    assert db.scalar(select(ApiToken)).last_used is None
    client.get("/api/v1/me", headers=auth)
    db.expire_all()
    assert db.scalar(select(ApiToken)).last_used is not None


def test_session_token_for_a_launch_reads_and_saves_results_only_and_is_short_lived(app, db):
    user = make_user(app, "erin")
    with app.app_context():
        secret = tokens.mint_session_token(user, "launch-42")
    stored = db.scalar(select(ApiToken).where(ApiToken.name == "launch launch-42"))
    session_scopes = ["basket:read", "workspace:read", "workspace:write"]  # fetch the data, save() the results
    assert stored.scopes == session_scopes
    assert timedelta(hours=11) < stored.expires - datetime.now(UTC) <= tokens.SESSION_TOKEN_TTL
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert me["username"] == "erin" and me["scopes"] == session_scopes


def test_cli_creates_a_token_for_the_local_user(committed_app, database_url, redis_url, tmp_path):
    environment = {
        **os.environ,
        "ESAP_DATABASE_URL": database_url,
        "ESAP_REDIS_URL": redis_url,
        "ESAP_INSTANCE_PATH": str(tmp_path / "cli"),
        "ESAP_LOAD_PLUGINS": "",
    }
    command = [sys.executable, "-m", "esap_core.cli", "token", "create", "local", "--scope", "basket:read"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    me = committed_app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert me["username"] == "local" and me["scopes"] == ["basket:read"]

    unknown = subprocess.run(
        [*command[:5], "nobody", "--scope", "basket:read"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2 and "no user named 'nobody'" in unknown.stderr
