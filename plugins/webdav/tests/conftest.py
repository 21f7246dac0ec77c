"""Shared pieces of the webdav plugin's tests: storages on the test server's shares, and users."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from esap_webdav.settings import webdav_settings
from esap_webdav.storage import WebDavStorage

from esap_core import Secret, Settings, UserContext
from esap_core.testing import load_fixtures


@pytest.fixture
def esap_plugin_name() -> str:
    """The plugin under test, also when the whole repository's tests run (from its own ini otherwise)."""
    return "webdav"


@pytest.fixture
def esap_plugin_settings(webdav_plugin_settings) -> dict:
    return webdav_plugin_settings


@pytest.fixture
def make_storage(webdav_server) -> Callable[..., WebDavStorage]:
    """``make_storage(share="quota", **settings)``: a storage on one of the server's shares."""

    def make(share: str = "quota", **values) -> WebDavStorage:
        url = webdav_server.quota_url if share == "quota" else webdav_server.plain_url
        base = {
            "url": url,
            "username": webdav_server.username,
            "password": Secret(webdav_server.password, "test"),
        }
        return WebDavStorage(webdav_settings(Settings("webdav", {**base, **values})))

    return make


@pytest.fixture
def alice() -> UserContext:
    return UserContext(username="alice")


@pytest.fixture
def bob() -> UserContext:
    return UserContext(username="bob")


def pytest_configure(config):
    load_fixtures(config, "esap_webdav.testing")  # its server, once
