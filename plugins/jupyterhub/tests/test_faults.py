"""Launch faults against the real hub: each ends in a FacilityError carrying the hub's own reason."""

import re

import pytest
from esap_jupyterhub.facility import JupyterHubFacility

from esap_core import FacilityError, Secret
from esap_core.testing import RecordingReport, free_port

FACILITY = JupyterHubFacility()


def test_a_hub_that_is_down(hub_facility, hub_user, launch_request):
    port = free_port()
    facility = hub_facility(hub_url=f"http://127.0.0.1:{port}")

    with pytest.raises(FacilityError, match=rf"JupyterHub at http://127.0.0.1:{port}/hub/api cannot be reached: "):
        FACILITY.launch(facility, launch_request(hub_user), RecordingReport())


def test_a_spawn_that_fails_gives_the_hubs_reason(jupyterhub, hub_facility, hub_user, launch_request):
    facility = hub_facility(profiles=[{"name": "broken", "user_options": {"fail": True}}])
    report = RecordingReport()

    with pytest.raises(FacilityError) as raised:
        FACILITY.launch(facility, launch_request(hub_user), report)

    assert str(raised.value).startswith("JupyterHub could not start the server: Spawn failed:")
    assert "No such file or directory" in str(raised.value)
    assert report.ready_url is None
    assert jupyterhub.server_model(hub_user) is None


def test_a_token_without_admin_servers_is_refused_with_the_hubs_message(
    jupyterhub, hub_facility, hub_user, launch_request
):
    facility = hub_facility(api_token=Secret(jupyterhub.weak_token, "test"))

    with pytest.raises(FacilityError) as raised:
        FACILITY.launch(facility, launch_request(hub_user), RecordingReport())

    assert str(raised.value) == (
        "JupyterHub refused the service token: "
        "Action is not authorized with current scopes; requires any of [start:servers]"
    )


def test_the_overall_timeout_fails_the_launch_and_stops_the_spawn(jupyterhub, hub_facility, hub_user, launch_request):
    facility = hub_facility(timeout=3, profiles=[{"name": "slow", "user_options": {"slow": 60}}])
    report = RecordingReport()

    with pytest.raises(FacilityError, match=r"^JupyterHub: .* gave up after 3 s$"):
        FACILITY.launch(facility, launch_request(hub_user), report)

    assert report.ready_url is None
    server = jupyterhub.server_model(hub_user)
    assert server is None or server["pending"] == "stop"


def test_an_unusable_username_is_refused(hub_facility, launch_request):
    with pytest.raises(FacilityError, match=re.escape("no usable hub username from '@@@'")):
        FACILITY.launch(hub_facility(), launch_request("@@@"), RecordingReport())


def test_a_choice_outside_the_offered_ones_is_refused(hub_facility, hub_user, launch_request):
    facility = hub_facility(user_options=[{"name": "default_url", "label": "Open", "choices": ["/lab", "/tree"]}])

    with pytest.raises(FacilityError, match=r"Open: '/etc' is not one of the choices \(/lab, /tree\)"):
        FACILITY.launch(facility, launch_request(hub_user, {"default_url": "/etc"}), RecordingReport())
