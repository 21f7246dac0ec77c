"""Fixtures for the VO plugin's tests: a user, and archives pointed at the local DaCHS."""

import math

import pytest
from esap_vo.pinned import PinnedService
from esap_vo.registry import RegistryArchive

from esap_core import UserContext
from esap_core.testing import load_fixtures


@pytest.fixture
def user() -> UserContext:
    return UserContext(username="tester")


@pytest.fixture
def registry(dachs) -> RegistryArchive:
    return RegistryArchive(dachs.registry_tap_url, private_services=True)  # the test DaCHS is on loopback


@pytest.fixture
def observations(dachs, sesame) -> PinnedService:
    return PinnedService(
        {"name": "test-obs", "title": "Test observations", "tap_url": dachs.tap_url, "table": "esap.obs"},
        resolver_url=sesame,
    )


def separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance in degrees (haversine), computed here independently of any service."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(math.sqrt(h)))


def pytest_configure(config):
    load_fixtures(config, "esap_vo.testing")  # its servers, once
