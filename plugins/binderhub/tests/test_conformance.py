"""The BinderHub facility type as ESAP loads it keeps the plugin contract (esap_core.testing), on a local hub."""

import pytest

from esap_core import Phase
from esap_core.testing import check_facility_type


@pytest.fixture
def esap_plugin_name():
    return "binderhub"


@pytest.fixture
def facility_type(esap_app):
    return esap_app.extensions["esap.plugins"].facility_types["binderhub"]


def test_a_launch_keeps_the_contract(facility_type, hub, make_request, github):
    report = check_facility_type(facility_type, hub(), make_request(github("conformance")))

    assert report.ready_url and Phase.BUILDING in report.phases


def test_a_failed_build_keeps_the_contract(facility_type, hub, make_request, github, binderhub_server):
    binderhub_server.script("gh/esap-tests/conformance-broken/*", fail="ERROR: the build broke")

    report = check_facility_type(facility_type, hub(), make_request(github("conformance-broken")))

    assert report.ready_url is None and "ERROR: the build broke" in report.lines
