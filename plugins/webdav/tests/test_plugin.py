"""The plugin inside ESAP: loaded from its entry point, the workspace API and page on the real WebDAV server."""

from __future__ import annotations

import io

import pytest

from esap_core import UserContext


@pytest.fixture
def token(esap_app, esap_user) -> dict[str, str]:
    """A session's token for the local user: the API's writes need one (or a page's CSRF token)."""
    from esap_core import tokens

    with esap_app.app_context():
        secret = tokens.mint_session_token(esap_user, "launch-1")
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/octet-stream"}


def test_the_plugin_registers_the_webdav_storage(esap_app):
    plugins = esap_app.extensions["esap.plugins"]
    assert list(plugins.storages) == ["webdav"] and plugins.owner("storage", "webdav") == "webdav"


def test_unconfigured_it_registers_nothing_and_half_configured_it_says_what_is_missing():
    import pytest
    from esap_webdav import plugin

    from esap_core import Settings, SettingsError

    found = []
    plugin.register_storages(found.append, Settings("webdav", {}))
    assert found == []
    with pytest.raises(SettingsError, match="'url' is required"):
        plugin.register_storages(found.append, Settings("webdav", {"quota_mb": 10}))


def test_a_session_saves_through_the_api_and_the_file_is_on_the_server(esap_client, webdav_server, token):
    content = b"SIMPLE  =                    T" + b" " * 50
    saved = esap_client.put(
        "/api/v1/workspace/files/results/image.fits",
        data=content,
        headers=token,
    )
    assert saved.status_code == 201, saved.get_json()
    assert (webdav_server.root / "quota" / "local" / "results" / "image.fits").read_bytes() == content
    usage = esap_client.get("/api/v1/workspace/usage").get_json()
    assert usage["storage"] == "webdav" and usage["quota"] == webdav_server.user_quota and usage["used"] >= 80
    listed = esap_client.get("/api/v1/workspace/files", query_string={"folder": "results"}).get_json()
    assert [(f["name"], f["size"]) for f in listed["files"]] == [("image.fits", 80)]
    assert esap_client.get("/api/v1/workspace/files/results/image.fits").data == content
    csrf = {"X-CSRF-Token": _csrf(esap_client)}  # the page's way: the browser's login and its CSRF token
    added = esap_client.post("/api/v1/workspace/basket", json={"path": "results/image.fits"}, headers=csrf)
    assert added.status_code == 201 and added.get_json()["fetch"]["method"] == "http"
    assert esap_client.delete("/api/v1/workspace/files/results/image.fits", headers=token).status_code == 204
    assert esap_client.get("/api/v1/workspace/files/results/image.fits").status_code == 404


def _csrf(client) -> str:
    with client.session_transaction() as session:
        session["csrf"] = "test-csrf-token"
    return "test-csrf-token"


def test_past_the_quota_the_api_says_what_is_left(esap_client, webdav_server, token):
    big = b"x" * (webdav_server.user_quota + 1)
    answer = esap_client.put("/api/v1/workspace/files/too-big.bin", data=big, headers=token)
    assert answer.status_code == 507
    assert "whole workspace quota is 64.0 KiB (65536 bytes)" in answer.get_json()["message"]
    assert not (webdav_server.root / "quota" / "local" / "too-big.bin").exists()


def test_the_page_shows_the_files_and_the_usage_bar(esap_client, esap_app):
    storage = esap_app.extensions["esap.plugins"].storages["webdav"]
    storage.write(UserContext(username="local"), "notes/a-rather-long-name-for-a-result.txt", io.BytesIO(b"hi"), 2, 10)
    page = esap_client.get("/workspace", query_string={"folder": "notes"}).get_data(as_text=True)
    assert "a-rather-long-name-for-a-result.txt" in page and "2 bytes" in page
    assert 'id="workspace-usage-bar"' in page and "WebDAV workspace" in page
