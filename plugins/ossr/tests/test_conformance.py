"""The OSSR source as ESAP loads it keeps the plugin contract (esap_core.testing), harvesting the local Zenodo."""

import pytest

from esap_core import UIType
from esap_core.testing import check_software_source


@pytest.fixture
def esap_plugin_name():
    return "ossr"


@pytest.fixture
def esap_plugin_settings(zenodo):
    return {"zenodo_url": zenodo.base_url, "timeout": 1, "concurrency": 4}


def test_the_registered_source_keeps_the_contract(esap_app, zenodo):
    source = esap_app.extensions["esap.plugins"].software_sources["ossr"]

    records = check_software_source(source)

    assert len(records) == source.last_report.yielded > 30
    assert {UIType.NOTEBOOK, UIType.DESKTOP, UIType.CLI} <= {record.ui_type for record in records}
