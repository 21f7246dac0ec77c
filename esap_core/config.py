"""Configuration: ESAP_* environment variables over an optional TOML file, checked at start-up.

The TOML file (``ESAP_CONFIG``) has core keys at the top level, ``[oidc]`` for
login and ``[plugins.<name>]`` per plugin. A secret is never written in the
file itself: ``secret_key = { env = "MY_SECRET" }`` names the variable holding it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esap_core.hookspecs import Secret, Settings


class ConfigError(Exception):
    """Invalid configuration; the message names the offending key."""


# key: (type, environment variable or None, default)
CORE_KEYS: dict[str, tuple[type, str | None, Any]] = {
    "instance_path": (str, "ESAP_INSTANCE_PATH", "instance"),
    "database_url": (str, "ESAP_DATABASE_URL", ""),
    "redis_url": (str, "ESAP_REDIS_URL", ""),
    "secret_key": (Secret, "ESAP_SECRET_KEY", None),
    "encryption_key": (Secret, "ESAP_ENCRYPTION_KEY", None),
    "base_url": (str, "ESAP_BASE_URL", ""),
    "load_plugins": (list, "ESAP_LOAD_PLUGINS", None),
    "block_plugins": (list, "ESAP_BLOCK_PLUGINS", []),
    "archive_timeout": (float, "ESAP_ARCHIVE_TIMEOUT", 20.0),
    "log_level": (str, "ESAP_LOG_LEVEL", "INFO"),
    "offline": (bool, "ESAP_OFFLINE", False),
    "default_facilities": (bool, "ESAP_DEFAULT_FACILITIES", True),
    "facilities": (list, None, []),
    "allow_private_facilities": (bool, "ESAP_ALLOW_PRIVATE_FACILITIES", False),
    "launch_timeout": (float, "ESAP_LAUNCH_TIMEOUT", 3600.0),
    "check_interval": (float, "ESAP_CHECK_INTERVAL", 300.0),
    "staging_timeout": (float, "ESAP_STAGING_TIMEOUT", 120.0),
    "session_idle_timeout": (float, "ESAP_SESSION_IDLE_TIMEOUT", 8 * 3600.0),
    "session_lifetime": (float, "ESAP_SESSION_LIFETIME", 7 * 24 * 3600.0),
    "job_queued_timeout": (float, "ESAP_JOB_QUEUED_TIMEOUT", 24 * 3600.0),
    "job_executing_timeout": (float, "ESAP_JOB_EXECUTING_TIMEOUT", 48 * 3600.0),
    "workspace_storage": (str, "ESAP_WORKSPACE_STORAGE", ""),
    "workspace_max_upload_mb": (float, "ESAP_WORKSPACE_MAX_UPLOAD_MB", 1024.0),
    "workspace_timeout": (float, "ESAP_WORKSPACE_TIMEOUT", 120.0),
}

# What a fresh install launches on, when the facility's type is installed (``default_facilities``).
PUBLIC_FACILITIES = (
    {
        "name": "mybinder",
        "kind": "binderhub",
        "url": "https://mybinder.org/",
        "title": "mybinder.org",
        "description": "The Binder project's free public BinderHub: builds a repository and opens it for a few hours.",
    },
)

OIDC_KEYS: dict[str, tuple[type, str | None, Any]] = {
    "issuer": (str, "ESAP_OIDC_ISSUER", ""),
    "client_id": (str, "ESAP_OIDC_CLIENT_ID", ""),
    "client_secret": (Secret, "ESAP_OIDC_CLIENT_SECRET", None),
    "scopes": (list, "ESAP_OIDC_SCOPES", ["openid", "profile", "email"]),
    "authorize_params": (dict, None, {}),
    "admin_claim": (str, "ESAP_OIDC_ADMIN_CLAIM", "groups"),
    "admin_groups": (list, "ESAP_OIDC_ADMIN_GROUPS", []),
    "admins": (list, "ESAP_ADMINS", []),
}


@dataclass(frozen=True)
class Config:
    """The checked configuration of one app."""

    instance_path: Path
    database_url: str
    redis_url: str
    secret_key: Secret | None
    encryption_key: Secret | None
    base_url: str
    load_plugins: list[str] | None
    block_plugins: list[str]
    archive_timeout: float
    log_level: str
    offline: bool
    default_facilities: bool
    facilities: list[dict[str, Any]]
    allow_private_facilities: bool
    launch_timeout: float
    check_interval: float
    staging_timeout: float
    session_idle_timeout: float
    session_lifetime: float
    job_queued_timeout: float  # the longest a job may wait at its facility before ESAP cancels it
    job_executing_timeout: float  # the longest a job may run
    workspace_storage: str
    workspace_max_upload_mb: float
    workspace_timeout: float
    oidc: dict[str, Any]
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def embedded_queue(self) -> bool:
        return not self.redis_url

    @property
    def local_mode(self) -> bool:
        """The single-user mode: no OpenID issuer, serving only this machine."""
        return not self.oidc["issuer"]

    def plugin_settings(self, plugin: str) -> Settings:
        return Settings(plugin, self.plugins.get(plugin, {}), offline=self.offline)

    def public_facilities(self) -> list[dict[str, Any]]:
        """The public facilities a fresh install offers: none offline, or when facilities are configured."""
        if self.offline or not self.default_facilities or self.facilities:
            return []
        return [dict(facility) for facility in PUBLIC_FACILITIES]


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file and the environment, apply ``overrides`` (tests), check everything."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = environ.get("ESAP_CONFIG")
    if path:
        raw = _read_toml(Path(path))
    raw = _merge(raw, dict(overrides or {}))

    oidc_raw = raw.pop("oidc", {})
    plugins_raw = raw.pop("plugins", {})
    _refuse_unknown(raw, CORE_KEYS, "")
    _refuse_unknown(oidc_raw, OIDC_KEYS, "oidc.")
    if not isinstance(plugins_raw, dict) or not all(isinstance(v, dict) for v in plugins_raw.values()):
        raise ConfigError("plugins: each plugin's settings must be a table, such as [plugins.vo]")

    core = _section(raw, CORE_KEYS, "", environ)
    oidc = _section(oidc_raw, OIDC_KEYS, "oidc.", environ)
    plugins = {name: _resolve_secrets(values, f"plugins.{name}.", environ) for name, values in plugins_raw.items()}
    for key in (
        "archive_timeout",
        "launch_timeout",
        "check_interval",
        "staging_timeout",
        "session_idle_timeout",
        "session_lifetime",
        "job_queued_timeout",
        "job_executing_timeout",
        "workspace_timeout",
    ):
        if core[key] <= 0:
            raise ConfigError(f"{key}: must be a positive number of seconds")
    if core["workspace_max_upload_mb"] <= 0:
        raise ConfigError("workspace_max_upload_mb: must be a positive number of megabytes")
    if not all(isinstance(entry, dict) for entry in core["facilities"]):
        raise ConfigError("facilities: each facility is a table, such as [[facilities]] with name, kind and url")
    return Config(instance_path=Path(core.pop("instance_path")).resolve(), oidc=oidc, plugins=plugins, **core)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"ESAP_CONFIG: no such file: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"ESAP_CONFIG: {path} is not valid TOML: {error}") from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _refuse_unknown(raw: Mapping[str, Any], keys: Mapping[str, Any], prefix: str) -> None:
    for key in raw:
        if key not in keys:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(keys))})")


def _section(
    raw: Mapping[str, Any], keys: Mapping[str, tuple[type, str | None, Any]], prefix: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    values = {}
    for key, (kind, variable, default) in keys.items():
        name = f"{prefix}{key}"
        if variable and variable in environ:
            values[key] = _from_environment(name, kind, variable, environ[variable])
        elif key in raw:
            values[key] = _from_file(name, kind, raw[key], environ)
        else:
            values[key] = default
    return values


def _from_environment(name: str, kind: type, variable: str, text: str) -> Any:
    if kind is Secret:
        return Secret(text, f"env:{variable}")
    if kind is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{name}: {variable}={text!r} is not true or false")
        return text.lower() in ("true", "1", "yes")
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{name}: {variable}={text!r} is not a number") from None
    return text


def _from_file(name: str, kind: type, value: Any, environ: Mapping[str, str]) -> Any:
    if kind is Secret:
        return _secret(name, value, environ)
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _secret(name: str, value: Any, environ: Mapping[str, str]) -> Secret:
    if not (isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)):
        raise ConfigError(f'{name}: a secret is referenced from the environment, as {{ env = "VARIABLE" }}')
    variable = value["env"]
    if variable not in environ:
        raise ConfigError(f"{name}: the environment variable {variable} is not set")
    return Secret(environ[variable], f"env:{variable}")


def _resolve_secrets(values: dict[str, Any], prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn every ``{ env = "NAME" }`` in a plugin section into a :class:`Secret`, at any depth."""
    resolved: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and set(value) == {"env"}:
            resolved[key] = _secret(name, value, environ)
        elif isinstance(value, dict):
            resolved[key] = _resolve_secrets(value, f"{name}.", environ)
        elif isinstance(value, list):
            resolved[key] = [
                _resolve_secrets(item, f"{name}[{i}].", environ) if isinstance(item, dict) else item
                for i, item in enumerate(value)
            ]
        else:
            resolved[key] = value
    return resolved
