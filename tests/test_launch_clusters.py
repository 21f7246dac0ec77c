"""Sessions with a Dask cluster, through the engine: a real JupyterHub beside a real Dask Gateway, faults included."""

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from esap_core import clusters, facilities, launches, schedule, staging
from esap_core.models import Launch, Software
from tests.fixtures import bearer, csrf_headers, make_user

CLIENT_FOLDER = Path(__file__).parent.parent / "client"
# What the staging notebook's cluster cell does, then a computation on the cluster's worker.
COMPUTE = (
    staging.CLUSTER_CELL
    + """
from distributed import get_worker
print(client.submit(lambda x: x * 2, 21).result(), client.submit(lambda: get_worker().address).result())
client.close()
"""
)


@pytest.fixture
def app(app_factory, jupyterhub, dask_gateway, monkeypatch):
    monkeypatch.setenv("ESAP_TEST_HUB_TOKEN", jupyterhub.token)
    monkeypatch.setenv("ESAP_TEST_DASK_PASSWORD", dask_gateway.password)
    monkeypatch.setenv("ESAP_TEST_WRONG_PASSWORD", "not-the-password")
    app = app_factory(installed=True, load_plugins=["jupyterhub", "binderhub", "dask-gateway"])
    dask = {"kind": "dask-gateway", "url": dask_gateway.url}
    dask_settings = {"password": {"env": "ESAP_TEST_DASK_PASSWORD"}, "scheduler_address": dask_gateway.proxy_address}
    with app.app_context():
        for values in (
            {
                "kind": "jupyterhub",
                "name": "hub",
                "title": "Hub",
                "url": jupyterhub.hub_url,
                "settings": {
                    "api_token": {"env": "ESAP_TEST_HUB_TOKEN"},
                    "profiles": [
                        {"name": "standard", "user_options": {}},
                        {"name": "broken", "user_options": {"fail": True}},
                    ],
                },
            },
            {**dask, "name": "dask", "title": "Dask", "settings": {**dask_settings, "worker_timeout": 60}},
            {
                **dask,
                "name": "dask-quick",
                "title": "Dask, impatient",
                "settings": {**dask_settings, "worker_timeout": 3},
            },
            {
                **dask,
                "name": "dask-wrong",
                "settings": {**dask_settings, "password": {"env": "ESAP_TEST_WRONG_PASSWORD"}},
            },
            {**dask, "name": "dask-down", "url": "http://127.0.0.1:1", "settings": dask_settings},
        ):
            facilities.register(None, None, values, from_config=True)
    return app


@pytest.fixture
def notebook(db):
    software = Software(
        source="git", external_id="hello", name="Hello", ui_type="notebook", repository_url="https://example.org/h.git"
    )
    db.add(software)
    db.commit()
    return software.id


@pytest.fixture
def researcher(app, jupyterhub, dask_gateway):
    """An ESAP user whose hub and gateway user names are both ``clusterer``; their servers and clusters end after."""
    yield make_user(app, "clusterer")
    jupyterhub.stop_all("clusterer")
    dask_gateway.stop_all("clusterer")


def launch(app, user, software_id, facility, options=None, cluster=None, status=202):
    body = {"software_id": software_id, "facility": facility, "options": options or {}}
    if cluster is not None:
        body["cluster"] = cluster
    answer = app.test_client().post("/api/v1/launches", headers=bearer(app, user, ["launch"]), json=body)
    assert answer.status_code == status, answer.get_json()
    if status != 202:
        return answer.get_json()["message"]
    with app.app_context():
        launches.run(answer.get_json()["id"], "http://127.0.0.1:5999")
        return app.extensions["esap.db"].session.get(Launch, answer.get_json()["id"])


