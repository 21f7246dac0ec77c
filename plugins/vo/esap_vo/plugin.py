"""ESAP's hook implementations for the VO: the registry archive and one archive per pinned service.

Only light modules are imported here; pyvo and astropy load when a search first runs,
so ESAP's start-up does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable

from esap_core import Archive, Settings, hookimpl
from esap_vo import defaults
from esap_vo.pinned import PinnedService
from esap_vo.registry import RegistryArchive


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    """The registry and the pinned services the settings name; offline, no public default of defaults.py."""
    public = not settings.offline
    private = settings.flag("private_services") if "private_services" in settings else None
    registry_url = settings.url("registry_tap_url", defaults.REGISTRY if public else "")
    if registry_url:
        register(RegistryArchive(registry_url, private))
    resolver_url = settings.url("name_resolver_url", defaults.NAME_RESOLVER if public else "")
    for service in settings.get("services", defaults.SERVICES if public else ()):
        register(PinnedService(service, resolver_url))
