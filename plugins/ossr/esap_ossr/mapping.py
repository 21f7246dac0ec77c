"""One Zenodo record and its codemeta.json as an ESAP software record.

Both are untrusted: every value is type-checked, text is kept as plain text (the description's HTML
is reduced to its text, other values get no HTML meaning) and bounded, and links must be http(s).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from esap_core import SoftwareRecord, UIType
from esap_ossr.description import description_text, plain_text

MAX_NAME = 300
MAX_SHORT = 200  # version, licence, runtime platform, one author, one keyword
MAX_ITEMS = 50  # authors, keywords

# Words that say how software is used, looked for in keywords, applicationCategory and
# runtimePlatform; the first kind found wins, in this order.
UI_SIGNALS: tuple[tuple[UIType, tuple[str, ...]], ...] = (
    (UIType.NOTEBOOK, ("jupyter", "notebook", "notebooks", "ipynb", "jupyterlab", "binder")),
    (UIType.WEB, ("web", "webapp", "browser", "dashboard")),
    (UIType.DESKTOP, ("desktop", "gui", "graphical-user-interface")),
    (UIType.CLI, ("cli", "command-line", "commandline", "terminal", "console")),
)
# Without a signal: a runtime with a Jupyter kernel (or none stated) opens in a notebook.
NOTEBOOK_RUNTIMES = re.compile(r"(?<![a-z])(python|r|julia|ipython)(?![a-z])")
GIT_TREE = re.compile(r"^(https://(?:github\.com|gitlab\.[^/]+)/[^/]+/[^/]+?)(?:/-)?/tree/([^/?#]+)/?$")


def software_record(hit: Any, codemeta: dict | None) -> SoftwareRecord:
    """Map a search hit (and its codemeta.json, if read); raise ``ValueError`` if it is unusable."""
    if not isinstance(hit, dict):
        raise ValueError(f"a JSON {type(hit).__name__} instead of a record")
    metadata = hit.get("metadata")
    if not isinstance(metadata, dict):
        raise ValueError("no metadata")
    record_id = _identifier(hit.get("id"))
    title = _string(metadata.get("title")) or _string(hit.get("title"))
    if not record_id or not title:
        raise ValueError("no id or no title")
    cm = codemeta or {}
    repository, ref = _repository(cm.get("codeRepository"), metadata.get("related_identifiers"))
    keywords = _unique([*_strings(cm.get("keywords")), *_strings(metadata.get("keywords"))])
    categories = _strings(cm.get("applicationCategory"))
    runtime = ", ".join(_strings(cm.get("runtimePlatform")))
    version = _string(cm.get("version")) or _string(cm.get("softwareVersion")) or _string(metadata.get("version"))
    files = [f.get("key") for f in hit.get("files") or [] if isinstance(f, dict)]
    return SoftwareRecord(
        # The concept id names the software across its versions; the record id changes with each one.
        external_id=_identifier(hit.get("conceptrecid")) or record_id,
        name=plain_text(_string(cm.get("name")) or title, MAX_NAME),
        description=_description(metadata.get("description"), cm.get("description")),
        repository_url=repository,
        ref=ref,
        version=plain_text(version, MAX_SHORT),
        doi=plain_text(_string(hit.get("doi")) or _string(metadata.get("doi")), MAX_SHORT),
        authors=_authors(cm.get("author"), metadata.get("creators")),
        # ESAP's record has no category field: applicationCategory is kept as keywords.
        keywords=tuple(plain_text(k, MAX_SHORT) for k in _unique([*keywords, *categories])[:MAX_ITEMS]),
        runtime_platform=plain_text(runtime, MAX_SHORT),
        ui_type=ui_type(keywords, categories, runtime, [f for f in files if isinstance(f, str)]),
        licence=_licence(cm.get("license"), metadata.get("license")),
        updated=_datetime(hit.get("updated")),
    )


def ui_type(keywords: Iterable[str], categories: Iterable[str], runtime: str, files: Iterable[str]) -> UIType:
    """How the software is used, from what its metadata says."""
    if any(name.lower().endswith(".ipynb") for name in files):
        return UIType.NOTEBOOK
    texts = [_normalise(t) for t in [*keywords, *categories, runtime] if t]
    for kind, words in UI_SIGNALS:
        for word in words:
            pattern = re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")
            if any(pattern.search(text) for text in texts):
                return kind
    if not runtime or NOTEBOOK_RUNTIMES.search(runtime.lower()):
        return UIType.NOTEBOOK
    return UIType.CLI


def _normalise(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def _string(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    """A codemeta value that may be one string, a comma-separated string or a list of strings."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [item.strip() for item in value if isinstance(item, str) and item.strip()]
    return []


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.casefold(), value)
    return list(seen.values())


def _identifier(value: Any) -> str:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return text if re.fullmatch(r"[0-9A-Za-z._-]{1,64}", text) else ""


def _http_url(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url) or len(url) > 500:
        return ""
    return url.rstrip("/")


def _repository(code_repository: Any, related: Any) -> tuple[str, str]:
    """The repository URL and, when Zenodo's GitHub/GitLab link names one, the release's ref."""
    candidates = code_repository if isinstance(code_repository, list) else [code_repository]
    repository = next((url for url in map(_http_url, candidates) if url), "")
    for item in related if isinstance(related, list) else []:
        if not isinstance(item, dict) or item.get("relation") != "isSupplementTo":
            continue
        match = GIT_TREE.match(_http_url(item.get("identifier")) + "/")
        if match and (not repository or repository.removesuffix(".git") == match[1]):
            return match[1], plain_text(match[2], MAX_SHORT)
    return repository, ""


def _description(html: Any, codemeta_description: Any) -> str:
    text = description_text(html) if isinstance(html, str) else ""
    return text or plain_text(_string(codemeta_description), 20_000)


def _authors(codemeta_authors: Any, creators: Any) -> tuple[str, ...]:
    people = codemeta_authors if isinstance(codemeta_authors, list) else [codemeta_authors]
    names = [_person(p) for p in people]
    if not any(names) and isinstance(creators, list):
        # Zenodo's creators are "Family, Given".
        names = [_given_family(c["name"]) for c in creators if isinstance(c, dict) and isinstance(c.get("name"), str)]
    return tuple(plain_text(n, MAX_SHORT) for n in _unique(n for n in names if n.strip())[:MAX_ITEMS])


def _given_family(zenodo_name: str) -> str:
    return " ".join(reversed([part.strip() for part in zenodo_name.split(",", 1)]))


def _person(person: Any) -> str:
    if isinstance(person, str):
        return person.strip()
    if not isinstance(person, dict):
        return ""
    given_family = f"{_string(person.get('givenName'))} {_string(person.get('familyName'))}".strip()
    return given_family or _string(person.get("name"))


def _licence(codemeta_license: Any, zenodo_license: Any) -> str:
    value = codemeta_license[0] if isinstance(codemeta_license, list) and codemeta_license else codemeta_license
    if isinstance(value, dict):
        value = value.get("identifier") or value.get("name") or value.get("url")
    licence = _string(value)
    if licence.startswith(("http://", "https://")):
        # https://spdx.org/licenses/MIT(.html) names the licence MIT
        licence = urlsplit(licence).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
    if not licence and isinstance(zenodo_license, dict):
        licence = _string(zenodo_license.get("id"))
    return plain_text(licence, MAX_SHORT)


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
