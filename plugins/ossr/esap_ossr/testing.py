"""A local Zenodo REST API server: the OSSR community as eossr and the OSSR plugin read it.

Zenodo cannot run here, so this server follows, for the calls that reading a community makes:

- Zenodo's REST API documentation, "Records": list (``GET /api/records`` with ``q``, ``sort``,
  ``page``, ``size``, ``all_versions``, ``communities``, ``type``) and retrieve
  (``GET /api/records/:id``), https://developers.zenodo.org/#records; at most 25 hits per page
  without an access token and ``page * size`` at most 10,000, errors as ``{"status", "message"}``.
- The record serialisation Zenodo (InvenioRDM, since October 2023) answers on that API: ``id``,
  ``conceptrecid``, ``doi``, ``conceptdoi``, ``metadata`` (``title``, ``doi``, ``description`` in HTML,
  ``creators`` as "Family, Given", ``keywords``, ``version``, ``license.id``, ``resource_type``,
  ``communities``, ``related_identifiers``, ``relations.version``), ``links``, ``files`` (``key``,
  ``size``, ``checksum``, ``links.self`` ending in ``/content``), ``created``, ``updated``, ``revision``;
  a search answers ``{"hits": {"hits", "total"}, "aggregations", "links", "sortBy"}``.
- eossr 2.3 (``eossr/api/zenodo/zenodo.py``, ``eossr/api/ossr.py``, ``eossr/utils.py``): its query
  parameters (repeated ``type`` values, lower-cased), ``aggregations.access_status.buckets[0].doc_count``
  (its paging reads the total there), ``codemeta.json`` found by file name in ``links.self`` or inside a
  zip archive read with HTTP range requests (remotezip).
- RFC 9110 section 14 for file downloads: single byte ranges and suffix ranges answer 206 with
  ``Content-Range``, an unsatisfiable range 416.

``q`` supports a subset of Zenodo's query syntax: words and quoted phrases (all must match the
title, description or keywords), ``field:value`` for ``title``, ``description``, ``keywords``,
``doi``, ``conceptrecid``, ``recid`` and ``id``, and ``updated:[from TO to]`` / ``created:[...]``
with ``*`` for an open end.

The records come from ``tests/ossr_records.json`` in this plugin's folder: OSSR-like entries (notebooks,
desktop and command-line tools with codemeta.json files) and the awkward ones a harvester must
survive (broken or missing codemeta, codemeta only inside a zip, a slow download, HTML and
``<script>`` in the metadata, a huge description, records outside the community or of another type).
The ``zenodo_server`` fixture yields a :class:`ZenodoServer` whose methods change the records, make
the search answer an HTML error page and report the most concurrent downloads seen.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import re
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest

RECORDS_FILE = Path(__file__).resolve().parents[1] / "tests" / "ossr_records.json"
COMMUNITY = "escape2020"
MAX_ANONYMOUS_PAGE_SIZE = 25
MAX_RESULT_WINDOW = 10_000
HUGE_DESCRIPTION_PARAGRAPHS = 12_000  # about 1.2 MB of HTML
SORT_OPTIONS = ("bestmatch", "mostrecent", "-mostrecent", "newest", "oldest", "updated-desc", "updated-asc")


@dataclass
class StoredFile:
    content: bytes
    slow: bool = False


class ZenodoServer:
    """A running fake Zenodo and the controls a test uses between two harvests."""

    community = COMMUNITY

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set to end the slow downloads early
        self._in_flight_downloads = 0
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.zenodo = self
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.reset()

    # --- controls -------------------------------------------------------------------

    def reset(self) -> None:
        """Restore the initial records, forget the requests seen and stop failing."""
        entries = json.loads(RECORDS_FILE.read_text(encoding="utf-8"))
        with self._lock:
            self._entries = {entry["id"]: entry for entry in entries}
            self._files = {entry["id"]: _build_files(entry) for entry in entries}
            self._search_error: tuple[int, int, str] | None = None
            self.max_concurrent_downloads = 0
            self.slow_seconds = 5.0  # the slow record's codemeta.json takes this long
            self.download_delay = 0.05  # each file download holds its slot this long, so overlaps show
            # A slow download left over from an earlier test must not linger into the next one.
            self._wake.set()
            self._wake = threading.Event()
            self.requests: list[str] = []

    def entry(self, record_id: int) -> dict[str, Any]:
        """A copy of a record's source entry (the shape of ``ossr_records.json``)."""
        with self._lock:
            return copy.deepcopy(self._entries[record_id])

    def record(self, record_id: int) -> dict[str, Any]:
        """The record as the API serialises it."""
        with self._lock:
            return _serialise(self._entries[record_id], self._files[record_id], self.base_url)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._entries.values()))

    def update_record(self, record_id: int, *, codemeta: dict | str | None = None, **metadata: Any) -> None:
        """Change a record as an edit on Zenodo does: new metadata, ``updated`` now, next revision.

        ``metadata`` replaces source entry keys (``title``, ``description``, ``keywords``, ...);
        ``codemeta`` replaces its codemeta.json (a dict, or a string for broken content).
        """
        with self._lock:
            entry = self._entries[record_id]
            entry.update(metadata)
            if codemeta is not None:
                spec = {"key": "codemeta.json"}
                spec.update({"json": codemeta} if isinstance(codemeta, dict) else {"text": codemeta})
                entry["files"] = [f for f in entry.get("files", []) if f["key"] != "codemeta.json"] + [spec]
            entry["updated"] = _now()
            entry["revision"] = entry.get("revision", 1) + 1
            self._files[record_id] = _build_files(entry)

    def add_record(self, entry: dict[str, Any]) -> None:
        """Publish a new record (the shape of ``ossr_records.json``; ``updated`` defaults to now)."""
        entry = {"created": _now(), "updated": _now(), **copy.deepcopy(entry)}
        with self._lock:
            self._entries[entry["id"]] = entry
            self._files[entry["id"]] = _build_files(entry)

    def delete_record(self, record_id: int) -> None:
        """Delete a record: it leaves the search and its page answers 410 Gone."""
        with self._lock:
            self._entries[record_id]["deleted"] = True

    @contextlib.contextmanager
    def search_fails(self, status: int = 502, from_page: int = 1, message: str = "") -> Iterator[None]:
        """Within the block, searches for ``from_page`` and later fail.

        They answer an HTML error page (as the proxy in front of Zenodo does), or with ``message``
        Zenodo's JSON error ``{"status", "message"}``.
        """
        with self._lock:
            self._search_error = (status, from_page, message)
        try:
            yield
        finally:
            with self._lock:
                self._search_error = None

    def reset_counters(self) -> None:
        with self._lock:
            self.max_concurrent_downloads = 0
            self.requests = []

    def downloads(self) -> list[str]:
        """Paths of the file downloads seen since the last reset."""
        with self._lock:
            return [path for path in self.requests if path.endswith("/content")]

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._httpd.serve_forever, name="zenodo", daemon=True).start()

    def stop(self) -> None:
        self._wake.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- what the handler asks ------------------------------------------------------

    def _log(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def _search(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        with self._lock:
            error = self._search_error
            entries = list(self._entries.values())
            files = dict(self._files)
        query = _SearchQuery.parse(params)
        if isinstance(query, str):
            return 400, {"status": 400, "message": query}
        if error and query.page >= error[1]:
            return error[0], {"status": error[0], "message": error[2]} if error[2] else None
        hits = sorted((e for e in entries if query.matches(e)), key=query.sort_key)
        window = hits[(query.page - 1) * query.size : query.page * query.size]
        return 200, {
            "hits": {
                "hits": [_serialise(e, files[e["id"]], self.base_url) for e in window],
                "total": len(hits),
            },
            "aggregations": {
                "access_status": {
                    "buckets": [{"key": "open", "doc_count": len(hits), "label": "Open"}] if hits else [],
                    "label": "Access status",
                },
            },
            "links": _page_links(self.base_url, params, query.page, query.size, len(hits)),
            "sortBy": query.sort,
        }

    def _get_record(self, record_id: int) -> tuple[int, Any]:
        with self._lock:
            entry = self._entries.get(record_id)
            if entry is None:
                return 404, {"status": 404, "message": "The persistent identifier does not exist."}
            if entry.get("deleted"):
                return 410, {"status": 410, "message": "The record has been deleted."}
            return 200, _serialise(entry, self._files[record_id], self.base_url)

    def _get_file(self, record_id: int, key: str) -> StoredFile | None:
        with self._lock:
            entry = self._entries.get(record_id)
            if entry is None or entry.get("deleted"):
                return None
            return self._files[record_id].get(key)

    def _hold_download_slot(self) -> None:
        # Counted while the handler holds the download and released before the answer is sent: the
        # client cannot start its next download before receiving this one, so the maximum seen here
        # never exceeds the number of downloads the client really had in flight.
        with self._lock:
            self._in_flight_downloads += 1
            self.max_concurrent_downloads = max(self.max_concurrent_downloads, self._in_flight_downloads)
        try:
            time.sleep(self.download_delay)
        finally:
            with self._lock:
                self._in_flight_downloads -= 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    zenodo: ZenodoServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up early on purpose (a range reader leaving a stream, a timed-out download).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    @property
    def zenodo(self) -> ZenodoServer:
        return self.server.zenodo  # type: ignore[attr-defined]  # the server is always an _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; ``ZenodoServer.requests`` records what was asked."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.zenodo._log(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        # nginx in front of Zenodo merges slashes, and eossr asks for "<api>//records"
        path = re.sub("/+", "/", url.path).rstrip("/")
        if path == "/api/records":
            status, body = self.zenodo._search(params)
            if body is None:
                self._send_html_error(status)
            else:
                self._send_json(status, body)
        elif match := re.fullmatch(r"/api/records/(\d+)", path):
            self._send_json(*self.zenodo._get_record(int(match[1])))
        elif match := re.fullmatch(r"/api/records/(\d+)/files/(.+)/content", path):
            self._send_file(int(match[1]), unquote(match[2]))
        else:
            self._send_json(404, {"status": 404, "message": "The requested URL was not found on the server."})

    def _send_file(self, record_id: int, key: str) -> None:
        stored = self.zenodo._get_file(record_id, key)
        if stored is None:
            self._send_json(404, {"status": 404, "message": "File not found."})
            return
        if stored.slow and self.zenodo._wake.wait(self.zenodo.slow_seconds):
            self.close_connection = True  # woken by reset() or stop(): the client is long gone
            return
        self.zenodo._hold_download_slot()
        content = stored.content
        byte_range = _parse_range(self.headers.get("Range"), len(content))
        if byte_range == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(content)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers = 200, {}
        if byte_range is not None:
            start, end = byte_range
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            status, content = 206, content[start : end + 1]
        headers["Accept-Ranges"] = "bytes"
        self._send(status, content, "application/octet-stream", headers)

    def _send_json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send_html_error(self, status: int) -> None:
        reason = f"{status} {HTTPStatus(status).phrase}"
        page = f"<!DOCTYPE html><html><head><title>{reason}</title></head><body><center><h1>{reason}</h1>"
        page += "</center><hr><center>nginx</center></body></html>"
        self._send(status, page.encode(), "text/html")

    def _send(self, status: int, content: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)


@dataclass
class _SearchQuery:
    terms: list[tuple[str | None, str]]
    page: int
    size: int
    sort: str
    communities: set[str]
    types: set[str]
    all_versions: bool

    @classmethod
    def parse(cls, params: dict[str, list[str]]) -> _SearchQuery | str:
        """The query, or the message of a 400 answer."""

        def values(name: str) -> set[str]:
            return {v.strip().lower() for value in params.get(name, []) for v in value.split(",") if v.strip()}

        try:
            page = int(params.get("page", ["1"])[0])
            size = int(params.get("size", ["10"])[0])
        except ValueError:
            return "page and size must be integers."
        if page < 1 or size < 1:
            return "page and size must be positive."
        if size > MAX_ANONYMOUS_PAGE_SIZE and not params.get("access_token", [""])[0]:
            return f"Page size cannot be greater than {MAX_ANONYMOUS_PAGE_SIZE} without an access token."
        if page * size > MAX_RESULT_WINDOW:
            return f"Only the first {MAX_RESULT_WINDOW} results can be reached by paging."
        q = params.get("q", [""])[0]
        sort = params.get("sort", ["bestmatch" if q.strip() else "mostrecent"])[0]
        if sort not in SORT_OPTIONS:
            return f"Invalid sort option {sort!r}."
        all_versions = params.get("all_versions", ["false"])[0].lower() in ("1", "true", "yes")
        terms = [(m[1].lower() if m[1] else None, m[2].strip('"')) for m in _TERM.finditer(q)]
        return cls(terms, page, size, sort, values("communities"), values("type"), all_versions)

    def matches(self, entry: dict[str, Any]) -> bool:
        if entry.get("deleted") or (not self.all_versions and not entry.get("latest", True)):
            return False
        if self.communities and not self.communities & set(entry.get("communities", [COMMUNITY])):
            return False
        if self.types and entry.get("type", "software") not in self.types:
            return False
        return all(_term_matches(entry, field, value) for field, value in self.terms)

    def sort_key(self, entry: dict[str, Any]) -> Any:
        if self.sort in ("-mostrecent", "oldest"):
            return entry["created"]
        if self.sort == "updated-desc":
            return _descending(entry["updated"])
        if self.sort == "updated-asc":
            return entry["updated"]
        if self.sort == "bestmatch" and self.terms:
            relevance = sum(value.lower() in _text(entry) for _, value in self.terms)
            return (-relevance, _descending(entry["created"]))
        return _descending(entry["created"])


_TERM = re.compile(r'(?:(\w+):)?(\[[^\]]*\]|"[^"]*"|\S+)')


def _term_matches(entry: dict[str, Any], field: str | None, value: str) -> bool:
    if field in ("updated", "created"):
        match = re.fullmatch(r"\[(\S+) TO (\S+)\]", value)
        if not match:
            return entry[field].startswith(value)
        low, high = match[1], match[2]
        stamp = _parse_time(entry[field])
        return (low == "*" or stamp >= _parse_time(low)) and (high == "*" or stamp <= _parse_time(high))
    needle = value.lower()
    if field in ("recid", "id"):
        return str(entry["id"]) == value
    if field == "conceptrecid":
        return str(entry["conceptrecid"]) == value
    if field == "doi":
        return _doi(entry["id"]).lower() == needle
    if field == "keywords":
        return any(needle == k.lower() for k in entry.get("keywords", []))
    if field in ("title", "description"):
        return needle in entry.get(field, "").lower()
    return needle in _text(entry)


def _text(entry: dict[str, Any]) -> str:
    return " ".join([entry["title"], entry.get("description", ""), *entry.get("keywords", [])]).lower()


def _parse_time(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _descending(stamp: str) -> float:
    return -_parse_time(stamp).timestamp()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _doi(record_id: int | str) -> str:
    return f"10.5281/zenodo.{record_id}"


def _page_links(base_url: str, params: dict[str, list[str]], page: int, size: int, total: int) -> dict:
    def link(number: int) -> str:
        query = {
            **{k: v for k, v in params.items() if k not in ("page", "size")},
            "page": [number],
            "size": [size],
        }
        return f"{base_url}/api/records?{urlencode(query, doseq=True)}"

    links = {"self": link(page)}
    if page > 1:
        links["prev"] = link(page - 1)
    if page * size < total:
        links["next"] = link(page + 1)
    return links


def _parse_range(header: str | None, length: int) -> tuple[int, int] | str | None:
    """The inclusive byte range a ``Range`` header asks, ``None`` for the whole file."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not match or match[1] == match[2] == "":
        return None  # absent or not a single range we know: RFC 9110 lets us answer the whole file
    if match[1] == "":
        suffix = int(match[2])
        return (max(length - suffix, 0), length - 1) if suffix and length else "unsatisfiable"
    start = int(match[1])
    end = min(int(match[2]), length - 1) if match[2] else length - 1
    return (start, end) if start < length and start <= end else "unsatisfiable"


def _build_files(entry: dict[str, Any]) -> dict[str, StoredFile]:
    files = {}
    for spec in entry.get("files", []):
        if "json" in spec:
            content = json.dumps(spec["json"], indent=2, ensure_ascii=False).encode()
        elif "zip" in spec:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, member in spec["zip"].items():
                    archive.writestr(name, member if isinstance(member, str) else json.dumps(member, indent=2))
            content = buffer.getvalue()
        else:
            content = spec["text"].encode()
        files[spec["key"]] = StoredFile(content, slow=bool(entry.get("slow")) and spec["key"] == "codemeta.json")
    return files


def _description(entry: dict[str, Any]) -> str:
    if entry.get("huge_description"):
        paragraph = "<p>The tracer follows each Cherenkov photon through the mirrors and the camera. </p>"
        return paragraph * HUGE_DESCRIPTION_PARAGRAPHS
    return entry.get("description", "")


def _serialise(entry: dict[str, Any], files: dict[str, StoredFile], base_url: str) -> dict[str, Any]:
    """A record as Zenodo's ``/api/records`` answers it."""
    record_id, concept_id = entry["id"], entry["conceptrecid"]
    api = f"{base_url}/api/records/{record_id}"
    metadata = {
        "title": entry["title"],
        "doi": _doi(record_id),
        "publication_date": entry["created"][:10],
        "description": _description(entry),
        "access_right": "open",
        "creators": [{"name": name, "affiliation": affiliation} for name, affiliation in entry["creators"]],
        "keywords": entry.get("keywords", []),
        "version": entry.get("version", ""),
        "language": "eng",
        "resource_type": {
            "title": entry.get("type", "software").title(),
            "type": entry.get("type", "software"),
        },
        "license": {"id": entry["license"]},
        "communities": [{"id": c} for c in entry.get("communities", [COMMUNITY])],
        "relations": {
            "version": [
                {
                    "index": 0,
                    "is_last": entry.get("latest", True),
                    "parent": {"pid_type": "recid", "pid_value": str(concept_id)},
                }
            ]
        },
    }
    if entry.get("related"):
        metadata["related_identifiers"] = entry["related"]
    return {
        "created": entry["created"],
        "modified": entry["updated"],
        "updated": entry["updated"],
        "id": record_id,
        "recid": str(record_id),
        "conceptrecid": str(concept_id),
        "doi": _doi(record_id),
        "conceptdoi": _doi(concept_id),
        "doi_url": f"https://doi.org/{_doi(record_id)}",
        "title": entry["title"],
        "metadata": metadata,
        "links": {
            "self": api,
            "html": f"{base_url}/records/{record_id}",
            "doi": f"https://doi.org/{_doi(record_id)}",
            "parent_doi": f"https://doi.org/{_doi(concept_id)}",
            "files": f"{api}/files",
            "latest": f"{base_url}/api/records/{record_id}/versions/latest",
            "versions": f"{api}/versions",
        },
        "files": [
            {
                "id": hashlib.md5(f"{record_id}/{key}".encode()).hexdigest(),
                "key": key,
                "size": len(stored.content),
                "checksum": f"md5:{hashlib.md5(stored.content).hexdigest()}",
                "links": {"self": f"{api}/files/{quote(key)}/content"},
            }
            for key, stored in files.items()
        ],
        "revision": entry.get("revision", 1),
        "status": "published",
        "state": "done",
        "submitted": True,
    }


def _wait_until_ready(base_url: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/api/records?size=1", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@pytest.fixture(scope="session")
def zenodo_server() -> Iterator[ZenodoServer]:
    """A fake Zenodo on 127.0.0.1 serving the OSSR records; tests call ``reset()`` before changing it."""
    server = ZenodoServer()
    server.start()
    _wait_until_ready(server.base_url)
    try:
        yield server
    finally:
        server.stop()
