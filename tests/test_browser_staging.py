"""In Chromium: a launch with Rucio items on a facility that declares an RSE shows the replication phase, and the
staging notebook lists where the data is on the facility's storage."""

import json

import pytest
import requests
from playwright.sync_api import expect

from esap_core.models import Software
from tests.data_settings import rucio_instance
from tests.fixtures import bearer

pytestmark = pytest.mark.browser


@pytest.fixture
def committed_config(binderhub_server, rucio_server, monkeypatch):
    monkeypatch.setenv("TEST_RUCIO_PASSWORD", rucio_server.password)
    instance = rucio_instance(rucio_server, name="datalake", title="Data lake", password={"env": "TEST_RUCIO_PASSWORD"})
    return {
        "load_plugins": ["binderhub", "rucio"],
        "plugins": {"rucio": {"instances": [instance]}},
        "facilities": [
            {
                "name": "near-data",
                "kind": "binderhub",
                "title": "BinderHub near the data",
                "url": binderhub_server.url,
                "rucio_rse": "LOCAL_A",
            }
        ],
    }


def test_rucio_items_are_staged_at_the_facility(page, live_server, committed_app, worker, binderhub_server):
    with committed_app.app_context():
        from esap_core import accounts

        session = committed_app.extensions["esap.db"].session
        session.add(
            Software(
                source="git",
                external_id="n",
                name="Analysis notebook",
                ui_type="notebook",
                repository_url="https://github.com/esap-tests/analysis",
                ref="main",
            )
        )
        session.commit()
        local = accounts.local_user()
    archive = committed_app.extensions["esap.plugins"].archives["datalake"]
    item = archive.basket_item({"did": "escape:demo_dataset_1", "type": "dataset", "rses": "LOCAL_A"})
    body = {
        "archive": "datalake",
        "identifier": item.identifier,
        "title": item.title,
        "fetch": dict(item.fetch),
        "payload": dict(item.payload),
    }
    requests.post(
        f"{live_server.url}/api/v1/basket/items",
        json=body,
        timeout=10,
        headers=bearer(committed_app, local, ["basket:write"]),
    )

    page.goto(f"{live_server.url}/launches/new")
    page.get_by_role("link", name="Analysis notebook").click()
    page.get_by_role("link", name="BinderHub near the data").click()
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#launch-status .phases")).to_contain_text("staging-data", timeout=30_000)
    expect(page.locator("#launch-status .phases")).to_contain_text("in place", timeout=30_000)
    page.wait_for_url(f"{binderhub_server.jupyter.url}lab/tree/esap_data.ipynb*", timeout=60_000)
    notebook = json.loads((binderhub_server.jupyter.root_dir / "esap_data.ipynb").read_text())
    listing = "".join(notebook["cells"][0]["source"])
    assert "demo_dataset_1" in listing and "/LOCAL_A/escape` on this facility" in listing and "\\" not in listing
