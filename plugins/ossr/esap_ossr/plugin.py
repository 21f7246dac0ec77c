"""ESAP hook implementations of the OSSR plugin: one software source, the OSSR community on Zenodo."""

from collections.abc import Callable

from esap_core import Settings, SoftwareSource, hookimpl
from esap_ossr.source import OSSRConfig, OSSRSource


@hookimpl
def register_software_sources(register: Callable[[SoftwareSource], None], settings: Settings) -> None:
    # Zenodo's public OSSR community is a public default: offline, only a configured zenodo_url is used.
    if settings.offline and "zenodo_url" not in settings:
        return
    register(OSSRSource(OSSRConfig.from_settings(settings)))
