"""Fixtures for the Rucio plugin's tests: archives configured against the real test server."""

from collections.abc import Callable
from typing import Any

import pytest
from esap_rucio.archive import RucioArchive
from esap_rucio.settings import Instance, read_instance

from esap_core import Secret, UserContext
from esap_core.testing import load_fixtures


@pytest.fixture
def make_instance(rucio_server) -> Callable[..., Instance]:
    """An instance of the test server acting as root with userpass; keywords override settings."""

    def make(**overrides: Any) -> Instance:
        entry = {
            "name": "test-rucio",
            "title": "Test Rucio",
            "host": rucio_server.host,
            "auth_host": rucio_server.auth_host,
            "vo": rucio_server.vo,
            "auth": "userpass",
            "account": rucio_server.account,
            "username": rucio_server.username,
            "password": Secret(rucio_server.password, "test"),
            **overrides,
        }
        return read_instance({k: v for k, v in entry.items() if v is not None}, "test")

    return make


@pytest.fixture
def archive(make_instance) -> RucioArchive:
    return RucioArchive(make_instance())


@pytest.fixture
def user() -> UserContext:
    return UserContext(username="alice")


def pytest_configure(config):
    load_fixtures(config, "esap_rucio.testing")  # its servers, once
