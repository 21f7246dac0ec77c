"""A Dask Gateway facility's settings, read once per call with the typed accessors of ``facility.settings``."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from esap_core import Facility, FacilityError, Secret, Settings, SettingsError, UserContext

AUTH_KINDS = ("basic",)  # see the README: why JupyterHub service auth is not one of them
MAX_USERNAME = 63
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class GatewaySettings:
    api_url: str  # where ESAP's workers reach the gateway's proxy (the API and the dashboards)
    public_url: str  # the same, as the researcher's browser reaches it (dashboard links)
    scheduler_address: str  # the proxy's TCP address for schedulers, as sessions reach it: host:port
    password: Secret
    username_template: str
    check_username: str
    default_workers: int
    max_workers: int
    start_timeout: float
    worker_timeout: float


def gateway_settings(facility: Facility) -> GatewaySettings:
    """Read ``facility``'s settings; raise :class:`FacilityError` naming the key and what is wrong."""
    try:
        return _read(facility.settings, facility.url)
    except SettingsError as error:
        raise FacilityError(str(error)) from None


def _read(values: Settings, url: str) -> GatewaySettings:
    values.text("auth", "basic", choices=AUTH_KINDS)
    public_url = values.url("public_url", url).rstrip("/")
    api_url = values.url("api_url", public_url).rstrip("/")
    max_workers = int(values.number("max_workers", 4, minimum=1, integer=True))
    # Sessions are on the researcher's side, as browsers are: by default they use the public address.
    scheduler_address = _host_and_port(values, "scheduler_address", public_url)
    return GatewaySettings(
        api_url=api_url,
        public_url=public_url,
        scheduler_address=scheduler_address,
        password=values.secret("password", required=True),
        username_template=values.text("username_template", "{username}"),
        check_username=values.text("check_username", "esap") or "esap",
        default_workers=int(values.number("workers", 1, minimum=1, maximum=max_workers, integer=True)),
        max_workers=max_workers,
        start_timeout=float(values.number("start_timeout", 120, positive=True)),
        worker_timeout=float(values.number("worker_timeout", 300, positive=True)),
    )


def _host_and_port(values: Settings, key: str, default_url: str) -> str:
    """``host:port`` from ``gateway://host:port``, ``tls://host:port`` or ``host:port``; by default ``default_url``'s.

    The client library's own default is the same: the gateway's host and port, with
    schedulers sharing the HTTP port.
    """
    given = values.text(key, "").strip()
    if not given:
        parts = urlsplit(default_url)
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    address = re.sub(r"^(gateway|tls)://", "", given).rstrip("/")
    try:
        parts = urlsplit(f"//{address}")
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or f"{parts.netloc}" != address or "@" in address:
        raise SettingsError(values.where, key, f"must be host:port (or gateway://host:port), not {given!r}")
    return address


def gateway_username(template: str, user: UserContext) -> str:
    """The gateway's user name for ``user``: ``template`` over ESAP's ``username`` and the login claims, made safe.

    Claims come from the identity provider, so the result is lower-cased, runs of characters
    outside ``[a-z0-9._-]`` become ``-``, it is cut to 63 characters, and an empty one is refused.
    """
    try:
        parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)]
    except ValueError as error:
        raise FacilityError(f"username_template {template!r} is not a valid template: {error}") from None
    fields = [name for name, _, _ in parsed if name is not None]
    # Plain names only: no attribute or index look-ups, no format specs (a width could be huge).
    plain = all(
        name.isidentifier() and not spec and conversion is None for name, spec, conversion in parsed if name is not None
    )
    if not fields or not plain:
        raise FacilityError(f"username_template {template!r} may only name claims, such as {{username}}")
    claims: Mapping[str, Any] = {"username": user.username, **user.claims}
    missing = [name for name in fields if claims.get(name) in (None, "")]
    if missing:
        raise FacilityError(f"the Dask Gateway user name needs the claim {missing[0]!r}, which this login lacks")
    raw = template.format_map(claims)
    name = _UNSAFE.sub("-", str(raw).lower())[:MAX_USERNAME].strip("-._")
    if not name:
        raise FacilityError(f"no usable Dask Gateway user name from {raw!r}: it has no letters or digits")
    return name
