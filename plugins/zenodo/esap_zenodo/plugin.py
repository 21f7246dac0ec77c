"""The plugin's hook implementations: registers the ``zenodo`` publisher (https://zenodo.org unless configured)."""

from collections.abc import Callable

from esap_core import Publisher, Settings, hookimpl
from esap_zenodo.publisher import ZenodoPublisher
from esap_zenodo.settings import zenodo_settings


@hookimpl
def register_publishers(register: Callable[[Publisher], None], settings: Settings) -> None:
    configured = zenodo_settings(settings)
    if configured is not None:
        register(ZenodoPublisher(configured))
