"""ESAP hook implementations of the OSSR plugin: one software source, the OSSR community on Zenodo."""

from collections.abc import Callable, Mapping
from typing import Any

from esap_core import SoftwareSource, hookimpl
from esap_ossr.source import OSSRConfig, OSSRSource


@hookimpl
def register_software_sources(register: Callable[[SoftwareSource], None], settings: Mapping[str, Any]) -> None:
    register(OSSRSource(OSSRConfig.from_settings(settings)))
