"""Built-in software source: git repositories registered by admins, in the configuration or on the admin page.

Settings in ``[plugins.git-repositories]``: ``repositories``, a list of tables with ``url`` (required),
``name``, ``ref``, ``path`` (the entry notebook or file), ``ui_type`` (notebook, desktop, cli, web),
``description``, ``keywords``, ``runtime_platform``. Repositories added on the admin page are kept in
the database (``plugin_state``) and harvested with these. Nothing is fetched from the repositories.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from esap_core import HarvestProblem, Settings, SoftwareRecord, SoftwareSource, UIType, hookimpl

log = logging.getLogger(__name__)
NAME = "git-repositories"
FIELDS = ("url", "name", "ref", "path", "ui_type", "description", "keywords", "runtime_platform")
STATE_KEY = "repositories"


def repository(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A checked repository entry; raises ValueError with a message that names the problem."""
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    url = str(entry.get("url", "")).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http(s) URL of a git repository, not {url!r}")
    ui_type = str(entry.get("ui_type") or UIType.NOTEBOOK.value).strip().lower()
    if ui_type not in {ui.value for ui in UIType}:
        raise ValueError(f"ui_type must be one of {', '.join(ui.value for ui in UIType)}, not {ui_type!r}")
    keywords = entry.get("keywords") or []
    keywords = [k.strip() for k in keywords.split(",")] if isinstance(keywords, str) else keywords
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ValueError("keywords must be a list of words")
    return {
        "url": url,
        "name": str(entry.get("name") or "").strip() or url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"),
        "ref": str(entry.get("ref") or "").strip(),
        "path": str(entry.get("path") or "").strip().lstrip("/"),
        "ui_type": ui_type,
        "description": str(entry.get("description") or "").strip(),
        "keywords": [k for k in keywords if k],
        "runtime_platform": str(entry.get("runtime_platform") or "").strip(),
    }


def identifier(entry: Mapping[str, Any]) -> str:
    """A repository's id in the catalogue: the same URL, ref and path give the same id."""
    return hashlib.sha256(f"{entry['url']}\n{entry['ref']}\n{entry['path']}".encode()).hexdigest()[:16]


def stored() -> list[dict[str, Any]]:
    """The repositories added on the admin page (this built-in may use the core's database)."""
    from esap_core.db import session
    from esap_core.models import PluginState

    row = session().get(PluginState, (NAME, STATE_KEY))
    return list(row.value) if row is not None and isinstance(row.value, list) else []


def store(entries: list[dict[str, Any]]) -> None:
    from esap_core.db import session
    from esap_core.models import PluginState

    db = session()
    row = db.get(PluginState, (NAME, STATE_KEY))
    if row is None:
        db.add(PluginState(plugin=NAME, key=STATE_KEY, value=entries))
    else:
        row.value = entries
    db.commit()


def add(entry: Mapping[str, Any]) -> dict[str, Any]:
    checked = repository(entry)
    entries = stored()
    if any(identifier(e) == identifier(checked) for e in entries):
        raise ValueError("This repository (with this ref and path) is registered already.")
    store([*entries, checked])
    return checked


def remove(repository_id: str) -> bool:
    entries = stored()
    kept = [e for e in entries if identifier(e) != repository_id]
    store(kept)
    return len(kept) < len(entries)


class GitRepositories(SoftwareSource):
    name = NAME
    title = "Git repositories"
    description = "Repositories registered by the administrators of this ESAP."

    def __init__(self, configured: list[dict[str, Any]], unusable: Mapping[str, str] | None = None):
        self.configured = configured
        self.unusable = dict(unusable or {})  # configured entries that cannot be used: where → why

    def harvest(self, since: datetime | None) -> Iterable[SoftwareRecord | HarvestProblem]:
        for where, reason in self.unusable.items():
            yield HarvestProblem(external_id=where, reason=reason)
        for entry in [*self.configured, *stored()]:
            yield SoftwareRecord(
                external_id=identifier(entry),
                name=entry["name"],
                description=entry["description"],
                repository_url=entry["url"],
                ref=entry["ref"],
                path=entry["path"],
                keywords=tuple(entry["keywords"]),
                runtime_platform=entry["runtime_platform"],
                ui_type=UIType(entry["ui_type"]),
            )


@hookimpl
def register_software_sources(register: Callable[[SoftwareSource], None], settings: Settings) -> None:
    entries = settings.get("repositories", [])
    if not isinstance(entries, list):
        raise ValueError("repositories must be a list of tables, such as [[plugins.git-repositories.repositories]]")
    configured, unusable = [], {}
    for number, entry in enumerate(entries, 1):
        # One bad entry fails alone, named in the harvest's problems; the others load.
        where = f"repositories[{number}]"
        if not isinstance(entry, Mapping):
            unusable[where] = "must be a table with at least a url"
            continue
        try:
            configured.append(repository(entry))
        except ValueError as error:
            unusable[where] = str(error)
    for where, reason in unusable.items():
        log.warning("[plugins.git-repositories] %s: %s", where, reason)
    register(GitRepositories(configured, unusable))
