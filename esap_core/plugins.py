"""Plugin loading: entry points in group ``esap``, built-ins, allow/block lists, registries.

One :class:`Plugins` per app, kept in ``app.extensions["esap.plugins"]``. A plugin
that fails to import, misspells a hook, raises while registering or registers a
duplicate name is named in the log and on the plugins page, and skipped; the
others load. Order is explicit: built-in plugins first, then the rest by name.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module, metadata
from types import ModuleType
from typing import Any

import pluggy

from esap_core import hookspecs
from esap_core.config import Config
from esap_core.hookspecs import Archive, FacilityType, Publisher, SoftwareSource, Storage

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "esap"
BUILTIN_PLUGINS = {  # plugin name → module
    "blank-notebook": "esap_core.builtins.blank_notebook",
    "git-repositories": "esap_core.builtins.git_repositories",
}

# hook name → (base class, attribute naming an object, noun for messages, Plugins attribute)
REGISTRIES: dict[str, tuple[type, str, str, str]] = {
    "register_archives": (Archive, "name", "archive", "archives"),
    "register_software_sources": (SoftwareSource, "name", "software source", "software_sources"),
    "register_facility_types": (FacilityType, "kind", "facility type", "facility_types"),
    "register_storages": (Storage, "name", "storage", "storages"),
    "register_publishers": (Publisher, "name", "publisher", "publishers"),
}


@dataclass
class PluginInfo:
    """What the plugins page and API show about one plugin."""

    name: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""
    note: str = ""  # why a plugin that loaded registered nothing

    @property
    def status(self) -> str:
        return "failed" if self.error else "loaded"


class PluginError(Exception):
    pass


class Plugins:
    """The plugins of one app and the objects they registered."""

    def __init__(self, config: Config):
        self.config = config
        self.manager = pluggy.PluginManager("esap")
        self.manager.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.archives: dict[str, Archive] = {}
        self.software_sources: dict[str, SoftwareSource] = {}
        self.facility_types: dict[str, FacilityType] = {}
        self.storages: dict[str, Storage] = {}
        self.publishers: dict[str, Publisher] = {}
        self._owners: dict[tuple[str, str], str] = {}

    # --- loading --------------------------------------------------------------

    def load(self, extra: Iterable[tuple[str, ModuleType | object]] = ()) -> None:
        """Load built-ins, installed entry points and ``extra`` (name, module) pairs, then register."""
        candidates = [
            (name, True, lambda module=module: import_module(module)) for name, module in BUILTIN_PLUGINS.items()
        ]
        entry_points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        candidates += [(ep.name, False, ep.load) for ep in entry_points if self._wanted(ep.name)]
        candidates += [(name, False, lambda module=module: module) for name, module in extra]
        for name, builtin, importer in candidates:
            self._load_one(name, builtin, importer)
        for name in list(self.info):
            if not self.info[name].error:
                self._register_objects(name)
                self.info[name].note = self._why_nothing(name)

    def _wanted(self, name: str) -> bool:
        allowed = self.config.load_plugins
        return (allowed is None or name in allowed) and name not in self.config.block_plugins

    def _load_one(self, name: str, builtin: bool, importer: Callable[[], Any]) -> None:
        info = PluginInfo(name=name, version=_version(name, builtin), builtin=builtin)
        self.info[name] = info
        try:
            module = importer()
            self.manager.register(module, name=name)
        except Exception as error:  # a plugin's failure must not take ESAP down
            self._fail(info, f"could not be loaded: {_describe(error)}", error)
            return
        info.hooks = sorted(impl.name for impl in _hook_callers(self.manager, name))
        try:
            self._check_hooks(name)
        except PluginError as error:
            self.manager.unregister(name=name)
            self._fail(info, str(error), None)

    def _check_hooks(self, name: str) -> None:
        """Like pluggy's ``check_pending``, for one plugin, so the others still load."""
        plugin = self.manager.get_plugin(name)
        for hook_name in dir(plugin):
            unknown = hook_name.startswith("register_") and not hasattr(self.manager.hook, hook_name)
            if unknown and callable(getattr(plugin, hook_name)):
                raise PluginError(f"implements an unknown hook {hook_name!r} (known: {', '.join(REGISTRIES)})")
        for caller in _hook_callers(self.manager, name):
            if not caller.has_spec():
                raise PluginError(f"implements an unknown hook {caller.name!r}")

    def _register_objects(self, name: str) -> None:
        info = self.info[name]
        settings = self.config.plugin_settings(name)
        added: list[tuple[dict[str, Any], str]] = []
        try:
            for hook_name, (base, key, noun, attribute) in REGISTRIES.items():
                registry = getattr(self, attribute)
                for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    found: list[Any] = []
                    _call(impl, register=found.append, settings=settings)
                    for obj in found:
                        key_value = self._validate(obj, base, key, noun, name)
                        registry[key_value] = obj
                        added.append((registry, key_value))
                        self._owners[(noun, key_value)] = name
                        info.registered.setdefault(noun, []).append(key_value)
        except Exception as error:
            for registry, key_value in added:  # all or nothing per plugin
                registry.pop(key_value, None)
            info.registered.clear()
            self._fail(info, f"failed while registering: {_describe(error)}", error)

    def _why_nothing(self, name: str) -> str:
        """A loaded plugin that registered nothing is usually waiting for its settings: say so."""
        info = self.info[name]
        if info.registered or info.error:
            return ""
        if not any(hook.startswith("register_") for hook in info.hooks):
            return "registered nothing: it implements no register_ hook"
        if not self.config.plugins.get(name) and self.config.offline:
            return f"registered nothing: ESAP is offline (ESAP_OFFLINE) and no [plugins.{name}] settings name a service"
        if not self.config.plugins.get(name):
            return f"registered nothing: no [plugins.{name}] settings are configured (its README says which)"
        return f"registered nothing with its [plugins.{name}] settings (its README says which it needs)"

    def _validate(self, obj: Any, base: type, key: str, noun: str, plugin: str) -> str:
        if not isinstance(obj, base):
            raise PluginError(f"registered {obj!r}, which is not a {base.__name__}")
        value = getattr(obj, key, "")
        if not isinstance(value, str) or not value or not value.replace("-", "").replace("_", "").isalnum():
            raise PluginError(f"registered a {noun} with an invalid {key} {value!r} (letters, digits, - and _)")
        owner = self._owners.get((noun, value))
        if owner is not None:
            raise PluginError(f"registered the {noun} {value!r}, which plugin {owner!r} already registered")
        return value

    def _fail(self, info: PluginInfo, message: str, error: BaseException | None) -> None:
        info.error = message
        detail = "".join(traceback.format_exception(error)) if error else ""
        log.error("plugin %r %s\n%s", info.name, message, detail)

    # --- what the rest of ESAP reads ------------------------------------------

    def owner(self, noun: str, key: str) -> str | None:
        return self._owners.get((noun, key))


def _hook_callers(manager: pluggy.PluginManager, name: str) -> list[Any]:
    plugin = manager.get_plugin(name)
    return manager.get_hookcallers(plugin) or []


def _call(impl: Any, **kwargs: Any) -> Any:
    """Call one implementation with the arguments it asks for (pluggy allows fewer than the spec)."""
    return impl.function(*[kwargs[arg] for arg in impl.argnames])


def _version(name: str, builtin: bool) -> str:
    if builtin:
        from esap_core import __version__

        return __version__
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name and ep.dist is not None:
            return ep.dist.version
    return ""


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
