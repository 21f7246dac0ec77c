"""Fixtures for the dask-gateway plugin's tests: facilities on the test gateway, researchers, launch requests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from esap_core import Facility, LaunchRequest, Secret, Settings, UserContext
from esap_core.testing import launch_request, load_fixtures

if TYPE_CHECKING:  # imported at run time by load_fixtures, after pytest can rewrite its asserts
    from esap_dask_gateway.testing import GatewayServer


@pytest.fixture
def esap_plugin_name() -> str:
    """The plugin under test, also when the whole repository's tests run (from its own ini otherwise)."""
    return "dask-gateway"


@pytest.fixture
def gateway_facility(dask_gateway) -> Callable[..., Facility]:
    """Make a facility on a test gateway (the session's by default); keyword arguments become its settings."""

    def make(server: GatewayServer | None = None, trusted: bool = True, **values: Any) -> Facility:
        server = server or dask_gateway
        values.setdefault("password", Secret(server.password, "test"))
        values.setdefault("scheduler_address", server.proxy_address)
        values.setdefault("worker_timeout", 60)
        return Facility(
            name="test-gateway",
            kind="dask-gateway",
            url=server.url,
            settings=Settings("facility:test-gateway", values),
            title="Test gateway",
            trusted=trusted,
        )

    return make


@pytest.fixture
def researcher(dask_gateway) -> Iterator[str]:
    """A fresh gateway user name for one test; their clusters are stopped afterwards."""
    name = f"researcher-{uuid.uuid4().hex[:8]}"
    yield name
    dask_gateway.stop_all(name)


@pytest.fixture
def cluster_request(researcher) -> Callable[..., LaunchRequest]:
    """A launch request of ``researcher`` with these cluster options."""

    def make(**options: Any) -> LaunchRequest:
        return launch_request(options=options, user=UserContext(username=researcher))

    return make


def pytest_configure(config):
    load_fixtures(config, "esap_dask_gateway.testing")  # its servers, once
