"""A local server speaking Rosetta's web API on 127.0.0.1, for the rosetta facility type's tests.

Rosetta's task runner needs Docker or Slurm, so ``plugins/rosetta/tests/rosetta_server.py``
follows its protocol instead (its docstring names the documents followed). Nothing to
install: it runs on the standard library. The fixture ``rosetta_server`` starts it once
per session with one user, a repository whose import fails, and a slow one.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from esap_core.testing import free_port

SERVER = Path(__file__).resolve().parents[1] / "tests" / "rosetta_server.py"


@dataclass(frozen=True)
class RosettaServer:
    """A running protocol server: its URL, its user, and the repositories that misbehave."""

    url: str
    username: str
    password: str
    authtoken: str
    failing_repository: str
    failing_message: str
    slow_repository: str
    slow_seconds: float
    pid: int

    def imports(self) -> list[dict[str, str]]:
        """The imports asked for so far, in order: user, repository_url, repository_tag."""
        return requests.get(f"{self.url}/_test/imports", timeout=5).json()


@pytest.fixture(scope="session")
def rosetta_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RosettaServer]:
    state = tmp_path_factory.mktemp("rosetta")
    server = RosettaServer(
        url="",
        username="esap-service",
        password=secrets.token_hex(8),
        authtoken=secrets.token_hex(16),
        failing_repository="https://git.example.org/broken/tool.git",
        failing_message="Error in building the Docker image: repo2docker exited with code 1",
        slow_repository="https://git.example.org/slow/tool.git",
        slow_seconds=2.0,
        pid=0,
    )
    controls = state / "controls.json"
    controls.write_text(
        json.dumps(
            {
                "users": {server.username: {"password": server.password, "authtoken": server.authtoken}},
                "failing": {server.failing_repository: server.failing_message},
                "slow": {server.slow_repository: server.slow_seconds},
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), str(port), str(controls)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # The server prints READY once it listens; anything else means it failed to start.
        line = process.stdout.readline().strip()
        if line != "READY":
            pytest.fail(f"the Rosetta protocol server did not start (exit {process.wait(timeout=5)}): {line}")
        yield replace(server, url=f"http://127.0.0.1:{port}", pid=process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
