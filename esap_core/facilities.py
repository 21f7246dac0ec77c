"""Compute facilities: registered by admins (config, page, API) or privately by users, checked for health."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from esap_core import credentials, outbound
from esap_core.accounts import is_admin
from esap_core.db import end_transaction, session
from esap_core.encryption import InvalidToken
from esap_core.hookspecs import (
    Facility,
    FacilityError,
    FacilityType,
    PlainError,
    QueryField,
    Secret,
    Settings,
    SettingsError,
    UIType,
    detail_of,
)
from esap_core.models import RegisteredFacility, User, now

log = logging.getLogger(__name__)
BUSY = "busy"  # the key of check_metadata that holds a refusal the facility announced (FacilityBusy)
DETAIL = "failure_detail"  # the key of check_metadata that holds the technical side of a failed check
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class FacilityProblem(ValueError):
    """A facility that cannot be registered or used as asked; the message says why."""


def types() -> dict[str, FacilityType]:
    return current_app.extensions["esap.plugins"].facility_types


def type_of(facility: RegisteredFacility) -> FacilityType | None:
    return types().get(facility.kind)


def visible(user: User | None, ui_type: str | None = None, query: str = "") -> list[RegisteredFacility]:
    """Public enabled facilities and the user's own, optionally only those that run ``ui_type``."""
    condition = (
        RegisteredFacility.owner_id.is_(None)
        if user is None
        else or_(RegisteredFacility.owner_id.is_(None), RegisteredFacility.owner_id == user.id)
    )
    rows = session().scalars(
        select(RegisteredFacility).where(condition, RegisteredFacility.enabled).order_by(RegisteredFacility.title)
    )
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


def get_visible(user: User | None, name: str) -> RegisteredFacility | None:
    """The user's own facility named ``name``, else the public one (private names are per owner)."""
    owners = (
        [RegisteredFacility.owner_id.is_(None)]
        if user is None
        else [RegisteredFacility.owner_id.is_(None), RegisteredFacility.owner_id == user.id]
    )
    found = session().scalars(
        select(RegisteredFacility).where(RegisteredFacility.name == name, or_(*owners), RegisteredFacility.enabled)
    )
    return min(found, key=lambda facility: facility.owner_id is None, default=None)


