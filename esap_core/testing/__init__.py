"""ESAP's pytest plugin for plugin authors: an app that loads only your plugin, and the conformance suite.

Installed with esap-core (entry point ``esap`` in group ``pytest11``), so its fixtures
are there in any test run. Name the plugin under test in your pytest configuration::

    [tool.pytest.ini_options]
    esap_plugin = "my-archive"

or override the ``esap_plugin_name`` fixture; give it settings by overriding
``esap_plugin_settings``. Then use ``esap_app``, ``esap_client``, ``esap_user``,
``esap_user_context`` and ``esap_db``, and call :func:`check_archive`,
:func:`check_services`, :func:`check_dids`, :func:`check_staging`, :func:`check_software_source`,
:func:`check_facility_type`, :func:`check_job_facility`, :func:`check_cluster_facility` and
:func:`check_storage` on your objects.

Only pytest and the plugin contract are imported here; Flask, SQLAlchemy and the
rest load when a fixture first needs them, and no plugin is ever imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from esap_core.testing.conformance import (
    ConformanceError,
    JobRun,
    check_archive,
    check_cluster_facility,
    check_dids,
    check_facility_type,
    check_job_facility,
    check_services,
    check_software_source,
    check_staging,
    job_request,
    launch_request,
)
from esap_core.testing.report import RecordingReport
from esap_core.testing.storage import check_storage

__all__ = [
    "ConformanceError",
    "JobRun",
    "free_port",
    "load_fixtures",
    "machine_lock",
    "RecordingReport",
    "check_archive",
    "check_cluster_facility",
    "check_dids",
    "check_facility_type",
    "check_job_facility",
    "check_services",
    "check_software_source",
    "check_staging",
    "check_storage",
    "job_request",
    "launch_request",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def load_fixtures(config: pytest.Config, module: str) -> None:
    """Register ``module``'s fixtures (a plugin's servers) once: from a plugin's tests/conftest.py ``pytest_configure``.

    In a repository whose root conftest already loads the module this does nothing, so each
    session-scoped server starts once; from a copy of the plugin's folder it loads them.
    """
    if not config.pluginmanager.has_plugin(module):
        config.pluginmanager.import_plugin(module)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, for a server a test starts."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_held_locks: dict[Path, tuple[IO[str], int]] = {}  # path -> (its open file, how many holders in this process)
_held_locks_guard = threading.Lock()


@contextlib.contextmanager
def machine_lock(path: Path, wait: float = 600.0) -> Iterator[None]:
    """Hold the flock ``path`` for the block: test sessions on the machine take turns at what it guards.

    For a server every session shares (one DaCHS database, say). Fixtures of the same
    process share the hold instead of waiting for each other: flock refuses a second
    file descriptor of the same process, so two fixtures guarding the same thing in one
    test run would otherwise wait forever. Fails the test after ``wait`` seconds.
    """
    path = Path(path)
    with _held_locks_guard:  # other threads of this process wait behind the one taking the lock
        lock, holders = _held_locks.get(path) or (_take_flock(path, wait), 0)
        _held_locks[path] = (lock, holders + 1)
    try:
        yield
    finally:
        with _held_locks_guard:
            lock, holders = _held_locks.pop(path)
            if holders > 1:
                _held_locks[path] = (lock, holders - 1)
            else:
                lock.close()  # closing the last descriptor releases the flock


def _take_flock(path: Path, wait: float) -> IO[str]:
    lock = path.open("a+")  # not "w": opening must not wipe the holder's note that a failure quotes
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                holder = path.read_text().strip() or "a session that left no note"
                pytest.fail(f"another test session held {path} for {wait:g} s: {holder}", pytrace=False)
            time.sleep(1)
    lock.truncate(0)
    command = " ".join(sys.argv)[:300]
    lock.write(f"pid {os.getpid()} in {os.getcwd()} since {time.strftime('%H:%M:%S')} running {command}\n")
    lock.flush()
    return lock


INI_PLUGIN = "esap_plugin"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_PLUGIN, "The ESAP plugin under test (its entry point name in group 'esap').", default="")


@pytest.fixture
def esap_plugin_name(request: pytest.FixtureRequest) -> str:
    """The plugin under test: the ``esap_plugin`` ini option; override this fixture to choose another."""
    name = str(request.config.getini(INI_PLUGIN) or "").strip()
    if not name:
        pytest.fail(
            'Which plugin is under test? Set esap_plugin = "<entry point name>" in [tool.pytest.ini_options], '
            "or override the esap_plugin_name fixture.",
            pytrace=False,
        )
    return name


@pytest.fixture
def esap_plugin_settings() -> dict[str, Any]:
    """The plugin's settings, as in ``[plugins.<name>]`` (secrets as ``{"env": "NAME"}``); override to give some."""
    return {}


