"""The plugin's hooks: one archive per configured Rucio instance.

Only esap_core is imported here; rucio-clients is imported when a search runs.
"""

from __future__ import annotations

from collections.abc import Callable

from esap_core import Archive, Settings, hookimpl
from esap_rucio.archive import RucioArchive
from esap_rucio.settings import read_instances


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    for instance in read_instances(settings):
        register(RucioArchive(instance))
