"""Shared pieces of the uws plugin's tests: a user, and facilities on the test services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from esap_uws.facility import UwsFacility

from esap_core import Facility, Settings, UserContext
from esap_core.testing import load_fixtures


@pytest.fixture
def esap_plugin_name() -> str:
    """The plugin under test, also when the whole repository's tests run (from its own ini otherwise)."""
    return "uws"


@pytest.fixture(scope="session")
def uws_type() -> UwsFacility:
    return UwsFacility()


@pytest.fixture
def user() -> UserContext:
    return UserContext(username="researcher")


@pytest.fixture
def make_facility() -> Callable[..., Facility]:
    """``make_facility(url, **settings)``: a facility on the UWS job list at ``url`` (an admin's, trusted)."""

    def make(url: str, **settings: Any) -> Facility:
        return Facility("test-uws", "uws", url, Settings("facility:test-uws", settings), trusted=True)

    return make


def pytest_configure(config):
    load_fixtures(config, "esap_uws.testing")  # its servers, once
