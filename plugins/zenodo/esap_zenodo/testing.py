"""A local Zenodo deposit API on 127.0.0.1 for tests: the fixture ``zenodo_deposit_api``.

No Zenodo runs here, so this server follows Zenodo's published REST API document,
developers.zenodo.org, as its source repository (github.com/zenodo/developers.zenodo.org,
commit c00999d of 2026-04-10) has it: ``source/includes/overview/_api-basics.md``
(authentication by ``Authorization: Bearer`` or ``?access_token=``; JSON bodies, 415 for
another content type; the status codes; 400-series errors as ``{"message", "status"}``
with an optional ``errors`` list of ``{"field", "message"}``), ``_quickstart.md`` (the
deposition created by ``POST /api/deposit/depositions`` with ``links.bucket``, the file
streamed by ``PUT <bucket>/<filename>`` and its answer with ``key``, ``size`` and
``checksum: md5:...``), ``resources/deposit/_representation.md`` (the deposition's
fields and states, the metadata and its vocabularies, ``prereserve_doi``),
``resources/deposit-actions/`` (publish answers 202; newversion answers 201 with the
*original* deposition, whose ``links.latest_draft`` is the new draft, only from the
latest version, and calling it again while that draft is unpublished has no effect;
edit; discard), ``resources/deposit-files/`` (list and delete a draft's files) and
``rate-limit/_root.md`` (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``).

The quirks modelled, beyond the happy path:

- validation errors name fields as Zenodo does (``metadata.creators.0.name``); a PUT
  of metadata needs its required fields (``Missing data for required field.``), a
  create does not; publishing needs a file (``Minimum one file must be provided.``);
- a published deposition cannot be edited without the edit action, its files never
  (400 and 403), and cannot be deleted (403, as the status-code table says);
- a bucket PUT is read in chunks straight to disk with its MD5 computed on the way, so
  a large file never sits in memory; one without a ``Content-Length`` is refused;
- with ``rate_limit`` set, the requests after that many in ``rate_window`` seconds get
  429 with ``Retry-After``, as Zenodo's limiter answers;
- a new version's draft lists its inherited files under the ids the original has;
- DOIs are ``10.5281/zenodo.<id>`` (``doi_prefix``), records and versions share a
  ``conceptrecid`` with its own concept DOI;
- Zenodo takes a doubled slash in a path (eossr asks ``/api//deposit/...``).

Not modelled: the old multipart file API (``POST .../files``), search and its
pagination, communities, OAuth, and InvenioRDM's ``/api/records`` drafts API; a
published record is served at ``GET /api/records/<id>`` with its files so tests can
read back what was published.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

CHUNK = 1 << 16
UPLOAD_TYPES = (
    "publication",
    "poster",
    "presentation",
    "dataset",
    "image",
    "video",
    "software",
    "lesson",
    "physicalobject",
    "other",
)
ACCESS_RIGHTS = ("open", "embargoed", "restricted", "closed")
RELATIONS = (
    "isCitedBy",
    "cites",
    "isSupplementTo",
    "isSupplementedBy",
    "isContinuedBy",
    "continues",
    "isDescribedBy",
    "describes",
    "hasMetadata",
    "isMetadataFor",
    "isNewVersionOf",
    "isPreviousVersionOf",
    "isPartOf",
    "hasPart",
    "isReferencedBy",
    "references",
    "isDocumentedBy",
    "documents",
    "isCompiledBy",
    "compiles",
    "isVariantFormOf",
    "isOriginalFormof",
    "isIdenticalTo",
    "isAlternateIdentifier",
    "isReviewedBy",
    "reviews",
    "isDerivedFrom",
    "isSourceOf",
    "requires",
    "isRequiredBy",
    "isObsoletedBy",
    "obsoletes",
)
# Most of the schemes Zenodo detects in a related identifier (DOI, Handle, ARK, URN, URL, arXiv, PubMed, ISSN,
# ISBN); anything it cannot detect, an IVOA identifier or a Rucio DID say, it refuses.
PERSISTENT_IDENTIFIER = re.compile(
    r"^(10\.\d{4,9}/\S+|https?://\S+|urn:\S+|ark:/\S+|hdl:\S+|arxiv:\S+|pmid:\d+|PMC\d+|\d{4}-\d{3}[\dX]|97[89][\d-]{10,14})$",
    re.IGNORECASE,
)
TEXT_FIELDS = ("title", "description", "notes", "version", "language", "license", "publication_date", "doi")
LIST_FIELDS = ("keywords", "creators", "contributors", "related_identifiers", "communities", "grants", "subjects")
KNOWN_FIELDS = (*TEXT_FIELDS, *LIST_FIELDS, "upload_type", "access_right", "prereserve_doi", "embargo_date")
REQUIRED = ("upload_type", "title", "creators", "description")


@dataclass
class StoredFile:
    id: str
    key: str
    size: int
    checksum: str  # md5 hex
    path: Path


@dataclass
class Deposition:
    id: int
    conceptrecid: int
    owner: int  # the user whose token made it
    bucket: str
    created: str
    metadata: dict[str, Any] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    state: str = "unsubmitted"  # unsubmitted, inprogress (editing a published one), done
    submitted: bool = False
    latest_draft: int | None = None  # the unpublished new version, if one was asked for
    modified: str = ""


class ZenodoError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        self.status, self.message, self.errors = status, message, errors


class LocalZenodo(ThreadingHTTPServer):
    """The server and its state; tests read :attr:`depositions` and steer it with the attributes below."""

    daemon_threads = True

    def __init__(self, root: Path, tokens: dict[str, int]):
        super().__init__(("127.0.0.1", 0), ZenodoHandler)
        self.root = root
        self.tokens = tokens  # token → user id
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.doi_prefix = "10.5281"
        self.lock = threading.Lock()
        self.next_id = 1000
        self.depositions: dict[int, Deposition] = {}
        self.buckets: dict[str, int] = {}
        self.rate_limit: int | None = None  # requests per window, None for no limit
        self.rate_window = 60.0
        self.requests: dict[int, list[float]] = {}
        self.largest_read = 0  # the largest single read of a body: stays at CHUNK however large the file

    def reset(self) -> None:
        with self.lock:
            self.rate_limit, self.rate_window, self.requests = None, 60.0, {}

    def allocate(self) -> int:
        self.next_id += 1
        return self.next_id

    def doi(self, record_id: int) -> str:
        return f"{self.doi_prefix}/zenodo.{record_id}"

    def published(self, record_id: int) -> Deposition:
        """A test's view of what was published as ``record_id``."""
        deposition = self.depositions[int(record_id)]
        assert deposition.submitted, f"deposition {record_id} is not published"
        return deposition

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ZenodoHandler(BaseHTTPRequestHandler):
    server: LocalZenodo
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing ---------------------------------------------------------------

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = re.sub(r"/{2,}", "/", parts.path)  # Zenodo takes /api//deposit as /api/deposit
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self._read, self.rate_headers = 0, {}  # one handler serves every request of a kept-alive connection
        try:
            owner = self._owner(query)
            self._count(owner)
            status, body = self._route(method, path, owner)
        except ZenodoError as error:
            status, body = error.status, {"message": error.message, "status": error.status}
            if error.errors:
                body["errors"] = error.errors
        self._drain()
        self._answer(status, body)

    def _owner(self, query: dict[str, str]) -> int:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else query.get("access_token", "")
        owner = self.server.tokens.get(token)
        if owner is None:
            raise ZenodoError(
                401,
                "The server could not verify that you are authorized to access the URL requested. You either "
                "supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to "
                "supply the credentials required.",
            )
        return owner

    def _count(self, owner: int) -> None:
        """Zenodo's limiter: headers on every answer, 429 with Retry-After past the limit."""
        server = self.server
        if server.rate_limit is None:
            return
        now = time.time()
        with server.lock:
            recent = [t for t in server.requests.get(owner, []) if t > now - server.rate_window]
            recent.append(now)
            server.requests[owner] = recent
        reset = recent[0] + server.rate_window
        remaining = max(server.rate_limit - len(recent), 0)
        self.rate_headers = {
            "X-RateLimit-Limit": str(server.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset)),
        }
        if len(recent) > server.rate_limit:
            self.rate_headers["Retry-After"] = str(max(int(reset - now) + 1, 1))
            raise ZenodoError(429, "Too many requests. Please try again later.")

    def _json_body(self, required: bool = False) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length and not required:
            return {}
        if self.headers.get_content_type() != "application/json":
            raise ZenodoError(415, "Unsupported media type: the request body must be application/json.")
        data, self._read = self.rfile.read(length), length
        try:
            body = json.loads(data or b"{}")
        except ValueError:
            raise ZenodoError(400, "The browser (or proxy) sent a request this server could not understand.") from None
        if not isinstance(body, dict):
            raise ZenodoError(400, "Validation error.", [{"message": "Invalid input type."}])
        return body

    def _drain(self) -> None:
        """Read what is left of a refused request's body, so the connection stays usable."""
        left = int(self.headers.get("Content-Length") or 0) - self._read
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)

    def _answer(self, status: int, body: Any) -> None:
        data = b"" if status == 204 else json.dumps(body).encode()
        self.send_response(status)
        for name, value in self.rate_headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- routes -----------------------------------------------------------------

    def _route(self, method: str, path: str, owner: int) -> tuple[int, Any]:
        path = path.rstrip("/") or "/"
        deposit = re.fullmatch(r"/api/deposit/depositions(?:/(\d+))?(?:/(files|actions)(?:/([^/]+))?)?", path)
        if deposit:
            number, kind, name = deposit.groups()
            if number is None:
                return self._depositions(method, owner)
            deposition = self._deposition(int(number), owner)
            if kind is None:
                return self._one(method, deposition)
            if kind == "files":
                return self._files(method, deposition, name)
            if method == "POST" and name:
                return self._action(deposition, name)
            raise ZenodoError(405, "The method is not allowed for the requested URL.")
        bucket = re.fullmatch(r"/api/files/([0-9a-f-]{36})/(.+)", path)
        if bucket:
            return self._object(method, bucket.group(1), unquote(bucket.group(2)), owner)
        record = re.fullmatch(r"/api/records/(\d+)", path)
        if record and method == "GET":
            return 200, self._record(self.server.published(int(record.group(1))))
        raise ZenodoError(404, "The requested URL was not found on the server.")

    def _deposition(self, number: int, owner: int) -> Deposition:
        deposition = self.server.depositions.get(number)
        if deposition is None or deposition.owner != owner:
            raise ZenodoError(404, "Deposition not found")
        return deposition

    def _depositions(self, method: str, owner: int) -> tuple[int, Any]:
        if method == "GET":
            mine = [d for d in self.server.depositions.values() if d.owner == owner]
            return 200, [self._representation(d) for d in sorted(mine, key=lambda d: -d.id)]
        if method != "POST":
            raise ZenodoError(405, "The method is not allowed for the requested URL.")
        metadata = self._json_body().get("metadata", {})
        _validate(metadata, required=False)
        with self.server.lock:
            conceptrecid, number = self.server.allocate(), self.server.allocate()
            deposition = self._new(number, conceptrecid, owner, metadata)
        return 201, self._representation(deposition)

    def _new(self, number: int, conceptrecid: int, owner: int, metadata: dict[str, Any]) -> Deposition:
        bucket = str(uuid.uuid4())
        created = _now()
        deposition = Deposition(number, conceptrecid, owner, bucket, created, dict(metadata), modified=created)
        deposition.metadata["prereserve_doi"] = {"doi": self.server.doi(number), "recid": number}
        self.server.depositions[number] = deposition
        self.server.buckets[bucket] = number
        return deposition

    def _one(self, method: str, deposition: Deposition) -> tuple[int, Any]:
        if method == "GET":
            return 200, self._representation(deposition)
        if method == "PUT":
            if deposition.state == "done":
                raise ZenodoError(400, "This deposition is published: use the edit action before changing it.")
            metadata = self._json_body(required=True).get("metadata")
            if not isinstance(metadata, dict):
                raise ZenodoError(400, "Validation error.", [{"field": "metadata", "message": "Missing data."}])
            _validate(metadata, required=True)
            metadata = {k: v for k, v in metadata.items() if k not in ("doi", "prereserve_doi")}
            deposition.metadata = {**metadata, "prereserve_doi": deposition.metadata["prereserve_doi"]}
            deposition.modified = _now()
            return 200, self._representation(deposition)
        if method == "DELETE":
            if deposition.submitted:
                raise ZenodoError(403, "You do not have permission to delete a published deposition.")
            self._forget(deposition)
            return 204, None
        raise ZenodoError(405, "The method is not allowed for the requested URL.")

    def _forget(self, deposition: Deposition) -> None:
        with self.server.lock:
            self.server.depositions.pop(deposition.id, None)
            self.server.buckets.pop(deposition.bucket, None)
            for other in self.server.depositions.values():
                if other.latest_draft == deposition.id:
                    other.latest_draft = None
        for stored in deposition.files.values():
            stored.path.unlink(missing_ok=True)

    def _files(self, method: str, deposition: Deposition, file_id: str | None) -> tuple[int, Any]:
        if method == "GET" and file_id is None:
            return 200, [self._file(deposition, f) for f in deposition.files.values()]
        if method == "DELETE" and file_id:
            if deposition.submitted:
                raise ZenodoError(403, "The files of a published deposition cannot be changed: make a new version.")
            for key, stored in list(deposition.files.items()):
                if stored.id == file_id:
                    del deposition.files[key]
                    stored.path.unlink(missing_ok=True)
                    return 204, None
            raise ZenodoError(404, "File not found")
        raise ZenodoError(405, "The method is not allowed for the requested URL.")

    def _object(self, method: str, bucket: str, key: str, owner: int) -> tuple[int, Any]:
        number = self.server.buckets.get(bucket)
        deposition = self._deposition(number, owner) if number is not None else None
        if deposition is None:
            raise ZenodoError(404, "Bucket does not exist.")
        if method == "GET":
            raise ZenodoError(405, "Read published files through the record's links.")
        if method != "PUT":
            raise ZenodoError(405, "The method is not allowed for the requested URL.")
        if deposition.submitted:
            raise ZenodoError(403, "The bucket is locked: a published deposition's files cannot be changed.")
        if self.headers.get("Content-Length") is None:
            raise ZenodoError(411, "A Content-Length header is required to upload a file.")
        stored = self._receive(key, int(self.headers["Content-Length"]))
        old = deposition.files.pop(key, None)
        if old is not None:
            old.path.unlink(missing_ok=True)
        deposition.files[key] = stored
        links = {"self": f"{self.server.url}/api/files/{bucket}/{quote(key)}"}
        return 201, {
            "key": key,
            "mimetype": "application/octet-stream",
            "checksum": f"md5:{stored.checksum}",
            "version_id": str(uuid.uuid4()),
            "size": stored.size,
            "created": _now(),
            "updated": _now(),
            "links": {**links, "version": links["self"] + f"?versionId={stored.id}"},
            "is_head": True,
            "delete_marker": False,
        }

    def _receive(self, key: str, length: int) -> StoredFile:
        """Stream the body to disk, computing its MD5: a file of any size passes through one chunk at a time."""
        digest = hashlib.md5()
        path = self.server.root / secrets.token_hex(16)
        left = length
        with path.open("wb") as out:
            while left:
                data = self.rfile.read(min(CHUNK, left))
                if not data:
                    path.unlink()
                    raise ZenodoError(400, "The upload ended before its Content-Length.")
                self.server.largest_read = max(self.server.largest_read, len(data))
                digest.update(data)
                out.write(data)
                left -= len(data)
                self._read += len(data)
        return StoredFile(str(uuid.uuid4()), key, length, digest.hexdigest(), path)

    def _action(self, deposition: Deposition, action: str) -> tuple[int, Any]:
        if action == "publish":
            return 202, self._representation(self._publish(deposition))
        if action == "newversion":
            return 201, self._representation(self._new_version(deposition))
        if action == "edit":
            if not deposition.submitted:
                raise ZenodoError(400, "Deposition state does not allow for editing: it is not published.")
            deposition.state = "inprogress"
            return 201, self._representation(deposition)
        if action == "discard":
            if deposition.state != "inprogress":
                raise ZenodoError(400, "Deposition state does not allow for discarding: it is not being edited.")
            deposition.state = "done"
            return 201, self._representation(deposition)
        raise ZenodoError(404, "The requested URL was not found on the server.")

    def _publish(self, deposition: Deposition) -> Deposition:
        if deposition.state == "done":
            raise ZenodoError(400, "This deposition is published already.")
        _validate(deposition.metadata, required=True)
        if not deposition.files:
            raise ZenodoError(400, "Validation error.", [{"message": "Minimum one file must be provided.", "code": 10}])
        metadata = deposition.metadata
        metadata.setdefault("publication_date", date.today().isoformat())
        metadata.setdefault("access_right", "open")
        if metadata["access_right"] in ("open", "embargoed"):
            metadata.setdefault("license", "cc-by-4.0")
        metadata["doi"] = self.server.doi(deposition.id)
        deposition.state, deposition.submitted, deposition.modified = "done", True, _now()
        with self.server.lock:
            for other in self.server.depositions.values():
                if other.latest_draft == deposition.id:
                    other.latest_draft = None
        return deposition

    def _new_version(self, deposition: Deposition) -> Deposition:
        if not deposition.submitted:
            raise ZenodoError(400, "A new version can only be made of a published deposition.")
        versions = [d for d in self.server.depositions.values() if d.conceptrecid == deposition.conceptrecid]
        latest = max((d for d in versions if d.submitted), key=lambda d: d.id)
        if latest.id != deposition.id:
            raise ZenodoError(400, f"Only the latest version ({latest.id}) can get a new version.")
        if deposition.latest_draft is None:
            with self.server.lock:
                number = self.server.allocate()
                metadata = {k: v for k, v in deposition.metadata.items() if k not in ("doi", "prereserve_doi")}
                draft = self._new(number, deposition.conceptrecid, deposition.owner, metadata)
            for key, stored in deposition.files.items():
                # A snapshot of the files, modifiable in the draft. Zenodo's file id names the stored file
                # instance, which the snapshot shares, so the draft's files keep the ids the original lists
                # (eossr deletes a new version's files by the ids in newversion's answer, the original's).
                copy = self.server.root / secrets.token_hex(16)
                shutil.copyfile(stored.path, copy)
                draft.files[key] = StoredFile(stored.id, key, stored.size, stored.checksum, copy)
            deposition.latest_draft = number
        return deposition

    # --- representations --------------------------------------------------------

    def _links(self, deposition: Deposition) -> dict[str, str]:
        base, api = self.server.url, f"{self.server.url}/api/deposit/depositions/{deposition.id}"
        draft = deposition.latest_draft or deposition.id
        links = {
            "self": api,
            "html": f"{base}/deposit/{deposition.id}",
            "bucket": f"{base}/api/files/{deposition.bucket}",
            "files": f"{api}/files",
            "publish": f"{api}/actions/publish",
            "edit": f"{api}/actions/edit",
            "discard": f"{api}/actions/discard",
            "newversion": f"{api}/actions/newversion",
            "latest_draft": f"{base}/api/deposit/depositions/{draft}",
            "latest_draft_html": f"{base}/deposit/{draft}",
        }
        if deposition.submitted:
            doi = self.server.doi(deposition.id)
            links |= {
                "record": f"{base}/api/records/{deposition.id}",
                "record_html": f"{base}/records/{deposition.id}",
                "doi": f"https://doi.org/{doi}",
                "latest": f"{base}/api/records/{deposition.id}/versions/latest",
            }
        return links

    def _file(self, deposition: Deposition, stored: StoredFile) -> dict[str, Any]:
        api = f"{self.server.url}/api/deposit/depositions/{deposition.id}/files/{stored.id}"
        download = f"{self.server.url}/api/files/{deposition.bucket}/{quote(stored.key)}"
        return {
            "id": stored.id,
            "filename": stored.key,
            "filesize": stored.size,
            "checksum": stored.checksum,
            "links": {"self": api, "download": download},
        }

    def _representation(self, deposition: Deposition) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": deposition.id,
            "conceptrecid": str(deposition.conceptrecid),
            "created": deposition.created,
            "modified": deposition.modified,
            "owner": deposition.owner,
            "record_id": deposition.id,
            "metadata": deposition.metadata,
            "files": [self._file(deposition, stored) for stored in deposition.files.values()],
            "links": self._links(deposition),
            "state": deposition.state,
            "submitted": deposition.submitted,
            "title": deposition.metadata.get("title", ""),
        }
        if deposition.submitted:
            doi = self.server.doi(deposition.id)
            body |= {
                "doi": doi,
                "doi_url": f"https://doi.org/{doi}",
                "record_url": f"{self.server.url}/records/{deposition.id}",
                "conceptdoi": self.server.doi(deposition.conceptrecid),
            }
        return body

    def _record(self, deposition: Deposition) -> dict[str, Any]:
        return {
            "id": deposition.id,
            "conceptrecid": str(deposition.conceptrecid),
            "doi": self.server.doi(deposition.id),
            "conceptdoi": self.server.doi(deposition.conceptrecid),
            "metadata": deposition.metadata,
            "files": [
                {"key": s.key, "size": s.size, "checksum": f"md5:{s.checksum}", "id": s.id}
                for s in deposition.files.values()
            ],
            "links": self._links(deposition),
        }


