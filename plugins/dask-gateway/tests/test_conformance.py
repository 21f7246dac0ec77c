"""The Dask Gateway facility type as ESAP loads it keeps the plugin contract (esap_core.testing), on a real gateway."""

import pytest

from esap_core.testing import check_cluster_facility, check_facility_type


@pytest.fixture
def facility_type(esap_app):
    return esap_app.extensions["esap.plugins"].facility_types["dask-gateway"]


def test_a_cluster_on_its_own_keeps_the_launch_contract_and_is_stopped(
    facility_type, gateway_facility, cluster_request, dask_gateway, researcher
):
    report = check_facility_type(facility_type, gateway_facility(), cluster_request(), timeout=10)

    name = report.details["cluster"]
    assert report.ready_url == f"{dask_gateway.url}/clusters/{name}/status"
    assert dask_gateway.wait_until_stopped(researcher, name) == "STOPPED"  # the suite stopped it


def test_a_cluster_beside_a_session_keeps_the_cluster_contract_and_is_stopped(
    facility_type, gateway_facility, cluster_request, dask_gateway, researcher
):
    cluster = check_cluster_facility(facility_type, gateway_facility(), cluster_request(workers=1), timeout=10)

    assert cluster.connection["kind"] == "dask"
    assert dask_gateway.wait_until_stopped(researcher, cluster.name) == "STOPPED"
