"""Personal API tokens: created on the profile page, the API and the CLI; hashed; scoped; revocable; expiring."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

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
    auth = bearer(app, user, ["basket:read", "basket:write"])
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
    reader = bearer(app, make_user(app, "alice"), ["basket:read"])
    answer = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["basket:write"]}, headers=reader)
    assert (
        answer.status_code == 403
        and "cannot grant scopes it does not have: basket:write" in answer.get_json()["message"]
    )


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


def test_session_token_for_a_launch_is_read_only_and_short_lived(app, db):
    user = make_user(app, "erin")
    with app.app_context():
        secret = tokens.mint_session_token(user, "launch-42")
    stored = db.scalar(select(ApiToken).where(ApiToken.name == "launch launch-42"))
    assert stored.scopes == ["basket:read"]
    assert timedelta(hours=11) < stored.expires - datetime.now(UTC) <= tokens.SESSION_TOKEN_TTL
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert me["username"] == "erin" and me["scopes"] == ["basket:read"]


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
