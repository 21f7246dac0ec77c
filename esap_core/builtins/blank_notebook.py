"""Built-in software source: a blank notebook in a Binder-ready environment.

Settings in ``[plugins.blank-notebook]``: ``repository_url`` (a repository Binder can
build, by default a minimal Python environment), ``ref`` and ``path``.
"""

from collections.abc import Callable, Iterable
from datetime import datetime

from esap_core import Settings, SoftwareRecord, SoftwareSource, UIType, hookimpl

DEFAULT_REPOSITORY = "https://github.com/binder-examples/requirements"


class BlankNotebook(SoftwareSource):
    name = "blank-notebook"
    title = "Blank notebook"
    description = "An empty Jupyter notebook with Python and the ESAP client, for your own analysis."

    def __init__(self, settings: Settings):
        self.repository_url = settings.get("repository_url", DEFAULT_REPOSITORY)
        self.ref = settings.get("ref", "HEAD")
        self.path = settings.get("path", "")

    def harvest(self, since: datetime | None) -> Iterable[SoftwareRecord]:
        yield SoftwareRecord(
            external_id="blank",
            name=self.title,
            description=self.description,
            repository_url=self.repository_url,
            ref=self.ref,
            path=self.path,
            keywords=("notebook", "python", "jupyter"),
            runtime_platform="Python 3",
            ui_type=UIType.NOTEBOOK,
        )


@hookimpl
def register_software_sources(register: Callable[[SoftwareSource], None], settings: Settings) -> None:
    register(BlankNotebook(settings))
