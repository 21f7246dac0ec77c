"""Pytest fixtures that run a real Dask Gateway on 127.0.0.1, for this plugin's tests and ESAP's end-to-end tests.

Installed by ``plugins/dask-gateway/tests/install.sh`` (dask-gateway-server with its compiled
proxy, dask-gateway and distributed, in a venv of their own). The root conftest.py loads this
module; the plugin's tests/conftest.py loads it when the root one has not
(``esap_core.testing.load_fixtures``), so a session starts one gateway.

- ``dask_gateway``: one gateway for the test session;
- ``start_dask_gateway``: a factory for gateways of a test's own (to kill one mid-launch),
  stopped at the end of the test.

Each gateway runs its clusters as local processes (``UnsafeLocalBackend``: the schedulers and
workers run as this user, from the venv), authenticates with ``SimpleAuthenticator`` (any user
name, one random password), and offers these cluster options:

- ``worker_cores``: 1 to 2 (default 1);
- ``worker_memory``: GiB per worker, 0.25 to 1 (default 0.5);
- ``image``: ``python`` (workers start), ``no-such-image`` (the worker command does not
  exist, so the gateway fails the cluster after three attempts), ``never-starts`` (the
  worker process runs but never joins, as a pod that cannot be scheduled).

Workers bind 127.0.0.1 and have no dashboard of their own; the schedulers' dashboards are
served by the gateway's proxy without a login.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from esap_core.testing import free_port

VENV = Path(os.environ.get("ESAP_DASK_GATEWAY_VENV", "/opt/esap-test/dask-gateway-venv"))
INSTALL_HINT = "run plugins/dask-gateway/tests/install.sh (or `make setup-test`)"
READY_WITHIN = 60.0  # seconds; the gateway answers /api/health about 1.2 s after it starts

CONFIG = """
from dask_gateway_server.options import Float, Integer, Options, Select

c = get_config()  # noqa: F821
c.DaskGateway.address = "127.0.0.1:{api_port}"
c.Proxy.address = "127.0.0.1:{http_port}"
c.Proxy.tcp_address = "127.0.0.1:{tcp_port}"
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.UnsafeLocalBackend.clusters_directory = "{clusters}"
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = {password!r}
c.LocalClusterConfig.scheduler_cmd = [{dask!r}, "scheduler"]
c.LocalClusterConfig.scheduler_memory = "256 M"
c.LocalClusterConfig.cluster_max_workers = 2

# distributed 2026 has no dask-worker script; without --host a worker listens on every interface.
WORKER = [{dask!r}, "worker", "--host", "127.0.0.1", "--no-dashboard"]
IMAGES = {{
    "python": WORKER,
    "no-such-image": [{missing!r}],
    "never-starts": [{python!r}, "-c", "import time; time.sleep(600)"],
}}
c.LocalClusterConfig.worker_cmd = WORKER


def options_handler(options):
    return {{
        "worker_cores": options.worker_cores,
        "worker_memory": int(options.worker_memory * 2**30),
        "worker_cmd": IMAGES[options.image],
    }}