@pytest.fixture
def esap_redis_url() -> str:
    """The Redis the app's job queue uses (``ESAP_TEST_REDIS_URL``, else database 15 on this machine)."""
    return os.environ.get("ESAP_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@pytest.fixture
def esap_database_url(tmp_path: Path) -> str:
    """A migrated SQLite database of this test's own."""
    from esap_core import schema
    from esap_core.db import make_engine

    url = f"sqlite:///{tmp_path / 'esap.sqlite3'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def esap_app(
    esap_plugin_name: str,
    esap_plugin_settings: dict[str, Any],
    esap_database_url: str,
    esap_redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """An ESAP app in local single-user mode that loads the built-ins and only the plugin under test.

    The app is offline (``ESAP_OFFLINE``): no public default service is registered.

    Fails the test, naming the error, when the plugin is not installed or does not load.
    """
    from esap_core import config
    from esap_core.app import create_app

    # ESAP_* variables of the machine running the tests must not choose plugins or login for this app.
    variables = {"ESAP_CONFIG"} | {spec[1] for spec in (*config.CORE_KEYS.values(), *config.OIDC_KEYS.values())}
    for variable in variables - {None}:
        monkeypatch.delenv(variable, raising=False)
    app = create_app(
        {
            "database_url": esap_database_url,
            "redis_url": esap_redis_url,
            "instance_path": str(tmp_path / "instance"),
            "load_plugins": [esap_plugin_name],
            "plugins": {esap_plugin_name: dict(esap_plugin_settings)},
            "offline": True,  # tests never reach public services: only what the settings name
        }
    )
    app.testing = True
    info = app.extensions["esap.plugins"].info.get(esap_plugin_name)
    try:
        if info is None:
            pytest.fail(
                f"ESAP found no plugin {esap_plugin_name!r}: install your distribution (pip install -e .) "
                f'and declare it under [project.entry-points.esap] as {esap_plugin_name} = "<module>".',
                pytrace=False,
            )
        if info.error:
            pytest.fail(f"plugin {esap_plugin_name!r} {info.error}", pytrace=False)
        yield app
    finally:
        app.extensions["esap.db"].session.remove()
        app.extensions["esap.db"].engine.dispose()


@pytest.fixture
def esap_client(esap_app: Any) -> Any:
    """A test client of ``esap_app``; every request is the local user's (the single-user mode)."""
    return esap_app.test_client()


@pytest.fixture
def esap_db(esap_app: Any) -> Iterator[Any]:
    """The app's database session, inside an app context."""
    with esap_app.app_context():
        yield esap_app.extensions["esap.db"].session


@pytest.fixture
def esap_user(esap_app: Any) -> Any:
    """The user ``esap_client`` is logged in as: the local mode's user (an ``esap_core.models.User``)."""
    from esap_core import accounts

    with esap_app.app_context():
        return accounts.local_user()


@pytest.fixture
def esap_user_context(esap_app: Any, esap_user: Any) -> Any:
    """What a plugin is handed for that user: an ``esap_core.UserContext``."""
    from esap_core import accounts

    with esap_app.app_context():
        return accounts.user_context(esap_user)
