"""Fixtures of the OSSR plugin's tests: a source pointed at the local Zenodo, reset for each test."""

from collections.abc import Callable

import pytest
from esap_ossr.source import OSSRConfig, OSSRSource

from esap_core import Settings
from esap_core.testing import load_fixtures


@pytest.fixture
def zenodo(zenodo_server):
    """The session's fake Zenodo, with its initial records and no failure switched on."""
    zenodo_server.reset()
    yield zenodo_server
    zenodo_server.reset()


@pytest.fixture
def make_source(zenodo) -> Callable[..., OSSRSource]:
    def make(**settings) -> OSSRSource:
        values = {"zenodo_url": zenodo.base_url, "timeout": 1, "concurrency": 4, **settings}
        return OSSRSource(OSSRConfig.from_settings(Settings("ossr", values)))

    return make


def pytest_configure(config):
    load_fixtures(config, "esap_ossr.testing")  # its servers, once
