"""ESAP's pytest plugin for plugin authors: an app that loads only your plugin, and the conformance suite.

Installed with esap-core (entry point ``esap`` in group ``pytest11``), so its fixtures
are there in any test run. Name the plugin under test in your pytest configuration::

    [tool.pytest.ini_options]
    esap_plugin = "my-archive"

or override the ``esap_plugin_name`` fixture; give it settings by overriding
``esap_plugin_settings``. Then use ``esap_app``, ``esap_client``, ``esap_user``,
``esap_user_context`` and ``esap_db``, and call :func:`check_archive`,
:func:`check_software_source` and :func:`check_facility_type` on your objects.

Only pytest and the plugin contract are imported here; Flask, SQLAlchemy and the
rest load when a fixture first needs them, and no plugin is ever imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esap_core.testing.conformance import (
    ConformanceError,
    check_archive,
    check_facility_type,
    check_software_source,
    check_staging,
    launch_request,
)
from esap_core.testing.report import RecordingReport

__all__ = [
    "ConformanceError",
    "RecordingReport",
    "check_archive",
    "check_facility_type",
    "check_software_source",
    "check_staging",
    "launch_request",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
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
