"""Rucio data staged at the facility: replication rules to its RSE before the launch, as a phase, and the
paths in the staging notebook (real Rucio server, local BinderHub)."""

import json

import pytest

from esap_core import launches
from esap_core.models import Launch, Software
from tests.data_settings import rucio_instance
from tests.fixtures import bearer, make_user


@pytest.fixture
def app(app_factory, rucio_server, binderhub_server, monkeypatch):
    monkeypatch.setenv("TEST_RUCIO_PASSWORD", rucio_server.password)
    instance = rucio_instance(rucio_server, name="datalake", title="Data lake", password={"env": "TEST_RUCIO_PASSWORD"})
    app = app_factory(
        installed=True,
        load_plugins=["binderhub", "rucio"],
        staging_timeout=3,
        plugins={"rucio": {"instances": [instance]}},
    )
    with app.app_context():
        from esap_core import facilities

        for name, rse in (("near-a", "LOCAL_A"), ("near-b", "LOCAL_B"), ("near-nowhere", "NOWHERE")):
            facilities.register(
                None,
                None,
                {"name": name, "kind": "binderhub", "url": binderhub_server.url, "rucio_rse": rse},
                from_config=True,
            )
    return app


@pytest.fixture
def launch_on(app, db):
    software = Software(
        source="git",
        external_id="n",
        name="Notebook",
        ui_type="notebook",
        repository_url="https://github.com/esap-tests/staging",
        ref="main",
    )
    db.add(software)
    db.commit()
    archive = app.extensions["esap.plugins"].archives["datalake"]
    user = make_user(app, "stager")
    auth = bearer(app, user, ["basket:read", "basket:write", "launch"])
    client = app.test_client()
    row = {"did": "escape:demo_dataset_1", "type": "dataset", "rses": "LOCAL_A", "bytes": 3190}
    item = archive.basket_item(row)
    client.post(
        "/api/v1/basket/items",
        headers=auth,
        json={
            "items": [
                {
                    "archive": "datalake",
                    "identifier": item.identifier,
                    "title": item.title,
                    "fetch": dict(item.fetch),
                    "payload": dict(item.payload),
                },
                {"archive": "web", "identifier": "page", "fetch": {"method": "http", "url": "http://127.0.0.1/x"}},
            ]
        },
    )

    def launch(facility):
        answer = client.post("/api/v1/launches", headers=auth, json={"software_id": software.id, "facility": facility})
        with app.app_context():
            launches.run(answer.get_json()["id"], "http://127.0.0.1:5999")
            return app.extensions["esap.db"].session.get(Launch, answer.get_json()["id"])

    return launch


def test_data_already_at_the_facilitys_rse_is_ready_and_listed(launch_on, binderhub_server):
    done = launch_on("near-a")
    assert done.status == "ready", done.message
    staging = [p["message"] for p in done.phases if p["phase"] == "staging-data"]
    assert staging[0].startswith("Asking for 1 item at LOCAL_A") and "in place" in staging[1]
    staged = {item["identifier"]: item.get("staged_path") for item in done.data}
    assert staged["escape:demo_dataset_1"].endswith("/LOCAL_A/escape") and staged["page"] is None
    notebook = json.loads((binderhub_server.jupyter.root_dir / "esap_data.ipynb").read_text())
    assert "/LOCAL_A/escape`" in "".join(notebook["cells"][0]["source"])


def test_data_elsewhere_goes_on_with_a_note_after_the_bounded_wait(launch_on):
    done = launch_on("near-b")
    assert done.status == "ready", done.message
    assert any("the data follows" in p["message"] for p in done.phases if p["phase"] == "staging-data")


def test_a_refused_rule_fails_the_launch_with_rucios_message(launch_on):
    done = launch_on("near-nowhere")
    assert done.status == "failed" and "refused to stage the data at NOWHERE" in done.message
    assert "no such storage element" in done.message
