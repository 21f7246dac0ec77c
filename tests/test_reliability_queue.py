"""Faults around the launch queue, with a real `esap worker`: a facility that dies mid-build, Redis restarted.

What must hold: every launch ends, ready or failed with a message, within its bound (the
reaper fails launches whose job the queue lost), and nothing is lost from baskets, which
live in the database.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis

from esap_core import launches
from esap_core.models import Software
from tests.fixtures import bearer, make_user

BOUND = 60.0  # seconds for every launch to end
# The workers reap after 90 s; here sooner, but past a running launch's heartbeat so a live one is never reaped.
REAP_AFTER = timedelta(seconds=launches.HEARTBEAT * 1.5)


class RestartableRedis:
    """A private redis-server on a fixed loopback port that the test stops and starts again (empty)."""

    def __init__(self, workdir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*command, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis.from_url(self.url).ping()
                return
            except Exception:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    assert shutil.which("redis-server"), "redis-server is not installed: run scripts/services.sh"
    server = RestartableRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def committed_config(binderhub_server, private_redis):
    return {
        "redis_url": private_redis.url,
        "load_plugins": ["binderhub"],
        "facilities": [{"name": "local-binder", "kind": "binderhub", "url": binderhub_server.url}],
    }


def notebook(app, ref: str) -> int:
    with app.app_context():
        session = app.extensions["esap.db"].session
        software = Software(
            source="git", external_id=ref, name=ref, repository_url="https://github.com/esap-tests/queue", ref=ref
        )
        session.add(software)
        session.commit()
        return software.id


def ended_within(client, auth, launch_ids, app, seconds: float) -> dict[str, dict]:
    """Wait until every launch has ended, running the reaper as the workers' schedule does."""
    deadline = time.monotonic() + seconds
    while True:
        found = {i: client.get(f"/api/v1/launches/{i}", headers=auth).get_json() for i in launch_ids}
        if all(launch["status"] in ("ready", "failed") for launch in found.values()):
            return found
        assert time.monotonic() < deadline, {i: launch["status"] for i, launch in found.items()}
        with app.app_context():
            launches.reap(dead_after=REAP_AFTER)
        time.sleep(0.5)


@pytest.mark.slow
def test_facility_dying_mid_build_fails_the_launch_with_a_message(committed_app, worker, binderhub_server):
    binderhub_server.script("gh/esap-tests/queue/dies*", die_after="building")
    client = committed_app.test_client()
    client.get("/api/v1/health")  # registers the configured facility
    auth = bearer(committed_app, make_user(committed_app, "ada"), ["launch"])
    body = {"software_id": notebook(committed_app, "dies-mid-build"), "facility": "local-binder"}
    launch_id = client.post("/api/v1/launches", headers=auth, json=body).get_json()["id"]
    launch = ended_within(client, auth, [launch_id], committed_app, BOUND)[launch_id]
    assert launch["status"] == "failed" and "building" in launch["message"]
    assert "Traceback" not in launch["message"]


@pytest.mark.slow
def test_redis_restarted_during_launches_ends_every_launch_and_keeps_baskets(
    committed_app, worker, binderhub_server, private_redis
):
    binderhub_server.script("gh/esap-tests/queue/slow*", delay=0.3)
    client = committed_app.test_client()
    client.get("/api/v1/health")
    auth = bearer(committed_app, make_user(committed_app, "bea"), ["basket:read", "basket:write", "launch"])
    items = [{"archive": "a", "identifier": f"item-{n}", "title": f"Item {n}"} for n in range(5)]
    assert client.post("/api/v1/basket/items", headers=auth, json={"items": items}).status_code == 201
    software_id = notebook(committed_app, "slow-build")
    body = {"software_id": software_id, "facility": "local-binder"}
    launch_ids = [client.post("/api/v1/launches", headers=auth, json=body).get_json()["id"] for _ in range(3)]

    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/launches/{launch_ids[0]}", headers=auth).get_json()["status"] != "running":
        assert time.monotonic() < deadline, "the first launch never started"
        time.sleep(0.1)
    private_redis.stop()  # the queue, with the two waiting launches, is gone
    refused = client.post("/api/v1/launches", headers=auth, json=body)
    assert refused.status_code == 503 and "job queue" in refused.get_json()["message"]
    private_redis.start()

    ended = ended_within(client, auth, launch_ids, committed_app, BOUND)
    # The running launch lives in its work horse and the database; the waiting ones went with the queue.
    assert ended[launch_ids[0]]["status"] == "ready"
    for launch_id in launch_ids[1:]:
        assert ended[launch_id]["status"] == "failed" and "Please launch again" in ended[launch_id]["message"]

    basket = client.get("/api/v1/basket/items", headers=auth).get_json()
    assert sorted(item["identifier"] for item in basket["items"]) == [f"item-{n}" for n in range(5)]
    again = client.post("/api/v1/launches", headers=auth, json=body)
    assert again.status_code == 202  # the queue is back, and the worker took up again
    assert (
        ended_within(client, auth, [again.get_json()["id"]], committed_app, BOUND)[again.get_json()["id"]]["status"]
        == "ready"
    )
