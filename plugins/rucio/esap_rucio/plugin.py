"""The plugin's hooks: one archive per configured Rucio instance, and a workspace storage where one is asked for.

Only esap_core is imported here; rucio-clients is imported when a search runs.
"""

from __future__ import annotations

from collections.abc import Callable

from esap_core import Archive, Settings, Storage, hookimpl
from esap_rucio.archive import RucioArchive
from esap_rucio.settings import read_instances
from esap_rucio.storage import RucioStorage


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    for instance in read_instances(settings):
        register(RucioArchive(instance))


@hookimpl
def register_storages(register: Callable[[Storage], None], settings: Settings) -> None:
    """A storage named like the instance for each instance with a ``workspace_rse``."""
    for instance in read_instances(settings):
        if instance.workspace_rse:
            register(RucioStorage(instance))