def register(
    owner: User | None, registrar: User | None, values: Mapping[str, Any], from_config: bool = False
) -> RegisteredFacility:
    """Add a facility. ``owner`` None makes it public, which only admins (or the config) may do."""
    name = str(values.get("name", "")).strip().lower()
    if not NAME.match(name):
        raise FacilityProblem("A facility name is 1 to 63 lower-case letters, digits and dashes, such as 'my-hub'.")
    kind = str(values.get("kind", ""))
    if kind not in types():
        raise FacilityProblem(f"Unknown facility type {kind!r}; installed: {', '.join(sorted(types())) or 'none'}.")
    url = str(values.get("url", "")).strip()
    admin = from_config or (registrar is not None and is_admin(registrar))
    if owner is None and not admin:
        raise FacilityProblem("Only admins can register public facilities.")
    settings = values.get("settings") or {}
    if not isinstance(settings, dict):
        raise FacilityProblem("A facility's settings are a table of names and values.")
    if not admin and any(True for _ in environment_references(settings)):
        raise FacilityProblem("Only admins can reference secrets from ESAP's environment.")
    for label, address in [("the facility's URL", url), *_setting_urls(types()[kind], settings)]:
        _check_address(label, address, trusted=admin)
    if not from_config:  # typed in a form or sent to the API: kept encrypted (the config references the environment)
        settings = sealed(types()[kind], settings)
    _refuse_taken_name(name, owner)
    facility = RegisteredFacility(
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


def _refuse_taken_name(name: str, owner: User | None) -> None:
    """Public names are unique among public facilities; a private name among the owner's and the public ones.

    Other users' private names are never looked at: they neither block nor leak.
    """
    owners = [RegisteredFacility.owner_id.is_(None)] + (
        [RegisteredFacility.owner_id == owner.id] if owner is not None else []
    )
    if session().scalar(select(RegisteredFacility.id).where(RegisteredFacility.name == name, or_(*owners))) is not None:
        raise FacilityProblem(f"There is already a facility named {name!r}.")


def _setting_urls(kind: FacilityType, settings: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(f"setting {key!r}", settings[key]) for key in sorted(kind.url_settings) if key in settings]


def _check_address(label: str, url: Any, trusted: bool) -> None:
    """No server-side request forgery: one parser for every URL, and users' facilities on public addresses only.

    The guard checks again at every connection (:mod:`esap_core.outbound`); this tells the user at once.
    """
    try:
        if not isinstance(url, str):
            raise outbound.AddressRefused("it must be an http(s) URL")
        if trusted:
            outbound.check_url(url)
        else:
            outbound.check_address(url)
    except outbound.AddressRefused as error:
        raise FacilityProblem(f"A facility needs an http(s) URL that ESAP can use; {label}: {error}") from None
    except Exception as error:  # DNS failures and the like: the user's address, the user's problem to fix
        raise FacilityProblem(f"{label} cannot be used: {error}") from None


def environment_references(value: Any) -> Any:
    """Every ``{"env": NAME}`` inside ``value``, at any depth of tables and lists (as :func:`resolve_secrets` reads)."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            yield value["env"]
            return
        for item in value.values():
            yield from environment_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from environment_references(item)


SEALED = "sealed"  # a setting stored as {"sealed": ciphertext}


def sealed(kind: FacilityType, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with each typed secret (the type's ``secret_settings``) encrypted for storage."""
    box = credentials.box()
    return {
        key: {SEALED: box.seal(value).decode()}
        if key in kind.secret_settings and isinstance(value, str) and value
        else value
        for key, value in settings.items()
    }


def shown(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as pages and the API show them: a kept secret is never shown back."""
    return {key: "(kept encrypted)" if _is_sealed(value) else value for key, value in settings.items()}


def _unsealed(settings: Mapping[str, Any]) -> dict[str, Any]:
    box = credentials.box()
    opened = {}
    for key, value in settings.items():
        if _is_sealed(value):
            try:
                value = Secret(box.open(str(value[SEALED]).encode()), "typed by the facility's owner, kept encrypted")
            except InvalidToken:  # the encryption key changed: the owner must type it again
                value = None
        opened[key] = value
    return opened


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def resolve_secrets(value: Any, reveal: Callable[[str], Secret]) -> Any:
    """``value`` with each ``{"env": NAME}`` replaced by ``reveal(NAME)``, walking the same shapes as above."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return reveal(str(value["env"]))
        return {key: resolve_secrets(item, reveal) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(item, reveal) for item in value]
    return value


def remove(user: User, facility: RegisteredFacility) -> None:
    if facility.owner_id != user.id and not is_admin(user):
        raise FacilityProblem("You can only remove your own facilities.")
    session().delete(facility)
    session().commit()


def for_plugin(facility: RegisteredFacility) -> Facility:
    """The facility as its type sees it: settings with secrets resolved from the environment."""
    settings = resolve_secrets(facility.settings, lambda name: Secret(os.environ.get(name, ""), f"env:{name}"))
    settings = _unsealed(settings)
    return Facility(
        name=facility.name,
        kind=facility.kind,
        url=facility.url,
        title=facility.title,
        settings=Settings(f"facility:{facility.name}", settings),
        trusted=trusted(facility),
    )


def trusted(facility: RegisteredFacility) -> bool:
    """Registered by an admin or the configuration: ESAP may reach it on internal addresses."""
    if facility.owner_id is None:
        return True
    owner = session().get(User, facility.owner_id)
    return owner is not None and is_admin(owner)


def check(facility: RegisteredFacility, timeout: float = 10.0) -> RegisteredFacility:
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
        detail = result.detail
    except (PlainError, FacilityProblem, SettingsError) as error:  # a facility's failure is its status, never ours
        log.info("check of facility %s failed: %s", facility.name, error)
        up, message, version, metadata, detail = False, str(error), "", {}, detail_of(error)
    except Exception as error:  # a plugin's bug: said plainly, its text kept as the detail
        log.warning("check of facility %s failed unexpectedly", facility.name, exc_info=True)
        up, message, version, metadata = (
            False,
            "The check failed unexpectedly: the facility's plugin may have a problem.",
            "",
            {},
        )
        detail = f"{type(error).__name__}: {error}"
    facility.check_up, facility.check_message, facility.check_version = up, message[:2000], version[:255]
    busy = busy_notice(facility)  # a refusal the facility announced outlives checks until it expires
    kept = ({BUSY: busy} if busy else {}) | ({DETAIL: detail[:2000]} if detail and not up else {})
    facility.check_metadata = _json_safe(metadata) | kept
    facility.check_latency_ms = round((time.monotonic() - started) * 1000, 1)
    facility.checked = now()
    session().commit()
    return facility


def note_busy(facility: RegisteredFacility, message: str, retry_after: float | None) -> None:
    """Show on the facility's page that it refuses launches for now (a rate limit), until ``retry_after`` s pass."""
    until = now() + timedelta(seconds=retry_after if retry_after and retry_after > 0 else 3600)
    notice = {"message": message[:1000], "until": until.isoformat()}
    facility.check_metadata = {**(facility.check_metadata or {}), BUSY: notice}
    session().commit()


def busy_notice(facility: RegisteredFacility) -> dict[str, str] | None:
    """The facility's refusal still in force (``message``, ``until``), if any."""
    notice = (facility.check_metadata or {}).get(BUSY)
    if not isinstance(notice, dict):
        return None
    try:
        until = datetime.fromisoformat(str(notice.get("until")))
    except ValueError:
        return None
    return notice if until > now() else None


def _json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def checkout_options(facility: RegisteredFacility) -> tuple[tuple[QueryField, ...], str]:
    """The choices the facility's type offers at checkout, and "" or why it cannot say now.

    A type may ask its facility for them (a Dask Gateway's cluster options): when that
    fails, the page shows the facility's reason instead of the form.
    """
    kind = type_of(facility)
    if kind is None:
        return (), f"The facility type {facility.kind!r} is not installed."
    settings = for_plugin(facility)
    end_transaction()
    try:
        return tuple(kind.options(settings)), ""
    except FacilityError as error:
        return (), str(error)


def accepts(facility: RegisteredFacility, ui_type: str) -> bool:
    kind = type_of(facility)
    return kind is not None and ui_type in {str(t) for t in kind.accepts}


def ui_types_accepted(facility: RegisteredFacility) -> list[str]:
    kind = type_of(facility)
    return sorted(str(t) for t in kind.accepts) if kind else []


def sync_from_config() -> None:
    """Register or update the facilities named in the config file, or the public defaults (they stay public)."""
    config = current_app.extensions["esap.config"]
    installed = current_app.extensions["esap.plugins"].facility_types
    defaults = [values for values in config.public_facilities() if values["kind"] in installed]
    for values in config.facilities or defaults:
        existing = session().scalar(
            select(RegisteredFacility).where(
                RegisteredFacility.name == values.get("name"), RegisteredFacility.owner_id.is_(None)
            )
        )
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
