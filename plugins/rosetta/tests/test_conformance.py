"""The Rosetta facility type as ESAP loads it keeps the plugin contract (esap_core.testing), on the protocol server."""

import uuid

import pytest

from esap_core.testing import check_facility_type

from .conftest import launch_request


@pytest.fixture
def esap_plugin_name():
    return "rosetta"


@pytest.fixture
def facility_type(esap_app):
    return esap_app.extensions["esap.plugins"].facility_types["rosetta"]


def test_a_launch_keeps_the_contract(facility_type, rosetta_facility, rosetta_server):
    repository = f"https://git.example.org/astro/conformance-{uuid.uuid4().hex[:8]}.git"

    report = check_facility_type(facility_type, rosetta_facility(), launch_request(repository))

    assert report.ready_url.startswith(f"{rosetta_server.url}/new_task/")


def test_a_failed_import_keeps_the_contract(facility_type, rosetta_facility, rosetta_server):
    report = check_facility_type(facility_type, rosetta_facility(), launch_request(rosetta_server.failing_repository))

    assert report.ready_url is None
