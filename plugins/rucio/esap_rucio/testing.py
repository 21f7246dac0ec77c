"""A real Rucio server on 127.0.0.1 for the tests: SQLite, served by gunicorn, seeded with data.

The server runs from its own venv, made by plugins/rucio/tests/install.sh
(``ESAP_RUCIO_VENV`` overrides where it is). The data it is seeded with is
described in plugins/rucio/tests/server/seed.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from esap_core.testing import free_port

HERE = Path(__file__).resolve().parents[1] / "tests" / "server"
VENV = Path(os.environ.get("ESAP_RUCIO_VENV", "/opt/esap-test/rucio-venv"))
USERNAME = "ddmlab"
PASSWORD = "secret"


@dataclass(frozen=True)
class RucioServer:
    """How to reach the test server and what it holds."""

    host: str
    auth_host: str
    username: str
    password: str
    account: str
    vo: str
    rses: tuple[str, ...]
    rse_root: Path
    config: Path

    def trust_issuer(self, issuer: str, client_id: str, client_secret: str) -> None:
        """Make the server accept JWTs from ``issuer`` with audience ``rucio`` and scope ``openid``.

        Each server worker reads this idpsecrets file when a JWT reaches it while it
        trusts no issuer yet. Map an identity ``SUB=<sub>, ISS=<issuer>`` (type OIDC)
        to an account for a token to act as that account.
        """
        client = {"issuer": issuer, "client_id": client_id, "client_secret": client_secret}
        # Rucio also wants an admin client per issuer ("SCIM"), whether it uses it or not.
        secrets = {"test": {**client, "SCIM": dict(client)}}
        (self.config.parent / "idpsecrets.json").write_text(json.dumps(secrets))


def write_config(directory: Path, host: str) -> Path:
    """Write rucio.cfg and alembic.ini; the [client] section is for the seeding script."""
    migrations = next((VENV / "lib").glob("python3*/site-packages/rucio/db/sqla/migrate_repo"))
    database = f"sqlite:///{directory / 'rucio.db'}"
    (directory / "alembic.ini").write_text(
        f"""[alembic]
script_location = {migrations}
sqlalchemy.url = {database}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(levelname)s [%(name)s] %(message)s
"""
    )
    config = directory / "rucio.cfg"
    config.write_text(
        f"""[common]
logdir = {directory}
loglevel = WARNING

[database]
default = {database}

[bootstrap]
userpass_identity = {USERNAME}
userpass_pwd = {PASSWORD}
userpass_email = root@example.org

[policy]
permission = generic
schema = generic
lfn2pfn_algorithm_default = hash

[alembic]
cfg = {directory / "alembic.ini"}

[oidc]
idpsecrets = {directory / "idpsecrets.json"}
expected_audience = rucio
expected_scope = openid

[client]
rucio_host = {host}
auth_host = {host}
auth_type = userpass
username = {USERNAME}
password = {PASSWORD}
account = root
auth_token_file_path = {directory / "seed-token"}
"""
    )
    return config


def wait_until_ready(process: subprocess.Popen, host: str, log: Path, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            pytest.fail(f"the Rucio server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{host}/ping", timeout=2).ok:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    pytest.fail(f"the Rucio server did not answer /ping within {deadline} s:\n{log.read_text()[-3000:]}")


def run_in_server_venv(script: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(VENV / "bin" / "python"), str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"{script.name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}")


@contextmanager
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RucioServer]:
    """A seeded Rucio server on a free 127.0.0.1 port, stopped when the block ends."""
    if not (VENV / "bin" / "gunicorn").exists():
        pytest.fail(f"the Rucio test server is not installed in {VENV}: run plugins/rucio/tests/install.sh")
    directory = tmp_path_factory.mktemp("rucio")
    host = f"http://127.0.0.1:{free_port()}"
    config = write_config(directory, host)
    env = {**os.environ, "RUCIO_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}

    log = directory / "gunicorn.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                str(VENV / "bin" / "gunicorn"),
                "--bind",
                host.removeprefix("http://"),
                "--workers",
                "2",
                "--preload",
                "--no-control-socket",  # its default path in $HOME is shared with every other gunicorn
                "--timeout",
                "120",
                "--graceful-timeout",
                "3",
                "rucio.web.rest.flaskapi.v1.main:application",
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        # The workers load while the database is built: /ping does not touch it.
        run_in_server_venv(HERE / "bootstrap.py", env)
        wait_until_ready(process, host, log)
        rse_root = directory / "rses"
        run_in_server_venv(HERE / "seed.py", env, str(rse_root))
        yield RucioServer(
            host=host,
            auth_host=host,
            username=USERNAME,
            password=PASSWORD,
            account="root",
            vo="def",
            rses=("LOCAL_A", "LOCAL_B"),
            rse_root=rse_root,
            config=config,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def rucio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RucioServer]:
    """The seeded server, for the session; tests read it as seeded (its scopes, its DIDs)."""
    with serve(tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="session")
def rucio_workspace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RucioServer]:
    """A seeded server of its own for the workspace tests, which add accounts and scopes to it."""
    with serve(tmp_path_factory) as server:
        yield server


def add_workspace_account(server: RucioServer, account: str, limit: int | None, rse: str = "LOCAL_A") -> None:
    """As a Rucio administrator would: a USER account, its scope ``user.<account>``, and its limit at ``rse``.

    ``limit`` in bytes (``-1``: unlimited; ``None``: none set, so Rucio takes no rule of the
    account there). Made as root through the plugin's own connection; an existing account or
    scope is kept, and its limit set anew.
    """
    from rucio.common.exception import Duplicate, RucioException

    from esap_core import Secret, UserContext
    from esap_rucio.connection import Deadline, connect
    from esap_rucio.settings import read_instance

    root = read_instance(
        {
            "name": "test-root",
            "host": server.host,
            "auth": "userpass",
            "account": server.account,
            "username": server.username,
            "password": Secret(server.password, "test"),
        },
        "test",
    )
    with connect(root, UserContext(username="root"), Deadline(30)) as client:
        with contextlib.suppress(Duplicate):
            client.add_account(account, "USER", f"{account}@example.org")
        with contextlib.suppress(Duplicate):
            client.add_scope(account, f"user.{account}")
        if limit is None:
            with contextlib.suppress(RucioException):
                client.delete_local_account_limit(account, rse)
        else:
            client.set_local_account_limit(account, rse, limit)
