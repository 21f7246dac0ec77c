"""The JupyterHub facility type as ESAP loads it keeps the plugin contract (esap_core.testing), on the test hub."""

import pytest

from esap_core.testing import check_facility_type


@pytest.fixture
def esap_plugin_name():
    return "jupyterhub"


@pytest.fixture
def facility_type(esap_app):
    return esap_app.extensions["esap.plugins"].facility_types["jupyterhub"]


def test_a_launch_keeps_the_contract_and_stops(facility_type, hub_facility, hub_user, launch_request, jupyterhub):
    facility = hub_facility(
        profiles=[{"name": "small", "title": "Small", "user_options": {"env": {"ESAP_PROFILE": "small"}}}]
    )

    report = check_facility_type(facility_type, facility, launch_request(hub_user, {"profile": "small"}))

    assert report.ready_url.startswith(f"{jupyterhub.hub_url}/user/{hub_user}/")
    assert jupyterhub.server_model(hub_user) is None  # the suite stopped it again