@pytest.mark.slow
def test_a_notebook_session_with_a_cluster_computes_on_it_and_stops_with_it(
    app, notebook, researcher, jupyterhub, dask_gateway
):
    done = launch(app, researcher, notebook, "hub", {"profile": "standard"}, {"facility": "dask", "options": {}})

    assert done.status == "ready", done.message
    name = done.cluster["name"]
    assert done.cluster_state == "running" and dask_gateway.clusters("clusterer")[name]["status"] == "RUNNING"
    assert done.cluster["facility"]["name"] == "dask" and done.cluster["options"]["workers"] == 1
    messages = [step["message"] for step in done.phases]
    cluster_ready = messages.index(f"Cluster {name} is ready; starting the session beside it")
    assert (
        messages.index("Workers joining: 1 of 1") < cluster_ready < messages.index("Server ready at /user/clusterer/")
    )
    home = jupyterhub.home("clusterer")
    settings = json.loads((home / staging.SETTINGS).read_text())["cluster"]
    assert settings["name"] == settings["cluster"] == name and settings["proxy_address"] == dask_gateway.proxy_address
    assert settings["tls_key"].startswith("-----BEGIN PRIVATE KEY-----")
    # The cluster's key is in the session's settings file only, never in ESAP's records.
    row = app.extensions["esap.db"].session.get(Launch, done.id)
    assert "PRIVATE KEY" not in json.dumps([row.cluster, row.details, row.phases, row.options, row.log])
    cells = json.loads((home / staging.NOTEBOOK).read_text())["cells"]
    assert "".join(cells[-1]["source"]) == staging.CLUSTER_CELL and name in "".join(cells[-2]["source"])
    # The session's kernel (the hub's venv) connects with esap_client.dask() and computes on the worker.
    run = subprocess.run(
        [str(jupyterhub_python()), "-c", COMPUTE],
        cwd=home,
        env={"PYTHONPATH": str(CLIENT_FOLDER), "PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    answer, worker = run.stdout.split()
    assert answer == "42" and worker.startswith("tls://127.0.0.1:")

    with app.app_context():
        assert launches.stop_label(row) == "Stop the session and its cluster"
        launches.stop(row)
    assert jupyterhub.server_model("clusterer") is None
    assert dask_gateway.wait_until_stopped("clusterer", name) == "STOPPED"
    assert row.cluster_state == "stopped" and row.phases[-1]["message"] == "Stopped"


def jupyterhub_python() -> Path:
    from esap_jupyterhub.testing import VENV

    return VENV / "bin" / "python"


def test_a_failed_session_launch_stops_its_cluster(app, notebook, researcher, dask_gateway):
    done = launch(app, researcher, notebook, "hub", {"profile": "broken"}, {"facility": "dask"})

    assert done.status == "failed" and "could not start the server" in done.message
    assert done.cluster_state == "stopped"
    assert dask_gateway.wait_until_stopped("clusterer", done.cluster["name"]) == "STOPPED"


def test_a_cluster_that_cannot_start_fails_the_launch_before_the_session_starts(
    app, notebook, researcher, jupyterhub, dask_gateway
):
    done = launch(
        app, researcher, notebook, "hub", {}, {"facility": "dask-quick", "options": {"image": "never-starts"}}
    )

    assert done.status == "failed"
    assert done.message == "Only 0 of 1 worker joined the Dask cluster within 3 s (worker_timeout), so it was stopped"
    assert jupyterhub.server_model("clusterer") is None  # the session never started
    assert dask_gateway.wait_until_stopped("clusterer", done.cluster["name"]) == "STOPPED"
    assert done.cluster_state == "stopped"


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ("dask-wrong", "Dask Gateway refused ESAP's credentials for user 'esap': Authentication required"),
        ("dask-down", "Dask Gateway at http://127.0.0.1:1 cannot be reached: "),
    ],
)
def test_a_gateway_that_refuses_or_is_down_is_refused_at_checkout_with_its_words(
    app, notebook, researcher, cluster, message
):
    # The checkout asks the gateway for its options (as ESAP's own user): that is where these show.
    refused = launch(app, researcher, notebook, "hub", {}, {"facility": cluster}, status=400)

    assert refused.startswith(f"{cluster} cannot take a cluster now: {message}")


def test_options_out_of_bounds_are_refused_at_checkout(app, notebook, researcher, dask_gateway):
    message = launch(app, researcher, notebook, "hub", {}, {"facility": "dask", "options": {"workers": 9}}, status=400)
    assert message == "The cluster on Dask: Workers must be at most 4, not 9."
    message = launch(app, researcher, notebook, "hub", {}, {"facility": "hub"}, status=400)
    assert message == "There is no cluster facility named 'hub' that you can use."
    message = launch(app, researcher, notebook, "dask", {}, {"facility": "dask"}, status=400)
    assert message == "Dask starts a cluster itself; add no other cluster to it."
    with app.app_context():
        assert app.extensions["esap.db"].session.scalars(select(Launch)).all() == []
    assert dask_gateway.clusters("clusterer") == {}


