"""Shared pieces of the zenodo plugin's tests: a publisher on the local Zenodo, and publications to give it."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from esap_zenodo.publisher import ZenodoPublisher
from esap_zenodo.settings import zenodo_settings

from esap_core import Creator, Publication, Secret, Settings, Upload
from esap_core.testing import load_fixtures


@pytest.fixture
def esap_plugin_name() -> str:
    """The plugin under test, also when the whole repository's tests run (from its own ini otherwise)."""
    return "zenodo"


@pytest.fixture
def esap_plugin_settings(zenodo_deposit_api) -> dict:
    return {"url": zenodo_deposit_api.url}


@pytest.fixture
def publisher(zenodo_deposit_api) -> ZenodoPublisher:
    return ZenodoPublisher(zenodo_settings(Settings("zenodo", {"url": zenodo_deposit_api.url}, offline=True)))


@pytest.fixture
def token(zenodo_deposit_api) -> Secret:
    return Secret(zenodo_deposit_api.token, "test")


def _upload(name: str, data: bytes) -> Upload:
    return Upload(name, len(data), lambda: io.BytesIO(data))


@pytest.fixture
def make_upload() -> Callable[[str, bytes], Upload]:
    """``make_upload(name, data)``: a file to publish, from bytes."""
    return _upload


@pytest.fixture
def make_publication() -> Callable[..., Publication]:
    def make(**values) -> Publication:
        base = {
            "title": "Spectra of M31 from a LOFAR session",
            "description": "Results of a notebook run.\n\nSecond paragraph <with> angle brackets.",
            "creators": (Creator("Doe, Jane", "ASTRON", "0000-0002-1825-0097"),),
            "files": (_upload("spectrum.csv", b"wavelength,flux\n656.3,1.0\n"),),
            "provenance": '{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": []}',
        }
        return Publication(**{**base, **values})

    return make


def pytest_configure(config):
    load_fixtures(config, "esap_zenodo.testing")  # its server, once
