"""API tokens are remembered for under a second per process: no query per request, and a revocation
takes effect within a second in every process sharing the database (as gunicorn's workers do)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from esap_core import tokens
from esap_core.app import create_app
from tests.fixtures import make_user


def _token(app, user, scopes: list[str]) -> tuple[int, dict[str, str]]:
    with app.app_context():
        token, secret = tokens.create(user, "test", scopes, None, admin=False)
    return token.id, {"Authorization": f"Bearer {secret}"}


def test_a_token_revoked_in_one_process_is_refused_by_another_within_a_second(
    committed_app, database_url, redis_url, tmp_path
):
    first = committed_app
    second = create_app(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "instance_path": str(tmp_path / "second"),
            "load_plugins": [],
        }
    )
    try:
        user = make_user(first, "ada")
        token_id, auth = _token(first, user, ["basket:read"])
        _, manager = _token(first, user, ["tokens"])
        one, two = first.test_client(), second.test_client()
        assert one.get("/api/v1/me", headers=auth).status_code == 200
        assert two.get("/api/v1/me", headers=auth).status_code == 200

        statements: list[str] = []
        event.listen(first.extensions["esap.db"].engine, "before_cursor_execute", _record(statements))
        started = time.monotonic()
        for _ in range(20):
            assert one.get("/api/v1/me", headers=auth).status_code == 200
        most = 1 + int((time.monotonic() - started) / tokens.REMEMBERED_FOR)  # one read per 0.9 s at most
        token_reads = [s for s in statements if "api_tokens" in s]
        assert len(token_reads) <= most, f"{len(token_reads)} token reads for 20 requests"

        assert one.get("/api/v1/me", headers=auth).status_code == 200  # the first remembers it now
        revoked = time.monotonic()  # when the revocation was asked for: it commits a little later
        assert two.delete(f"/api/v1/tokens/{token_id}", headers=manager).status_code == 204
        assert two.get("/api/v1/me", headers=auth).status_code == 401  # at once where it was revoked
        while True:  # every request asked a second or more after the revocation is refused
            asked = time.monotonic()
            if one.get("/api/v1/me", headers=auth).status_code == 401:
                break
            assert asked - revoked < 1.0, "the other process still accepts the revoked token"
            time.sleep(0.02)
        assert asked - revoked < 1.0
        assert one.get("/api/v1/basket", headers=auth).status_code == 401
    finally:
        second.extensions["esap.db"].engine.dispose()


def test_a_remembered_token_still_expires_on_time(app):
    with app.app_context():
        _, secret = tokens.create(
            make_user(app, "bob"), "short", ["basket:read"], datetime.now(UTC) + timedelta(seconds=0.3), admin=False
        )
    client, auth = app.test_client(), {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200  # remembered for the next 0.9 s
    time.sleep(0.4)
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def _record(statements: list[str]):
    def record(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    return record
