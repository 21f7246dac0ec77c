"""The VO archives as ESAP loads them keep the plugin contract (esap_core.testing), against the local DaCHS."""

import pytest

from esap_core.testing import check_archive, check_services


@pytest.fixture
def esap_plugin_name():
    return "vo"


@pytest.fixture
def esap_plugin_settings(dachs, sesame):
    return {
        "registry_tap_url": dachs.registry_tap_url,
        "name_resolver_url": sesame,
        "private_services": True,
        "services": [{"name": "test-obs", "title": "Test observations", "tap_url": dachs.tap_url, "table": "esap.obs"}],
    }


@pytest.fixture
def archives(esap_app):
    return esap_app.extensions["esap.plugins"].archives


def test_the_registry_keeps_the_contract(archives, esap_user_context):
    page = check_archive(archives["vo-registry"], {"keywords": "esap", "service_type": "tap"}, user=esap_user_context)

    assert page.rows and {row["service_type"] for row in page.rows} == {"tap"}


def test_a_pinned_service_keeps_the_contract_by_position_and_by_target(archives, esap_user_context, dachs):
    ra, dec = dachs.cluster_centre
    by_position = check_archive(archives["test-obs"], {"ra": ra, "dec": dec, "radius": 0.3}, user=esap_user_context)
    by_target = check_archive(archives["test-obs"], {"target": "M31", "radius": 0.3}, user=esap_user_context)

    assert by_position.rows and by_target.rows
    assert {row["target_name"] for row in by_target.rows} == {"M31"}


@pytest.mark.parametrize("service_type", ["tap", "scs"])
def test_the_registrys_services_keep_the_contract(archives, esap_user_context, dachs, service_type):
    registry = archives["vo-registry"]
    row = registry.search({"keywords": "stars", "service_type": service_type}, 1, esap_user_context, 20).rows[0]
    statement = "SELECT TOP 3 name, ra, dec FROM esap.sources ORDER BY name" if service_type == "tap" else ""

    page = check_services(registry, row, statement, user=esap_user_context, cone=(*dachs.cluster_centre, 0.1))

    assert page.rows  # the query (TAP) or the cone around 0, 0 found something to make items of
