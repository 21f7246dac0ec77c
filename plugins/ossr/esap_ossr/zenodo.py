"""Zenodo's REST API as the OSSR harvest reads it: the community search and each record's codemeta.json.

The requests are eossr's (``GET <zenodo>/api/records`` with ``q``, ``communities``, ``type``, ``size``,
``page``; codemeta.json picked as eossr picks it, or read from inside a zip archive with eossr's
range-request reader), made here with requests rather than through eossr's search functions: eossr
takes its Zenodo address from module globals, shared by every thread of the process, its
``Record.get_codemeta`` downloads with ``urlopen`` and no timeout (one slow record would hang the
harvest), its errors drop the status and the page Zenodo answered, and ``get_ossr_records`` shrinks
the size of its last page, so that page repeats records and others are never listed.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from html import unescape
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import requests

from esap_core import HarvestError, network_failure

__all__ = ["CodemetaError", "HarvestError", "ZenodoClient"]

MAX_CODEMETA_BYTES = 1_000_000
MAX_ZIP_ARCHIVES = 3  # archives searched for a codemeta.json, per record
MAX_RESULT_WINDOW = 10_000  # Zenodo answers no further than this many hits into a search


class CodemetaError(Exception):
    """A record's codemeta.json could not be read: the record is kept with Zenodo's metadata."""


class ZenodoClient:
    """Talks to one Zenodo; its methods may be called from several threads at once."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._origin = _origin(self.base_url)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _session(self) -> requests.Session:
        # requests does not promise that one Session is safe across threads: one per thread.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "esap-ossr (ESAP software harvester)"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    # --- the community search -----------------------------------------------------

    def search(self, community: str, types: tuple[str, ...], page_size: int) -> Iterator[list[Any]]:
        """Yield the community's records page by page; raise ESAP's :class:`HarvestError` on any failure."""
        page = 1
        while True:
            answer = self._search_page(community, types, page_size, page)
            hits, total = answer["hits"]["hits"], answer["hits"].get("total")
            yield hits
            if not hits or not isinstance(total, int) or page * page_size >= total:
                return
            if (page + 1) * page_size > MAX_RESULT_WINDOW:
                raise HarvestError(
                    f"the community {community!r} at {self.base_url} lists {total} records; Zenodo pages "
                    f"only through the first {MAX_RESULT_WINDOW}"
                )
            page += 1

    def _search_page(self, community: str, types: tuple[str, ...], size: int, page: int) -> dict:
        url = f"{self.base_url}/api/records"
        # Oldest first: a record published during the harvest lands on the last page instead of
        # shifting every page by one.
        params = {"q": "", "communities": community, "type": list(types), "size": size, "page": page}
        params["sort"] = "-mostrecent"
        where = f"the Zenodo search of community {community!r} at {self.base_url} (page {page})"
        try:
            response = self._session().get(url, params=params, timeout=self.timeout)
        except requests.Timeout:
            raise HarvestError(f"{where} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as error:
            raise HarvestError(*network_failure(where, error)) from None
        if response.status_code != 200:
            raise HarvestError(f"{where} answered HTTP {response.status_code}: {_error_text(response)}")
        try:
            answer = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "unknown type")
            raise HarvestError(f"{where} answered something that is not JSON ({kind})") from None
        hits = answer.get("hits") if isinstance(answer, dict) else None
        if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
            raise HarvestError(f"{where} answered JSON without the hits of a Zenodo search")
        return answer

    # --- codemeta.json ------------------------------------------------------------

    def codemeta(self, hit: Any) -> dict | None:
        """The record's codemeta.json, ``None`` if it has none; raise :class:`CodemetaError`."""
        files = hit.get("files") if isinstance(hit, dict) else None
        files = [f for f in files or [] if isinstance(f, dict) and isinstance(f.get("key"), str)]
        direct = [f for f in files if PurePosixPath(f["key"]).name == "codemeta.json"]
        if direct:
            # As eossr: with several, the one nearest the root.
            return self._download_json(self._link(min(direct, key=lambda f: len(f["key"]))))
        for archive in [f for f in files if f["key"].lower().endswith(".zip")][:MAX_ZIP_ARCHIVES]:
            codemeta = self._codemeta_in_zip(self._link(archive))
            if codemeta is not None:
                return codemeta
        return None

    def _link(self, file: dict) -> str:
        link = (file.get("links") or {}).get("self")
        if not isinstance(link, str) or _origin(link) != self._origin:
            # File links come from Zenodo; one pointing elsewhere is not followed.
            raise CodemetaError(f"the download link of {file['key']!r} does not point into {self.base_url}")
        return link

    def _download_json(self, url: str) -> dict:
        deadline = time.monotonic() + self.timeout
        try:
            with self._session().get(url, stream=True, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise CodemetaError(f"download answered HTTP {response.status_code}")
                content = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    content += chunk
                    if len(content) > MAX_CODEMETA_BYTES:
                        raise CodemetaError(f"larger than {MAX_CODEMETA_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise requests.Timeout()
        except requests.Timeout:
            raise CodemetaError(f"download took longer than {self.timeout:g} s") from None
        except requests.RequestException as error:
            raise CodemetaError(f"download failed: {error}") from None
        return _codemeta_object(bytes(content))

    def _codemeta_in_zip(self, url: str) -> dict | None:
        from eossr.utils import ZipUrl  # heavy: imported only when a record has nothing but a zip

        try:
            with ZipUrl(url, initial_buffer_size=64 * 1024, timeout=self.timeout) as archive:
                names = [n for n in archive.namelist() if PurePosixPath(n).name == "codemeta.json"]
                if not names:
                    return None
                info = archive.getinfo(min(names, key=len))
                if info.file_size > MAX_CODEMETA_BYTES:
                    raise CodemetaError(f"the one in the zip archive is larger than {MAX_CODEMETA_BYTES} bytes")
                content = archive.read(info)
        except CodemetaError:
            raise
        except (OSError, zipfile.BadZipFile, requests.RequestException, EOFError) as error:
            raise CodemetaError(f"the zip archive could not be read: {error}") from None
        except Exception as error:  # remotezip's own errors (range requests unsupported, ...)
            raise CodemetaError(f"the zip archive could not be read: {type(error).__name__}: {error}") from None
        return _codemeta_object(content)


def _codemeta_object(content: bytes) -> dict:
    try:
        codemeta = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CodemetaError(f"not JSON ({error})") from None
    if not isinstance(codemeta, dict):
        raise CodemetaError(f"a JSON {type(codemeta).__name__}, not an object")
    return codemeta


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _error_text(response: requests.Response) -> str:
    """A short readable account of an error answer: its JSON message or its HTML title."""
    reason = response.reason or "error"
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    if not isinstance(message, str):
        title = re.search(r"<title[^>]*>(.*?)</title>", response.text[:10_000], re.I | re.S)
        message = unescape(title[1]) if title else ""
    message = " ".join(message.split())[:200]
    return f"{reason} ({message})" if message and message != f"{response.status_code} {reason}" else reason
