"""Faults around a launch: a worker killed in the middle ends the launch as failed, never 'running' forever."""

import os
import signal
import time
from datetime import timedelta

import pytest

from esap_core import launches
from esap_core.models import Launch, Software
from tests.fixtures import bearer, make_user


@pytest.fixture
def committed_config(binderhub_server):
    return {
        "load_plugins": ["binderhub"],
        "facilities": [{"name": "local-binder", "kind": "binderhub", "url": binderhub_server.url}],
    }


def wait_for(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_killed_worker_leaves_no_launch_running(committed_app, worker, binderhub_server):
    binderhub_server.script("gh/esap-tests/hangs/*", hang=True)
    client = committed_app.test_client()
    client.get("/api/v1/health")  # registers the configured facility
    with committed_app.app_context():
        session = committed_app.extensions["esap.db"].session
        software = Software(
            source="git",
            external_id="hangs",
            name="Hangs",
            repository_url="https://github.com/esap-tests/hangs",
            ref="main",
        )
        session.add(software)
        session.commit()
        software_id = software.id
    auth = bearer(committed_app, make_user(committed_app, "alice"), ["launch"])
    launch_id = client.post(
        "/api/v1/launches", headers=auth, json={"software_id": software_id, "facility": "local-binder"}
    ).get_json()["id"]

    def status():
        return client.get(f"/api/v1/launches/{launch_id}", headers=auth).get_json()["status"]

    wait_for(lambda: status() == "running", 30)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse die mid-build
    worker.wait()
    time.sleep(2)
    with committed_app.app_context():
        assert launches.reap(dead_after=timedelta(seconds=1)) == 1
        launch = committed_app.extensions["esap.db"].session.get(Launch, launch_id)
        assert launch.status == "failed" and "worker stopped" in launch.message
    assert status() == "failed"
