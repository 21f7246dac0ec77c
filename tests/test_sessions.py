"""Browser logins live on the server: logout ends them wherever the cookie went, and they end on their own."""

import base64
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from esap_core.models import LoginSession, User
from tests.fixtures import csrf_headers, log_in


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def copy_with(app, cookie: str):
    """Another browser holding a copy of ``cookie`` (taken from the first one's disk, say)."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def test_a_cookie_copied_before_logout_opens_nothing_after(oidc_app, oidc_provider, db):
    client = oidc_app.test_client()
    log_in(client, oidc_provider, "alice")
    thief = copy_with(oidc_app, cookie_of(client))
    assert thief.get("/profile").status_code == 200
    assert client.post("/logout", headers=csrf_headers(client)).status_code == 302
    assert thief.get("/profile").status_code == 302  # to the login page
    minted = thief.post("/api/v1/tokens", json={"name": "x", "scopes": ["basket:read"]}, headers=csrf_headers(thief))
    assert minted.status_code == 401 and db.scalar(select(LoginSession.revoked)) is not None


def test_log_out_everywhere_ends_every_browser(oidc_app, oidc_provider, db):
    first, second = oidc_app.test_client(), oidc_app.test_client()
    log_in(first, oidc_provider, "bob")
    log_in(second, oidc_provider, "bob")
    log_in(oidc_app.test_client(), oidc_provider, "carol")
    ended = second.post("/logout/everywhere", headers=csrf_headers(second))
    assert ended.status_code == 302 and ended.headers["Location"].startswith(oidc_provider.issuer + "/session/end")
    assert first.get("/profile").status_code == 302 and second.get("/profile").status_code == 302
    live = db.scalars(select(User.username).join(LoginSession).where(LoginSession.revoked.is_(None)))
    assert list(live) == ["carol"]


def test_logins_end_when_idle_and_at_their_lifetime(oidc_app_factory, oidc_provider, db):
    app = oidc_app_factory(session_idle_timeout=3600, session_lifetime=86400)
    client = app.test_client()
    log_in(client, oidc_provider, "dora")
    assert client.get("/profile").status_code == 200
    db.execute(update(LoginSession).values(last_seen=datetime.now(UTC) - timedelta(minutes=61)))
    db.commit()
    assert client.get("/profile").status_code == 302  # idle for over an hour

    log_in(client, oidc_provider, "dora")
    moment = db.scalar(
        select(LoginSession.created).where(LoginSession.revoked.is_(None)).order_by(LoginSession.id.desc())
    )
    db.execute(update(LoginSession).values(created=moment - timedelta(hours=25)))  # in use, but begun too long ago
    db.commit()
    assert client.get("/profile").status_code == 302


def test_the_cookie_carries_no_id_token_nor_user(oidc_app, oidc_provider):
    client = oidc_app.test_client()
    log_in(client, oidc_provider, "erin")
    payload = cookie_of(client).lstrip(".").split(".")[0]
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if cookie_of(client).startswith("."):  # Flask compresses a cookie when that makes it shorter
        import zlib

        text = zlib.decompress(text)
    fields = json.loads(text)
    assert set(fields) <= {"login", "csrf", "_permanent"} and "eyJ" not in text.decode()


def test_a_login_begins_afresh(oidc_app, oidc_provider):
    """Session fixation: whatever the browser held before login (planted by someone else) is gone after."""
    client = oidc_app.test_client()
    with client.session_transaction() as session:
        session["login"] = "planted"
        session["csrf"] = "planted-too"
    log_in(client, oidc_provider, "fay")
    with client.session_transaction() as session:
        assert session["login"] != "planted" and session.get("csrf") != "planted-too"
