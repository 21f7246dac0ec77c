"""The plugin's hook implementations: registers the ``webdav`` storage when its base URL is configured."""

from collections.abc import Callable

from esap_core import Settings, Storage, hookimpl
from esap_webdav.settings import webdav_settings
from esap_webdav.storage import WebDavStorage


@hookimpl
def register_storages(register: Callable[[Storage], None], settings: Settings) -> None:
    if not settings:
        return  # installed but not configured: no storage, and nothing to complain about
    register(WebDavStorage(webdav_settings(settings)))
