"""Core test fixtures: apps on a real database (a savepoint per test), a real Redis, a live server.

The database is SQLite unless ``ESAP_TEST_DATABASE_URL`` names a PostgreSQL server,
on which a database of its own is created for the session and dropped after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from esap_core import Secret, schema
from esap_core.app import create_app
from esap_core.db import make_engine
from esap_core.models import Base


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A migrated, empty database for this test session."""
    server = os.environ.get("ESAP_TEST_DATABASE_URL", "")
    if not server:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'esap.sqlite3'}"
        _upgrade(url)
        yield url
        return
    name = f"esap_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + f"/{name}"
    _upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _upgrade(url: str) -> None:
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[str]:
    """A real Redis server of this test session's own on a free loopback port (runs never share queues)."""
    import shutil
    import socket
    import time

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run scripts/services.sh (make test does)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path_factory.mktemp("redis")),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            Redis.from_url(url).ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server) -> Iterator[str]:
    """A real Redis database, empty at the start of each test."""
    connection = Redis.from_url(redis_server)
    connection.flushdb()
    yield redis_server
    connection.flushdb()
    connection.close()


@pytest.fixture
def connection(database_url):
    """One connection and transaction per test, rolled back at the end: every app of the test shares it."""
    engine = make_engine(database_url)
    connection = engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()
    engine.dispose()


@pytest.fixture
def app_factory(connection, database_url, redis_url, tmp_path):
    """Make apps on the test's transaction.

    ``app_factory(extra_plugins=[(name, module)], **config)`` registers plugins for
    this test only; installed plugins are loaded only when a test asks for them.
    """
    made = []

    def make(extra_plugins=(), installed: bool = False, **overrides):
        config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
        if not installed:
            config["load_plugins"] = []
        config.update(overrides)
        app = create_app(config, extra_plugins=extra_plugins)
        app.testing = True
        database = app.extensions["esap.db"]
        database.session.configure(bind=connection, join_transaction_mode="create_savepoint")
        made.append(database)
        return app

    yield make
    for database in made:
        database.session.remove()
        database.engine.dispose()


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(connection):
    """A database session inside the test's transaction (it sees what the test's apps wrote)."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()


@pytest.fixture
def committed_config() -> dict:
    """Configuration for ``committed_app`` beyond the test database and Redis; override it in a test module."""
    return {"load_plugins": []}


@pytest.fixture
def committed_app(database_url, redis_url, tmp_path, committed_config) -> Iterator:
    """An app whose writes really commit (threads, other processes); tables emptied after."""
    config = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    app = create_app({**config, **committed_config})
    app.testing = True
    with emptied_after(app):
        yield app


@contextmanager
def emptied_after(app) -> Iterator:
    """Hand ``app`` over; afterwards delete every row it committed and close its connections."""
    try:
        yield app
    finally:
        engine = app.extensions["esap.db"].engine
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        engine.dispose()


@pytest.fixture
def worker(committed_app, tmp_path) -> Iterator[subprocess.Popen]:
    """A real `esap worker` process on the committed app's database and Redis."""
    config = committed_app.extensions["esap.config"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ESAP_")}
    environment.update(
        ESAP_DATABASE_URL=config.database_url,
        ESAP_REDIS_URL=config.redis_url,
        ESAP_INSTANCE_PATH=str(tmp_path / "worker"),
        ESAP_LOAD_PLUGINS=",".join(config.load_plugins or []),
        ESAP_SECRET_KEY=committed_app.config["SECRET_KEY"],
        ESAP_STAGING_TIMEOUT=str(config.staging_timeout),
    )
    if config.plugins:
        settings = tmp_path / "worker.toml"
        settings.write_text("".join(_toml_section(name, values) for name, values in config.plugins.items()))
        environment["ESAP_CONFIG"] = str(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "esap_core.cli", "worker"], env=environment, start_new_session=True
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _toml_section(name: str, values: dict) -> str:
    """A plugin's settings as TOML (the few value types the tests use: text, numbers, booleans, lists, tables)."""

    def value(item):
        if isinstance(item, Secret):  # back to the environment reference it was read from
            return '{ env = "' + item.source.removeprefix("env:") + '" }'
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{key} = {value(entry)}" for key, entry in item.items()) + " }"
        if isinstance(item, list):
            return "[" + ", ".join(value(entry) for entry in item) + "]"
        return json.dumps(item)  # JSON's strings, numbers and true/false are TOML's too

    lines = [f'[plugins."{name}"]'] + [f"{key} = {value(entry)}" for key, entry in values.items()]
    return "\n".join(lines) + "\n"


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(committed_app) -> Iterator[LiveServer]:
    """ESAP served over real HTTP on loopback (for the browser and the notebook client)."""
    with LiveServer(committed_app) as server:
        yield server


