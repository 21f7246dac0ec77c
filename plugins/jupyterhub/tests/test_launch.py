"""Launches on a real JupyterHub: phases, the staged notebook, reuse, user options, named servers, stop."""

import json

import requests
from esap_jupyterhub.facility import JupyterHubFacility

from esap_core import Phase
from esap_core.testing import RecordingReport

from .conftest import NOTEBOOK, SETTINGS_FILE

FACILITY = JupyterHubFacility()


def test_launch_starts_the_server_and_stages_the_notebook(jupyterhub, hub_facility, hub_user, launch_request):
    request = launch_request(hub_user)
    report = RecordingReport()

    FACILITY.launch(hub_facility(), request, report)

    assert report.ready_url == f"{jupyterhub.hub_url}/user/{hub_user}/lab/tree/{NOTEBOOK}"
    phases = report.phases
    assert phases[0] == Phase.LAUNCHING and phases[-1] == Phase.LOADING
    assert any(call["progress"] == 100.0 and "ready" in call["message"].lower() for call in report.of("phase"))
    assert report.details == {"hub_user": hub_user, "server_name": ""}
    assert report.problems() == []  # the launch contract, as the conformance suite reads it
    # The files are in the user's home, as the core handed them over.
    home = jupyterhub.home(hub_user)
    notebook = json.loads((home / NOTEBOOK).read_text())
    assert request.launch_id in "".join(notebook["cells"][0]["source"])
    assert json.loads((home / SETTINGS_FILE).read_text())["launch"] == request.launch_id
    # ... and the user's server serves the notebook through its contents API.
    response = requests.get(
        f"{jupyterhub.hub_url}/user/{hub_user}/api/contents/{NOTEBOOK}",
        headers={"Authorization": f"token {jupyterhub.token}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["type"] == "notebook"


def test_a_running_server_is_reused(jupyterhub, hub_facility, hub_user, launch_request):
    facility = hub_facility()
    FACILITY.launch(facility, launch_request(hub_user), RecordingReport())
    pid = jupyterhub.server_model(hub_user)["state"]["pid"]

    second = launch_request(hub_user)
    report = RecordingReport()
    FACILITY.launch(facility, second, report)

    assert jupyterhub.server_model(hub_user)["state"]["pid"] == pid
    assert any("reusing" in call["message"] for call in report.of("phase"))
    assert second.launch_id in (jupyterhub.home(hub_user) / SETTINGS_FILE).read_text()
    assert report.ready_url.endswith(f"/user/{hub_user}/lab/tree/{NOTEBOOK}")


def test_profile_and_offered_user_options_take_effect(jupyterhub, hub_facility, hub_user, launch_request):
    facility = hub_facility(
        profiles=[
            {"name": "small", "title": "Small", "user_options": {"env": {"ESAP_PROFILE": "small"}}},
            {"name": "large", "title": "Large", "user_options": {"env": {"ESAP_PROFILE": "large"}}},
        ],
        user_options=[{"name": "default_url", "label": "Open", "choices": ["/lab", "/tree"], "default": "/lab"}],
    )

    FACILITY.launch(facility, launch_request(hub_user, {"profile": "large", "default_url": "/tree"}), RecordingReport())

    environ = jupyterhub.server_environ(hub_user)
    assert environ["ESAP_PROFILE"] == "large"
    assert environ["JUPYTERHUB_DEFAULT_URL"] == "/tree"
    assert jupyterhub.server_model(hub_user)["user_options"] == {
        "env": {"ESAP_PROFILE": "large"},
        "default_url": "/tree",
    }


def test_named_servers_give_each_launch_its_own_server_and_stop_stops_one(
    jupyterhub, hub_facility, hub_user, launch_request
):
    facility = hub_facility(named_servers=True)
    first, second = launch_request(hub_user), launch_request(hub_user)
    first_report = RecordingReport()

    FACILITY.launch(facility, first, first_report)
    FACILITY.launch(facility, second, RecordingReport())

    first_name = first_report.details["server_name"]
    assert first_name == f"esap-{first.launch_id[:25]}"
    assert first_report.ready_url == f"{jupyterhub.hub_url}/user/{hub_user}/{first_name}/lab/tree/{NOTEBOOK}"
    assert jupyterhub.server_model(hub_user, first_name)["ready"]
    FACILITY.stop(facility, first.launch_id, first.user)
    assert jupyterhub.server_model(hub_user, first_name) is None
    assert jupyterhub.server_model(hub_user, f"esap-{second.launch_id[:25]}")["ready"]


def test_stop_stops_the_default_server(jupyterhub, hub_facility, hub_user, launch_request):
    facility = hub_facility()
    request = launch_request(hub_user)
    FACILITY.launch(facility, request, RecordingReport())
    assert jupyterhub.server_model(hub_user)["ready"]

    FACILITY.stop(facility, request.launch_id, request.user)

    assert jupyterhub.server_model(hub_user) is None
    # Stopping what is already stopped is not an error.
    FACILITY.stop(facility, request.launch_id, request.user)
