"""The heart of ESAP in Chromium: basket → blank notebook → local BinderHub → live phases → the Jupyter
session holds the staging notebook, whose first cell fetches the basket's items from ESAP."""

import json
import subprocess
import sys

import pytest
import requests
from playwright.sync_api import expect

from esap_core.models import Software
from tests.fixtures import bearer

pytestmark = pytest.mark.browser


@pytest.fixture
def committed_config(binderhub_server):
    return {
        "load_plugins": ["binderhub"],
        "facilities": [
            {"name": "local-binder", "kind": "binderhub", "title": "Local BinderHub", "url": binderhub_server.url}
        ],
    }


def test_launch_with_data_lands_in_jupyter_with_the_data(
    page, live_server, committed_app, worker, binderhub_server, tmp_path
):
    with committed_app.app_context():
        from esap_core import accounts

        session = committed_app.extensions["esap.db"].session
        blank = Software(
            source="blank-notebook",
            external_id="blank",
            name="Blank notebook",
            repository_url="https://github.com/binder-examples/requirements",
            ref="HEAD",
        )
        session.add(blank)
        session.commit()
        local = accounts.local_user()
    auth = bearer(committed_app, local, ["basket:write"])
    items = [
        {
            "archive": "esap-static",
            "identifier": name,
            "title": f"ESAP's {name}",
            "fetch": {"method": "http", "url": f"{live_server.url}/static/{name}"},
        }
        for name in ("esap.css", "launch.js")
    ]
    requests.post(f"{live_server.url}/api/v1/basket/items", json={"items": items}, headers=auth, timeout=10)

    page.goto(f"{live_server.url}/launches/new")
    page.get_by_role("link", name="Blank notebook").click()
    page.get_by_role("link", name="Local BinderHub").click()
    expect(page.get_by_text("ESAP's esap.css")).to_be_visible()
    page.get_by_role("button", name="Launch").click()

    expect(page.locator("#launch-status .phases")).to_contain_text("building", timeout=30_000)
    page.screenshot(path=str(tmp_path / "launching.png"), full_page=True)
    page.wait_for_url(f"{binderhub_server.jupyter.url}lab/tree/esap_data.ipynb*", timeout=60_000)

    root = binderhub_server.jupyter.root_dir
    settings = json.loads((root / "esap_settings.json").read_text())
    assert settings["api_url"] == live_server.url
    first_cell = "".join(json.loads((root / "esap_data.ipynb").read_text())["cells"][1]["source"])
    run = subprocess.run([sys.executable, "-c", first_cell], cwd=root, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "fetched ESAP's esap.css" in run.stdout and "fetched ESAP's launch.js" in run.stdout
    expected = requests.get(f"{live_server.url}/static/esap.css", timeout=10).text
    [fetched] = (root / "data").glob("esap-*.css")  # the server's name, with a digest of the item's identifier
    assert fetched.read_text() == expected
    assert oct((root / "esap_settings.json").stat().st_mode & 0o777) == "0o600"
