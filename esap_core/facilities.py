"""Compute facilities: registered by admins (config, page, API) or privately by users, checked for health."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select

from esap_core.accounts import is_admin, session
from esap_core.db import end_transaction
from esap_core.hookspecs import Facility as PluginFacility
from esap_core.hookspecs import FacilityType, Secret, Settings, UIType
from esap_core.models import Facility, User, now

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class FacilityProblem(ValueError):
    """A facility that cannot be registered or used as asked; the message says why."""


def types() -> dict[str, FacilityType]:
    return current_app.extensions["esap.plugins"].facility_types


def type_of(facility: Facility) -> FacilityType | None:
    return types().get(facility.kind)


def visible(user: User | None, ui_type: str | None = None, query: str = "") -> list[Facility]:
    """Public enabled facilities and the user's own, optionally only those that run ``ui_type``."""
    condition = (
        Facility.owner_id.is_(None) if user is None else or_(Facility.owner_id.is_(None), Facility.owner_id == user.id)
    )
    rows = session().scalars(select(Facility).where(condition, Facility.enabled).order_by(Facility.title))
    found = []
    words = query.lower().split()
    for facility in rows:
        kind = type_of(facility)
        if kind is None or (ui_type and ui_type not in {str(t) for t in kind.accepts}):
            continue
        text = f"{facility.name} {facility.title} {facility.description} {facility.kind} {facility.url}".lower()
        if all(word in text for word in words):
            found.append(facility)
    return found


def get_visible(user: User | None, name: str) -> Facility | None:
    facility = session().scalar(select(Facility).where(Facility.name == name))
    if facility is None or not facility.enabled:
        return None
    if facility.owner_id is not None and (user is None or facility.owner_id != user.id):
        return None
    return facility


def register(
    owner: User | None, registrar: User | None, values: Mapping[str, Any], from_config: bool = False
) -> Facility:
    """Add a facility. ``owner`` None makes it public, which only admins (or the config) may do."""
    name = str(values.get("name", "")).strip().lower()
    if not NAME.match(name):
        raise FacilityProblem("A facility name is 1 to 63 lower-case letters, digits and dashes, such as 'my-hub'.")
    kind = str(values.get("kind", ""))
    if kind not in types():
        raise FacilityProblem(f"Unknown facility type {kind!r}; installed: {', '.join(sorted(types())) or 'none'}.")
    url = str(values.get("url", "")).strip()
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise FacilityProblem("A facility needs an http(s) URL.")
    admin = from_config or (registrar is not None and is_admin(registrar))
    if owner is None and not admin:
        raise FacilityProblem("Only admins can register public facilities.")
    settings = dict(values.get("settings") or {})
    if not admin:
        _refuse_environment_references(settings)
        _refuse_internal_address(url)
    if session().scalar(select(Facility.id).where(Facility.name == name)) is not None:
        raise FacilityProblem(f"There is already a facility named {name!r}.")
    facility = Facility(
        name=name,
        kind=kind,
        url=url,
        title=str(values.get("title") or name)[:255],
        description=str(values.get("description") or ""),
        settings=settings,
        rucio_rse=str(values.get("rucio_rse") or ""),
        owner_id=owner.id if owner else None,
        from_config=from_config,
    )
    session().add(facility)
    session().commit()
    return facility


def _refuse_environment_references(settings: Mapping[str, Any]) -> None:
    # An environment reference reads ESAP's own secrets: only admins may write one.
    for value in settings.values():
        if isinstance(value, dict):
            if set(value) == {"env"}:
                raise FacilityProblem("Only admins can reference secrets from ESAP's environment.")
            _refuse_environment_references(value)


def _refuse_internal_address(url: str) -> None:
    """No server-side request forgery: user facilities must resolve to public addresses."""
    if current_app.extensions["esap.config"].allow_private_facilities:
        return
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise FacilityProblem(f"The host {host!r} of the facility's URL cannot be found.") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_reserved or ip.is_unspecified:
            raise FacilityProblem(
                f"The facility's URL points to an internal address ({ip}); ESAP does not connect there for users."
            )


def remove(user: User, facility: Facility) -> None:
    if facility.owner_id != user.id and not is_admin(user):
        raise FacilityProblem("You can only remove your own facilities.")
    session().delete(facility)
    session().commit()


def for_plugin(facility: Facility) -> PluginFacility:
    """The facility as its type sees it: settings with secrets resolved from the environment."""
    import os

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"env"}:
            return Secret(os.environ.get(value["env"], ""), f"env:{value['env']}")
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        return value

    return PluginFacility(
        name=facility.name,
        kind=facility.kind,
        url=facility.url,
        title=facility.title,
        settings=Settings(f"facility:{facility.name}", resolve(facility.settings)),
    )


def check(facility: Facility, timeout: float = 10.0) -> Facility:
    """Ask the facility's type whether it answers; keep the outcome on the facility."""
    kind = type_of(facility)
    started = time.monotonic()
    try:
        if kind is None:
            raise FacilityProblem(f"The facility type {facility.kind!r} is not installed.")
        settings = for_plugin(facility)
        end_transaction()
        result = kind.check(settings, timeout)
        up, message, version, metadata = result.up, result.message, result.version, dict(result.metadata)
    except Exception as error:  # a facility's failure is its status, never ours
        log.info("check of facility %s failed: %s", facility.name, error)
        up, message, version, metadata = False, str(error) or type(error).__name__, "", {}
    facility.check_up, facility.check_message, facility.check_version = up, message[:2000], version[:255]
    facility.check_metadata = _json_safe(metadata)
    facility.check_latency_ms = round((time.monotonic() - started) * 1000, 1)
    facility.checked = now()
    session().commit()
    return facility


def _json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def accepts(facility: Facility, ui_type: str) -> bool:
    kind = type_of(facility)
    return kind is not None and ui_type in {str(t) for t in kind.accepts}


def ui_types_accepted(facility: Facility) -> list[str]:
    kind = type_of(facility)
    return sorted(str(t) for t in kind.accepts) if kind else []


def sync_from_config() -> None:
    """Register or update the facilities named in the config file (they stay public)."""
    for values in current_app.extensions["esap.config"].facilities:
        existing = session().scalar(select(Facility).where(Facility.name == values.get("name")))
        if existing is None:
            register(None, None, values, from_config=True)
            continue
        for key in ("kind", "url", "title", "description", "settings", "rucio_rse"):
            if key in values:
                setattr(existing, key, values[key])
        session().commit()


def sync_on_first_request(app) -> None:
    """Register the configured facilities when the app first serves (not at import: the DB may wait)."""
    import threading

    done = threading.Event()
    lock = threading.Lock()

    @app.before_request
    def sync_once():
        if done.is_set():
            return
        with lock:
            if not done.is_set():
                sync_from_config()
                done.set()


UI_TYPES = [str(t) for t in UIType]
