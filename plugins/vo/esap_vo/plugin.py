"""ESAP's hook implementations for the VO: the registry archive and one archive per pinned service.

Only light modules are imported here; pyvo and astropy load when a search first runs,
so ESAP's start-up does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from esap_core import Archive, hookimpl
from esap_vo.pinned import PinnedService
from esap_vo.registry import DEFAULT_REGISTRY, RegistryArchive
from esap_vo.resolver import DEFAULT_RESOLVER


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Mapping[str, Any]) -> None:
    register(RegistryArchive(str(settings.get("registry_tap_url") or DEFAULT_REGISTRY)))
    resolver_url = str(settings.get("name_resolver_url") or DEFAULT_RESOLVER)
    for service in settings.get("services") or ():
        register(PinnedService(service, resolver_url))
