"""What goes into the catalogue: a source's record or a user's entry as checked, bounded, plain column values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from esap_core.hookspecs import SoftwareRecord, UIType

UI_TYPES = tuple(ui.value for ui in UIType)
MAX_DESCRIPTION = 20_000
MAX_LIST_ITEMS = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class CatalogueError(ValueError):
    """A record or an entry that cannot go into the catalogue; the message says why."""


class _Text(HTMLParser):
    """HTML reduced to its text: no element, script, style or attribute survives."""

    BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr", "table"}
    HIDDEN = {"script", "style", "template", "iframe", "object", "noscript", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def plain_text(value: str, limit: int = MAX_DESCRIPTION) -> str:
    """A description as bounded plain text; HTML (from a source that sends it) loses its markup."""
    value = str(value or "")
    if re.search(r"<[a-zA-Z/!]", value):
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
        value = "\n\n".join(" ".join(block.split()) for block in re.split(r"\n\s*\n", value) if block.strip())
    value = _CONTROL.sub("", value).strip()
    return value if len(value) <= limit else value[: limit - 2].rstrip() + " …"


def one_line(value: Any, limit: int) -> str:
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())[:limit]


def http_url(value: Any) -> str:
    url = one_line(value, 1000)
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.hostname else ""


def strings(values: Iterable[Any] | str, limit: int = 200) -> list[str]:
    values = [values] if isinstance(values, str) else list(values or ())
    seen: dict[str, None] = {}
    for value in values[: MAX_LIST_ITEMS * 2]:
        cleaned = one_line(value, limit)
        if cleaned and cleaned.lower() not in {s.lower() for s in seen}:
            seen[cleaned] = None
    return list(seen)[:MAX_LIST_ITEMS]


def aware_time(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def external_id(value: Any) -> str:
    """A source's id for a record as the catalogue keeps it."""
    return one_line(value, 255)


def record_values(record: SoftwareRecord) -> dict[str, Any]:
    """A source's record as checked, bounded column values; raises :class:`CatalogueError`."""
    if not isinstance(record, SoftwareRecord):
        raise CatalogueError(f"a source yielded {type(record).__name__}, not a SoftwareRecord")
    identifier = external_id(record.external_id)
    name = one_line(record.name, 500)
    if not identifier or not name:
        raise CatalogueError("a software record needs an external id and a name")
    try:
        ui_type = UIType(str(record.ui_type).lower()).value
    except ValueError:
        raise CatalogueError(f"unknown UI type {str(record.ui_type)[:40]!r} (known: {', '.join(UI_TYPES)})") from None
    return {
        "external_id": identifier,
        "name": name,
        "description": plain_text(record.description),
        "repository_url": http_url(record.repository_url),
        "ref": one_line(record.ref, 255),
        "path": one_line(record.path, 1000).lstrip("/"),
        "version": one_line(record.version, 100),
        "doi": one_line(record.doi, 255),
        "authors": strings(record.authors),
        "keywords": strings(record.keywords, 100),
        "runtime_platform": one_line(record.runtime_platform, 255),
        "ui_type": ui_type,
        "licence": one_line(record.licence, 255),
        "updated": aware_time(record.updated),
    }
