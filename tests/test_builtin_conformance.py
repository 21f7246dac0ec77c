"""The built-in blank notebook source keeps the plugin contract (esap_core.testing), as a partner's would."""

import pytest

from esap_core.testing import check_software_source


@pytest.fixture
def esap_plugin_name():
    return "blank-notebook"


@pytest.fixture
def esap_plugin_settings():
    return {"repository_url": "https://example.org/environment.git", "ref": "v2"}


def test_blank_notebook_keeps_the_contract(esap_app):
    source = esap_app.extensions["esap.plugins"].software_sources["blank-notebook"]

    (record,) = check_software_source(source)

    assert (record.external_id, record.repository_url, record.ref) == (
        "blank",
        "https://example.org/environment.git",
        "v2",
    )
