"""In Chromium: a notebook launched on the local JupyterHub ends in the hub user's server with the staging
notebook; a desktop tool launched through the local Rosetta ends at its task creation step."""

from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from esap_core.models import Software

pytestmark = pytest.mark.browser


@pytest.fixture
def committed_config(jupyterhub, rosetta_server, monkeypatch):
    # Secrets come from the environment, which the worker inherits (ESAP_* variables excepted).
    monkeypatch.setenv("TEST_HUB_SERVICE_TOKEN", jupyterhub.token)
    monkeypatch.setenv("TEST_ROSETTA_PASSWORD", rosetta_server.password)
    return {
        "load_plugins": ["jupyterhub", "rosetta"],
        "facilities": [
            {
                "name": "hub",
                "kind": "jupyterhub",
                "title": "Data lake hub",
                "url": jupyterhub.hub_url,
                "settings": {"api_token": {"env": "TEST_HUB_SERVICE_TOKEN"}},
            },
            {
                "name": "rosetta",
                "kind": "rosetta",
                "title": "Rosetta",
                "url": rosetta_server.url,
                "settings": {"username": rosetta_server.username, "password": {"env": "TEST_ROSETTA_PASSWORD"}},
            },
        ],
    }


def add_software(app, **values):
    with app.app_context():
        session = app.extensions["esap.db"].session
        software = Software(source="git", **values)
        session.add(software)
        session.commit()
        return software.id


def launch_in_browser(page, base_url, software_name, facility_title):
    page.goto(f"{base_url}/launches/new")
    page.get_by_role("link", name=software_name).click()
    page.get_by_role("link", name=facility_title).click()
    page.get_by_role("button", name="Launch").click()


def test_notebook_on_jupyterhub(page, live_server, committed_app, worker, jupyterhub):
    add_software(
        committed_app,
        external_id="hello",
        name="Hello notebook",
        ui_type="notebook",
        repository_url="https://example.org/hello.git",
    )
    try:
        launch_in_browser(page, live_server.url, "Hello notebook", "Data lake hub")
        expect(page.locator("#launch-status .phases")).to_contain_text("launching", timeout=60_000)
        page.wait_for_url(f"{jupyterhub.hub_url}/**", timeout=90_000)
        if "/hub/login" in page.url:  # the hub's own login (SSO in production, its dummy one here)
            page.fill("input[name=username]", "local")
            page.fill("input[name=password]", "any")
            page.locator("input[type=submit], button[type=submit]").first.click()
        page.wait_for_url(f"{jupyterhub.hub_url}/user/local/lab/tree/esap_data.ipynb*", timeout=60_000)
        assert (jupyterhub.home("local") / "esap_data.ipynb").exists()
    finally:
        jupyterhub.stop_all("local")


def test_desktop_tool_on_rosetta(page, live_server, committed_app, worker, rosetta_server):
    add_software(
        committed_app,
        external_id="topcat",
        name="TOPCAT",
        ui_type="desktop",
        repository_url="https://github.com/Starlink/topcat-docker",
        ref="v4.9",
    )
    launch_in_browser(page, live_server.url, "TOPCAT", "Rosetta")
    page.wait_for_url(f"{rosetta_server.url}/**", timeout=60_000)
    # The task creation step, behind Rosetta's own login page.
    assert "/new_task/?step=two&task_container_uuid=" in unquote(page.url)
    assert rosetta_server.imports()[-1]["repository_url"] == "https://github.com/Starlink/topcat-docker"
