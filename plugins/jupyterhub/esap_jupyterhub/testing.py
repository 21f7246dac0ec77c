"""A real JupyterHub on 127.0.0.1 for the jupyterhub facility type's tests (and ESAP's end-to-end tests).

Installed by ``plugins/jupyterhub/tests/install.sh`` (jupyterhub and jupyterlab in a
venv, configurable-http-proxy from npm). The fixture ``jupyterhub`` starts one hub per
test session with the dummy authenticator, local-process user servers whose homes are
in a temp dir, named servers allowed, and three services:

- ``esap``: the gateway's service, with the scopes DESIGN.md's JupyterHub launch needs;
- ``esap-weak``: a role without ``admin:servers``, so starting a server is refused (403);
- ``esap-test-admin``: admin, for the tests' own inspection (server state, cleanup).

User options the hub applies (``c.Spawner.apply_user_options``), so tests can see them
take effect or make a spawn fail:

- ``env``: a mapping of names to strings added to the server's environment;
- ``default_url``: the server's default URL;
- ``fail``: when true, the server command does not exist, so the spawn fails;
- ``slow``: seconds the server waits before starting (at most 120).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from esap_core.testing import free_port

VENV = Path(os.environ.get("ESAP_JUPYTERHUB_VENV", "/opt/esap-test/jupyterhub-venv"))
# install.sh puts the proxy beside itself, in the plugin's tests folder.
PROXY_BIN = Path(__file__).resolve().parents[1] / "tests" / "proxy" / "node_modules" / ".bin"
INSTALL_HINT = "run plugins/jupyterhub/tests/install.sh (or `make setup-test`)"

CONFIG = """
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.allow_named_servers = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{homes}/{{username}}"
c.Spawner.args = {args!r}
c.Spawner.start_timeout = 120
c.JupyterHub.services = [
    {{"name": "esap", "api_token": {token!r}}},
    {{"name": "esap-weak", "api_token": {weak_token!r}}},
    {{"name": "esap-test-admin", "api_token": {admin_token!r}}},
]
c.JupyterHub.load_roles = [
    {{
        "name": "esap",
        "services": ["esap"],
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users", "tokens", "read:hub"],
    }},
    {{
        "name": "esap-weak",
        "services": ["esap-weak"],
        "scopes": ["admin:users", "access:servers", "read:users", "read:hub"],
    }},
    {{"name": "admin", "services": ["esap-test-admin"]}},
]


def apply_user_options(spawner, options):
    env = options.get("env")
    if isinstance(env, dict):
        spawner.environment.update({{str(k): str(v) for k, v in env.items()}})
    if isinstance(options.get("default_url"), str):
        spawner.default_url = options["default_url"]
    if options.get("fail"):
        spawner.cmd = ["{state}/no-such-jupyterhub-singleuser"]
    slow = options.get("slow")
    if isinstance(slow, (int, float)) and 0 < slow <= 120:
        # Python, unlike sh, ends at once on the SIGINT with which the spawner stops it.
        spawner.cmd = ["python", "-c", SLOW_START, str(slow)]


SLOW_START = (
    "import os, sys, time; time.sleep(float(sys.argv[1])); "
    "os.execvp('jupyterhub-singleuser', ['jupyterhub-singleuser', *sys.argv[2:]])"
)


c.Spawner.apply_user_options = apply_user_options
"""


@dataclass(frozen=True)
class JupyterHubServer:
    """A running test hub: where it answers, its service tokens, and inspection helpers."""

    hub_url: str
    api_url: str
    token: str
    weak_token: str
    admin_token: str
    homes: Path
    pid: int

    def home(self, username: str) -> Path:
        return self.homes / username

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the hub's REST API as the test admin service."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(method, f"{self.api_url}{path}", headers=headers, timeout=30, **kwargs)

    def server_model(self, username: str, server_name: str = "") -> dict | None:
        """The hub's model of one of a user's servers (with its state), or None when it has none."""
        response = self.api("GET", f"/users/{username}", params={"include_stopped_servers": "0"})
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json().get("servers", {}).get(server_name)

    def server_environ(self, username: str, server_name: str = "") -> dict[str, str]:
        """The environment of a user's running server process, read from /proc."""
        model = self.server_model(username, server_name)
        assert model is not None, f"{username} has no server {server_name!r}"
        raw = Path(f"/proc/{model['state']['pid']}/environ").read_bytes()
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {key.decode(): value.decode() for key, value in pairs}

    def stop_all(self, username: str) -> None:
        """Stop every server of a user and wait until the hub says they are gone."""
        response = self.api("GET", f"/users/{username}")
        if response.status_code == 404:
            return
        for name in response.json().get("servers", {}):
            path = f"/users/{username}/servers/{name}" if name else f"/users/{username}/server"
            self.api("DELETE", path, json={"remove": False})
        deadline = time.monotonic() + 60  # a loaded machine takes a while to stop a JupyterLab
        while time.monotonic() < deadline:
            if not self.api("GET", f"/users/{username}").json().get("servers"):
                return
            time.sleep(0.3)
        raise AssertionError(f"the servers of {username} did not stop within 60 s")


def _wait_until_ready(process: subprocess.Popen, api_url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterHub exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(f"{api_url}/", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"JupyterHub did not answer at {api_url}/ within {timeout} s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    # SIGTERM lets the hub stop the proxy and the user servers it started.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def jupyterhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterHubServer]:
    """A JupyterHub on free loopback ports for the whole session (see the module docstring)."""
    hub_bin = VENV / "bin" / "jupyterhub"
    if not hub_bin.exists() or not (PROXY_BIN / "configurable-http-proxy").exists():
        pytest.fail(f"JupyterHub or its proxy is not installed: {INSTALL_HINT}")

    state = tmp_path_factory.mktemp("jupyterhub")
    homes = state / "homes"
    homes.mkdir()
    port = free_port()
    tokens = {name: secrets.token_hex(24) for name in ("token", "weak_token", "admin_token")}
    args = ["--allow-root"] if os.geteuid() == 0 else []
    config = state / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            port=port,
            hub_port=free_port(),
            proxy_api_port=free_port(),
            state=state,
            homes=homes,
            args=args,
            **tokens,
        )
    )
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV / "bin"), str(PROXY_BIN), os.environ["PATH"]]))
    # The hub's log goes to a file: it is shown when the hub fails to start.
    log = state / "jupyterhub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(hub_bin), "-f", str(config)],
            cwd=state,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    hub_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, f"{hub_url}/hub/api", log)
        yield JupyterHubServer(
            hub_url=hub_url,
            api_url=f"{hub_url}/hub/api",
            homes=homes,
            pid=process.pid,
            **tokens,
        )
    finally:
        _stop(process)
