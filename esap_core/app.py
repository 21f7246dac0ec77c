"""The app factory: configuration, database, queue, plugins, pages and API, in that order."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from esap_core import config as configuration
from esap_core.db import Database, DatabaseId, database_url
from esap_core.plugins import Plugins
from esap_core.queue import JobQueue
from esap_core.security import is_loopback_url


def create_app(overrides: Mapping[str, Any] | None = None, extra_plugins: Iterable[tuple[str, object]] = ()) -> Flask:
    """Build an ESAP app from ``ESAP_*`` variables, ``ESAP_CONFIG`` and ``overrides``.

    ``extra_plugins`` are (name, module) pairs loaded after the installed ones
    (tests use it to register a plugin for one test).
    """
    config = configuration.load(overrides)
    app = Flask(
        __name__,
        instance_path=str(config.instance_path),
        template_folder=str(_templates()),
        static_folder="static",
    )
    app.url_map.converters["int"] = DatabaseId  # before any route is added
    config.instance_path.mkdir(parents=True, exist_ok=True)
    logging.getLogger("esap_core").setLevel(config.log_level.upper())
    app.extensions["esap.config"] = config
    app.config.update(
        SECRET_KEY=_secret_key(config),
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure cookies everywhere but plain http on this machine (the local mode, tests).
        SESSION_COOKIE_SECURE=not (config.local_mode or is_loopback_url(config.base_url)),
        # The cookie outlives no login: a login's own bounds are kept on the server (esap_core.logins).
        PERMANENT_SESSION_LIFETIME=config.session_lifetime,
    )

    database = Database(database_url(config.database_url, config.instance_path))
    database.init_app(app)
    if config.embedded_database:
        from esap_core import schema

        schema.upgrade(database.engine)
    JobQueue(config.redis_url, config.instance_path).init_app(app)

    plugins = Plugins(config)
    plugins.load(extra=extra_plugins)
    app.extensions["esap.plugins"] = plugins
    if config.facilities or config.public_facilities():
        from esap_core import facilities

        facilities.sync_on_first_request(app)

    from esap_core import api, auth, errors, inputs, oidc, security, web

    security.init_app(app, oidc.issuer_origin(app))
    inputs.init_app(app)
    auth.init_app(app)
    oidc.init_app(app)
    web.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    return app


def _templates() -> Path:
    shipped = Path(__file__).parent / "templates"  # inside an installed wheel
    return shipped if shipped.is_dir() else Path(__file__).parent.parent / "templates"  # a source checkout


def _secret_key(config: configuration.Config) -> str:
    """The configured key, or one generated once and kept in the instance folder (0600)."""
    if config.secret_key is not None:
        return config.secret_key.reveal()
    path = config.instance_path / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()