c.Backend.cluster_options = Options(
    Integer("worker_cores", default=1, min=1, max=2, label="Worker cores"),
    Float("worker_memory", default=0.5, min=0.25, max=1, label="Worker memory (GiB)"),
    Select("image", list(IMAGES), default="python", label="Image"),
    handler=options_handler,
)
"""


@dataclass
class GatewayServer:
    """A running test gateway: where it answers, its password, and helpers to look inside."""

    url: str  # the proxy's HTTP address: the API and the dashboards
    proxy_address: str  # the proxy's TCP address for schedulers, as gateway://host:port
    password: str
    clusters_directory: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def python(self) -> Path:
        """The venv's interpreter: a Dask client of the schedulers' own version."""
        return VENV / "bin" / "python"

    def api(self, method: str, path: str, username: str, **kwargs: Any) -> requests.Response:
        """Call the gateway's REST API as ``username``."""
        return requests.request(method, f"{self.url}/api{path}", auth=(username, self.password), timeout=30, **kwargs)

    def clusters(self, username: str) -> dict[str, dict[str, Any]]:
        """The user's pending and running clusters, by name, as the gateway reports them."""
        response = self.api("GET", "/v1/clusters/", username)
        response.raise_for_status()
        return response.json()

    def cluster(self, username: str, name: str) -> dict[str, Any] | None:
        response = self.api("GET", f"/v1/clusters/{name}", username)
        return None if response.status_code == 404 else response.json()

    def wait_until_stopped(self, username: str, name: str, within: float = 30.0) -> str:
        """Wait until the gateway says the cluster stopped (or failed); return that status."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            report = self.cluster(username, name)
            if report is None or report["status"] in ("STOPPED", "FAILED"):
                return report["status"] if report else "GONE"
            time.sleep(0.2)
        raise AssertionError(f"cluster {name} of {username} did not stop within {within} s")

    def stop_all(self, username: str) -> None:
        """Stop every cluster of ``username`` and wait for each to be stopped."""
        for name in self.clusters(username):
            self.api("DELETE", f"/v1/clusters/{name}", username)
        for name in self.clusters(username):
            self.wait_until_stopped(username, name)

    def processes(self) -> list[int]:
        """The schedulers and workers still running for this gateway (their working folder is under its own)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                folder = os.readlink(entry / "cwd")
            except OSError:
                continue  # gone meanwhile, or not ours to read
            if folder.startswith(f"{self.clusters_directory}/"):
                found.append(int(entry.name))
        return found


def _start(state: Path) -> GatewayServer:
    server_bin = VENV / "bin" / "dask-gateway-server"
    if not server_bin.exists():
        pytest.fail(f"dask-gateway-server is not installed: {INSTALL_HINT}")
    clusters = state / "clusters"
    http_port, tcp_port = free_port(), free_port()
    password = secrets.token_hex(16)
    config = state / "dask_gateway_config.py"
    config.write_text(
        CONFIG.format(
            api_port=free_port(),
            http_port=http_port,
            tcp_port=tcp_port,
            clusters=clusters,
            password=password,
            dask=str(VENV / "bin" / "dask"),
            python=str(VENV / "bin" / "python"),
            missing=str(state / "no-such-dask-worker"),
        )
    )
    log = state / "dask-gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(server_bin), "-f", str(config)],
            cwd=state,
            env={**os.environ, "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = GatewayServer(
        url=f"http://127.0.0.1:{http_port}",
        proxy_address=f"gateway://127.0.0.1:{tcp_port}",
        password=password,
        clusters_directory=clusters,
        log=log,
        process=process,
    )
    try:
        _wait_until_healthy(server)
    except BaseException:
        stop(server)
        raise
    return server


def _wait_until_healthy(server: GatewayServer) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the Dask Gateway exited with {server.process.returncode}:\n{server.log.read_text()[-4000:]}")
        try:
            if requests.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the Dask Gateway did not answer within {READY_WITHIN:.0f} s:\n{server.log.read_text()[-4000:]}")


def stop(server: GatewayServer) -> None:
    """Stop the gateway (SIGTERM stops its clusters too), then end any of its processes a killed gateway left."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    for pid in server.processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def dask_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """A Dask Gateway on free loopback ports for the whole test session (see the module docstring)."""
    server = _start(tmp_path_factory.mktemp("dask-gateway"))
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture
def start_dask_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], GatewayServer]]:
    """Start gateways of this test's own (``start_dask_gateway()``); each is stopped after the test."""
    started: list[GatewayServer] = []

    def start() -> GatewayServer:
        started.append(_start(tmp_path_factory.mktemp("dask-gateway")))
        return started[-1]

    yield start
    for server in started:
        stop(server)