def test_the_checkout_page_offers_a_cluster_with_its_options(app, notebook, researcher):
    client = app.test_client()
    page = client.get(f"/launches/new?software={notebook}&facility=hub").get_data(as_text=True)
    assert "A Dask cluster beside the session" in page and "Add a cluster on Dask" in page

    page = client.get(f"/launches/new?software={notebook}&facility=hub&cluster=dask").get_data(as_text=True)
    assert '<input type="hidden" name="cluster" value="dask">' in page
    assert 'name="cluster-option-workers"' in page and 'min="1"' in page and 'max="4"' in page
    assert 'name="cluster-option-image"' in page and "never-starts" in page

    page = client.get(f"/launches/new?software={notebook}&facility=hub&cluster=dask-down").get_data(as_text=True)
    assert "Dask Gateway at http://127.0.0.1:1 cannot be reached" in page and 'name="cluster"' not in page

    form = {
        "software_id": notebook,
        "facility": "hub",
        "cluster": "dask",
        "cluster-option-workers": "0",
        "csrf_token": csrf_headers(client)["X-CSRF-Token"],
    }
    refused = client.post("/launches", data=form)
    assert refused.status_code == 400 and "Workers must be at least 1, not 0" in refused.get_data(as_text=True)


def test_a_cluster_on_its_own_is_stopped_by_the_user(app, notebook, researcher, dask_gateway):
    done = launch(app, researcher, notebook, "dask", {"workers": 1})

    assert done.status == "ready", done.message
    name = done.details["cluster"]
    assert done.url == f"{dask_gateway.url}/clusters/{name}/status"
    assert done.cluster_state == "running" and done.cluster["name"] == name
    with app.app_context():
        assert launches.stop_label(app.extensions["esap.db"].session.get(Launch, done.id)) == "Stop the cluster"
    stopped = app.test_client().post(f"/api/v1/launches/{done.id}/stop", headers=bearer(app, researcher, ["launch"]))
    assert stopped.status_code == 200, stopped.get_json()
    assert stopped.get_json()["cluster_state"] == "stopped"
    assert dask_gateway.wait_until_stopped("clusterer", name) == "STOPPED"


def test_the_upkeep_stops_the_cluster_of_a_launch_whose_worker_died(app, notebook, researcher, dask_gateway):
    done = launch(app, researcher, notebook, "dask")
    assert done.status == "ready", done.message
    with app.app_context():
        row = app.extensions["esap.db"].session.get(Launch, done.id)
        row.status = "failed"  # what launches.reap writes when a launch's job is gone
        app.extensions["esap.db"].session.commit()
        assert schedule.tick()["clusters"] == 1
        assert row.cluster_state == "stopped"
        assert clusters.reap() == 0
    assert dask_gateway.wait_until_stopped("clusterer", done.details["cluster"]) == "STOPPED"


def test_beside_a_session_esap_cannot_stop_the_button_stops_the_cluster_alone(
    app, notebook, researcher, binderhub_server, dask_gateway
):
    with app.app_context():
        values = {"kind": "binderhub", "name": "binder", "url": binderhub_server.url}  # no hub_token: no stop
        facilities.register(None, None, values, from_config=True)
    done = launch(app, researcher, notebook, "binder", {}, {"facility": "dask"})
    assert done.status == "ready", done.message

    with app.app_context():
        row = app.extensions["esap.db"].session.get(Launch, done.id)
        assert launches.stop_label(row) == "Stop its cluster (the session ends on its own)"
    stopped = app.test_client().post(f"/api/v1/launches/{done.id}/stop", headers=bearer(app, researcher, ["launch"]))
    assert stopped.status_code == 200, stopped.get_json()
    assert stopped.get_json()["phases"][-1]["message"] == "Stopped its cluster; the session ends on its own"
    assert dask_gateway.wait_until_stopped("clusterer", done.cluster["name"]) == "STOPPED"