def _validate(metadata: Any, required: bool) -> None:
    """Zenodo's metadata checks, with its field paths and messages; ``required`` as for a PUT or a publish."""
    if not isinstance(metadata, dict):
        raise ZenodoError(400, "Validation error.", [{"field": "metadata", "message": "Invalid input type."}])
    errors: list[dict[str, str]] = []

    def problem(where: str, message: str) -> None:
        errors.append({"field": f"metadata.{where}", "message": message})

    for key, value in metadata.items():
        if key not in KNOWN_FIELDS:
            problem(key, "Unknown field name.")
        elif key in TEXT_FIELDS and not isinstance(value, str):
            problem(key, "Not a valid string.")
        elif key in LIST_FIELDS and not isinstance(value, list):
            problem(key, "Not a valid list.")
    if required:
        for key in REQUIRED:
            if metadata.get(key) in (None, "", []):
                problem(key, "Missing data for required field.")
    if "upload_type" in metadata and metadata["upload_type"] not in UPLOAD_TYPES:
        problem("upload_type", "Not a valid choice.")
    if "access_right" in metadata and metadata["access_right"] not in ACCESS_RIGHTS:
        problem("access_right", "Not a valid choice.")
    for index, creator in enumerate(metadata.get("creators") or []):
        if not isinstance(creator, dict) or not str(creator.get("name", "")).strip():
            problem(f"creators.{index}.name", "Name is required.")
    for index, related in enumerate(metadata.get("related_identifiers") or []):
        if not isinstance(related, dict) or not related.get("identifier"):
            problem(f"related_identifiers.{index}.identifier", "Missing data for required field.")
        elif not PERSISTENT_IDENTIFIER.match(str(related["identifier"])):
            problem(f"related_identifiers.{index}.identifier", "Not a valid persistent identifier.")
        elif related.get("relation") not in RELATIONS:
            problem(f"related_identifiers.{index}.relation", "Not a valid choice.")
    if isinstance(metadata.get("publication_date"), str):
        try:
            date.fromisoformat(metadata["publication_date"])
        except ValueError:
            problem("publication_date", "Not a valid date.")
    if errors:
        raise ZenodoError(400, "Validation error.", errors)


@dataclass(frozen=True)
class ZenodoTestServer:
    """What tests need: the base URL, a token the server knows, and the server itself."""

    url: str
    token: str  # user 1's
    other_token: str  # user 2's
    server: LocalZenodo


@pytest.fixture(scope="session")
def zenodo_deposit_api_session() -> Iterator[ZenodoTestServer]:
    root = Path(tempfile.mkdtemp(prefix="esap-zenodo-"))
    token, other = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    server = LocalZenodo(root, {token: 1, other: 2})
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="local-zenodo")
    thread.start()
    try:
        yield ZenodoTestServer(server.url, token, other, server)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def zenodo_deposit_api(zenodo_deposit_api_session: ZenodoTestServer) -> Iterator[ZenodoTestServer]:
    """The local Zenodo, with any rate limit a test set undone afterwards."""
    zenodo_deposit_api_session.server.reset()
    yield zenodo_deposit_api_session
    zenodo_deposit_api_session.server.reset()
