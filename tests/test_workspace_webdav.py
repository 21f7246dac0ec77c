"""End to end on the real WebDAV server: a session saves with the notebook client, the file goes into the
basket, and a new session fetches it; the quota is refused with a message."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from esap_core import tokens
from esap_core.app import create_app
from tests.fixtures import LiveServer, emptied_after, make_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))
from esap_client import Basket, ESAPError  # noqa: E402


@pytest.fixture
def webdav_app(database_url, redis_url, tmp_path, webdav_server, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_WEBDAV_PASSWORD", webdav_server.password)
    settings = {
        "url": webdav_server.quota_url,
        "username": webdav_server.username,
        "password": {"env": "ESAP_TEST_WEBDAV_PASSWORD"},
    }
    app = create_app(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "instance_path": str(tmp_path / "instance"),
            "load_plugins": ["webdav"],
            "workspace_storage": "webdav",
            "plugins": {"webdav": settings},
        }
    )
    with emptied_after(app):
        yield app


def _session_token(app, user, launch: str) -> str:
    with app.app_context():
        return tokens.mint_session_token(user, launch)


def test_save_from_one_session_and_fetch_in_the_next(webdav_app, webdav_server, tmp_path):
    with LiveServer(webdav_app) as server:
        user = make_user(webdav_app, "ines")
        result = tmp_path / "first-session" / "spectrum.csv"
        result.parent.mkdir()
        result.write_text("wavelength,flux\n656.3,1.0\n")
        first = Basket(server.url, _session_token(webdav_app, user, "launch-a"))
        assert first.save(result, "results/spectrum.csv")["size"] == 26
        on_server = webdav_server.root / "quota" / "ines" / "results" / "spectrum.csv"
        assert on_server.read_text() == "wavelength,flux\n656.3,1.0\n"

        with webdav_app.test_client() as browser:  # the researcher adds it to the basket from the page
            from tests.fixtures import bearer

            headers = bearer(webdav_app, user, ("workspace:read", "basket:write"))
            added = browser.post(
                "/api/v1/workspace/basket", json={"path": "results/spectrum.csv"}, headers=headers, base_url=server.url
            )
            assert added.status_code == 201, added.get_json()

        second = Basket(server.url, _session_token(webdav_app, user, "launch-b"))
        (item,) = [item for item in second.items() if item["archive"] == "workspace"]
        fetched = second.fetch(item, directory=tmp_path / "second-session" / "data")
        assert fetched.read_text() == "wavelength,flux\n656.3,1.0\n"


def test_save_past_the_quota_is_refused_with_a_message(webdav_app, webdav_server, tmp_path):
    with LiveServer(webdav_app) as server:
        user = make_user(webdav_app, "jon")
        big = tmp_path / "big.bin"
        big.write_bytes(b"0" * (webdav_server.user_quota + 10))
        with pytest.raises(ESAPError, match=r"507 .*whole workspace quota is 64\.0 KiB \(65536 bytes\)"):
            Basket(server.url, _session_token(webdav_app, user, "launch-c")).save(big)
        half = tmp_path / "half.bin"
        half.write_bytes(b"1" * 40_000)
        client = Basket(server.url, _session_token(webdav_app, user, "launch-d"))
        client.save(half)
        with pytest.raises(ESAPError, match="507 .*bytes are left of your quota"):
            client.save(half, "again.bin")
        assert sorted(p.name for p in (webdav_server.root / "quota" / "jon").iterdir()) == ["half.bin"]
