"""A notebook with a Dask cluster, in Chromium: basket → blank notebook → JupyterHub with a cluster from a real Dask
Gateway → the session's kernel runs the staging notebook's cells: the first fetches the data, the next computes on
the cluster."""

import json
import time
import uuid

import pytest
import requests
import websocket
from playwright.sync_api import expect

from esap_core.models import Software
from tests.fixtures import bearer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
USER = "local"  # the single-user mode's user: the hub's and the gateway's user name too


@pytest.fixture
def committed_config(jupyterhub, dask_gateway, monkeypatch):
    # The worker process takes these from the environment (it drops ESAP_* variables, so not named so).
    monkeypatch.setenv("HUB_TEST_TOKEN", jupyterhub.token)
    monkeypatch.setenv("DASK_TEST_PASSWORD", dask_gateway.password)
    return {
        "load_plugins": ["jupyterhub", "dask-gateway"],
        "facilities": [
            {
                "name": "hub",
                "kind": "jupyterhub",
                "title": "Local JupyterHub",
                "url": jupyterhub.hub_url,
                "settings": {"api_token": {"env": "HUB_TEST_TOKEN"}, "username_template": "{username}"},
            },
            {
                "name": "dask",
                "kind": "dask-gateway",
                "title": "Local Dask Gateway",
                "url": dask_gateway.url,
                "settings": {
                    "password": {"env": "DASK_TEST_PASSWORD"},
                    "scheduler_address": dask_gateway.proxy_address,
                    "worker_timeout": 60,
                },
            },
        ],
    }


@pytest.fixture
def cleaned_up(jupyterhub, dask_gateway):
    yield
    jupyterhub.stop_all(USER)
    dask_gateway.stop_all(USER)


def test_a_notebook_on_jupyterhub_with_a_dask_cluster_computes_on_it(
    page, live_server, committed_app, worker, jupyterhub, dask_gateway, cleaned_up
):
    with committed_app.app_context():
        from esap_core import accounts

        session = committed_app.extensions["esap.db"].session
        session.add(
            Software(
                source="blank-notebook",
                external_id="blank",
                name="Blank notebook",
                repository_url="https://github.com/binder-examples/requirements",
            )
        )
        session.commit()
        local = accounts.local_user()
    item = {
        "archive": "esap-static",
        "identifier": "esap.css",
        "title": "ESAP's stylesheet",
        "fetch": {"method": "http", "url": f"{live_server.url}/static/esap.css"},
    }
    auth = bearer(committed_app, local, ["basket:write", "launch"])
    added = requests.post(f"{live_server.url}/api/v1/basket/items", json={"items": [item]}, headers=auth, timeout=10)
    assert added.ok, added.text

    page.goto(f"{live_server.url}/launches/new")
    page.get_by_role("link", name="Blank notebook").click()
    page.get_by_role("link", name="Local JupyterHub").click()
    page.get_by_role("link", name="Add a cluster on Local Dask Gateway").click()
    expect(page.get_by_label("Workers")).to_have_value("1")
    expect(page.get_by_label("Worker memory (GiB)")).to_have_attribute("max", "1.0")
    page.set_viewport_size({"width": 390, "height": 844})  # the checkout with the cluster's fields fits a phone
    # (The site's navigation bar is wider than that in local mode: a layout matter outside this test.)
    wider = "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 390).length"
    assert page.evaluate(wider) == 0
    page.get_by_label("Image").select_option("python")
    page.get_by_role("button", name="Launch").click()

    phases = page.locator("#launch-status .phases")
    expect(phases).to_contain_text("Workers joining: 1 of 1", timeout=60_000)
    expect(phases).to_contain_text("starting the session beside it")
    launch_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    page.wait_for_url(f"{jupyterhub.hub_url}/**", timeout=60_000)  # the launch page opens the session

    settings = json.loads((jupyterhub.home(USER) / "esap_settings.json").read_text())
    name = settings["cluster"]["name"]
    assert dask_gateway.clusters(USER)[name]["status"] == "RUNNING"
    cells = json.loads((jupyterhub.home(USER) / "esap_data.ipynb").read_text())["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    with Kernel(jupyterhub, USER) as kernel:
        fetched = kernel.run(code[0])  # the first cell: the data, and esap_client from ESAP itself
        assert "fetched ESAP's stylesheet" in fetched
        (cluster_cell,) = [source for source in code if "client = dask()" in source]
        kernel.run(cluster_cell)  # the cluster cell: client = dask() from esap_client
        assert kernel.run("print(client.submit(lambda x: x + 1, 41).result())").strip() == "42"
        worker_address = kernel.run(
            "from distributed import get_worker\nprint(client.submit(lambda: get_worker().address).result())"
        )
        assert worker_address.strip().startswith("tls://127.0.0.1:")

    # Stopping the session stops its cluster too.
    stopped = requests.post(f"{live_server.url}/api/v1/launches/{launch_id}/stop", headers=auth, timeout=60)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["cluster_state"] == "stopped"
    assert dask_gateway.wait_until_stopped(USER, name) == "STOPPED"
    assert jupyterhub.server_model(USER) is None


class Kernel:
    """A kernel of a user's server, run through the Jupyter server's REST and websocket kernel API."""

    def __init__(self, jupyterhub, user: str):
        self.base = f"{jupyterhub.hub_url}/user/{user}/api/kernels"
        self.headers = {"Authorization": f"token {jupyterhub.token}"}
        self.session = uuid.uuid4().hex

    def __enter__(self):
        answer = requests.post(self.base, json={"name": "python3"}, headers=self.headers, timeout=30)
        answer.raise_for_status()
        self.id = answer.json()["id"]
        url = self.base.replace("http://", "ws://") + f"/{self.id}/channels"
        self.socket = websocket.create_connection(
            url, header=[f"{k}: {v}" for k, v in self.headers.items()], timeout=60
        )
        return self

    def __exit__(self, *exc):
        self.socket.close()
        requests.delete(f"{self.base}/{self.id}", headers=self.headers, timeout=30)

    def run(self, code: str, within: float = 90) -> str:
        """Execute ``code``; return what it printed, or fail with the kernel's traceback."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": "execute_request"}
        self.socket.send(
            json.dumps(
                {
                    "header": {**header, "version": "5.3"},
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                }
            )
        )
        printed, replied, idle = [], False, False
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                printed.append(content["text"])
            elif kind == "error":
                pytest.fail("the cell failed:\n" + "\n".join(content["traceback"]))
            elif kind == "execute_reply":
                assert content["status"] == "ok", content
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True  # iopub's last word on this request: every output came before it
            if replied and idle:
                return "".join(printed)
        pytest.fail(f"the cell did not finish within {within} s: {code[:200]}")
