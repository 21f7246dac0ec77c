"""The plugin's settings and registration: zenodo.org by default, nothing offline unless a site is named."""

import pytest
from esap_zenodo.settings import zenodo_settings

from esap_core import Settings, SettingsError


def test_online_the_public_zenodo_is_the_default():
    assert zenodo_settings(Settings("zenodo", {}, offline=False)).url == "https://zenodo.org"


def test_offline_nothing_is_registered_unless_a_site_is_named():
    assert zenodo_settings(Settings("zenodo", {}, offline=True)) is None
    named = zenodo_settings(Settings("zenodo", {"url": "https://sandbox.zenodo.org/"}, offline=True))
    assert named.url == "https://sandbox.zenodo.org"
    assert zenodo_settings(Settings("zenodo", {"url": ""}, offline=False)) is None


def test_an_api_url_is_refused_with_the_reason():
    with pytest.raises(SettingsError, match="without /api"):
        zenodo_settings(Settings("zenodo", {"url": "https://zenodo.org/api"}))


def test_the_plugin_registers_its_publisher(esap_app, zenodo_deposit_api):
    publishers = esap_app.extensions["esap.plugins"].publishers
    assert list(publishers) == ["zenodo"] and publishers["zenodo"].personal_token_label.startswith("Zenodo")