@pytest.fixture
def write_plugin(tmp_path):
    """Write a throw-away plugin module and return (name, module) for ``app_factory(extra_plugins=...)``."""
    import importlib.util

    def write(name: str, source: str):
        path = Path(tmp_path) / f"{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return name, module

    return write


def csrf_headers(client) -> dict[str, str]:
    """The header a page's HTMX requests carry: put a CSRF token into the client's session and return it."""
    with client.session_transaction() as session:
        session.setdefault("csrf", uuid.uuid4().hex)
        token = session["csrf"]
    return {"X-CSRF-Token": token}


OIDC_TEST_BASE_URL = "http://127.0.0.1:5999"


@pytest.fixture
def oidc_app_factory(app_factory, oidc_provider, monkeypatch):
    """Apps that log in through the real test OpenID provider (base URL fixed for the redirect URI)."""
    monkeypatch.setenv("ESAP_TEST_OIDC_SECRET", oidc_provider.client_secret)

    def make(**overrides):
        oidc = {
            "issuer": oidc_provider.issuer,
            "client_id": oidc_provider.client_id,
            "client_secret": {"env": "ESAP_TEST_OIDC_SECRET"},
            "scopes": ["openid", "profile", "email", "groups"],
            "admin_groups": ["admins"],
            **overrides.pop("oidc", {}),
        }
        return app_factory(oidc=oidc, base_url=overrides.pop("base_url", OIDC_TEST_BASE_URL), **overrides)

    return make


@pytest.fixture
def oidc_app(oidc_app_factory):
    return oidc_app_factory()


def log_in(client, oidc_provider, user: str = "alice", next_path: str = "/profile"):
    """Log ``client`` in through the real provider; return the response of ESAP's callback."""
    import requests

    start = client.get("/login", query_string={"next": next_path})
    assert start.status_code == 302, start.get_data(as_text=True)
    with requests.Session() as browser:
        back = oidc_provider.login(browser, start.headers["Location"], user=user)
    assert back.startswith(OIDC_TEST_BASE_URL + "/auth/callback?")
    return client.get(back.removeprefix(OIDC_TEST_BASE_URL))


def make_user(app, username: str, admin: bool = False):
    """A user as if they had logged in through an issuer (for authorisation tests)."""
    from esap_core import accounts

    with app.app_context():
        claims = {
            "sub": f"sub-{username}",
            "preferred_username": username,
            "name": username.title(),
            "email": f"{username}@example.org",
            "groups": ["admins"] if admin else [],
        }
        return accounts.user_from_claims("https://issuer.example", claims)


def sign_in(app, client, user) -> None:
    """Make ``client`` a browser logged in as ``user`` (a server-side login, as the OIDC callback makes)."""
    from esap_core import logins

    with app.app_context():
        secret = logins.create(user)
    with client.session_transaction() as session:
        session[logins.KEY] = secret


def bearer(app, user, scopes=("basket:read", "basket:write", "launch")) -> dict[str, str]:
    from esap_core import tokens

    with app.app_context():
        _, secret = tokens.create(user, "test", list(scopes), None, admin=True)
    return {"Authorization": f"Bearer {secret}"}
