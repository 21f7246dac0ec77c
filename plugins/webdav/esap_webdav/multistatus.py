"""PROPFIND's request body and its 207 Multi-Status answer (RFC 4918 sections 9.1 and 14.16; RFC 4331 quota)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urljoin, urlsplit

from esap_core import StorageError

DAV = "{DAV:}"
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:getcontentlength/><D:getlastmodified/>"
    b"<D:quota-used-bytes/><D:quota-available-bytes/>"
    b"</D:prop></D:propfind>"
)
MAX_ANSWER = 64 * 1024 * 1024  # a listing larger than this is not a listing


@dataclass(frozen=True)
class Entry:
    """One ``response`` of a multistatus: its path (decoded, from the server's root) and what its props say."""

    path: str
    folder: bool
    size: int = 0
    modified: datetime | None = None
    used: int | None = None  # RFC 4331, on folders of servers that keep quotas
    available: int | None = None


def parse_multistatus(document: bytes, url: str) -> list[Entry]:
    """The entries of a PROPFIND answer, the requested resource first (servers list it first; we make sure)."""
    if len(document) > MAX_ANSWER:
        raise StorageError("The WebDAV server's listing is too large to read.")
    if b"<!DOCTYPE" in document[:1024].upper() or b"<!ENTITY" in document.upper():
        raise StorageError("The WebDAV server's listing declares entities, which ESAP does not read.")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as error:
        raise StorageError(f"The WebDAV server answered a listing that is not XML ({error}).") from None
    if root.tag != f"{DAV}multistatus":
        raise StorageError("The WebDAV server's answer to PROPFIND is not a multistatus.")
    requested = unquote(urlsplit(url).path).rstrip("/")
    entries = [_entry(response, url) for response in root.findall(f"{DAV}response")]
    entries = [entry for entry in entries if entry is not None]
    entries.sort(key=lambda entry: entry.path.rstrip("/") != requested)
    return entries


def _entry(response: ElementTree.Element, url: str) -> Entry | None:
    href = response.findtext(f"{DAV}href")
    if not href:
        return None
    path = unquote(urlsplit(urljoin(url, href.strip())).path)
    props: dict[str, ElementTree.Element] = {}
    for propstat in response.findall(f"{DAV}propstat"):
        if " 200 " not in f"{propstat.findtext(f'{DAV}status') or ''} ":
            continue  # props the server does not have come back 404 in a propstat of their own
        for prop in propstat.findall(f"{DAV}prop/*"):
            props[prop.tag] = prop
    kind = props.get(f"{DAV}resourcetype")
    folder = kind is not None and kind.find(f"{DAV}collection") is not None
    return Entry(
        path=path,
        folder=folder,
        size=_number(props.get(f"{DAV}getcontentlength")) or 0,
        modified=_date(props.get(f"{DAV}getlastmodified")),
        used=_number(props.get(f"{DAV}quota-used-bytes")),
        available=_number(props.get(f"{DAV}quota-available-bytes")),
    )


def _number(element: ElementTree.Element | None) -> int | None:
    text = (element.text or "").strip() if element is not None else ""
    return int(text) if text.isdigit() else None


def _date(element: ElementTree.Element | None) -> datetime | None:
    text = (element.text or "").strip() if element is not None else ""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
