"""The ``zenodo`` publisher: Zenodo's deposit API (developers.zenodo.org), every request through ESAP's guarded client.

A publication is: create a deposition (or, for a new version, ``actions/newversion`` on
the earlier record and its ``links.latest_draft``, whose inherited files are removed),
stream each file to ``<links.bucket>/<name>``, the launch's RO-Crate among them as
``ro-crate-metadata.json``, set the metadata, and ``actions/publish``. If any step fails
the draft is deleted, so nothing half-made stays on Zenodo. Only links on the configured
site are followed, so the user's token is never sent elsewhere.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import requests

from esap_core import GuardedSession, Publication, Published, Publisher, PublishError, Secret, Upload
from esap_zenodo.settings import ZenodoSettings

CRATE_NAME = "ro-crate-metadata.json"
CHUNK = 1 << 16
# What Zenodo detects as a persistent identifier in related_identifiers (its deposit metadata document);
# others (an IVOA identifier, a Rucio DID) go into the record's notes instead of being refused.
ZENODO_SCHEMES = ("doi", "url", "urn", "ark", "handle", "arxiv", "pmid", "pmcid", "issn", "isbn", "purl", "lsid")
DETECTABLE = re.compile(r"^(10\.\d{4,9}/\S+|https?://\S+|urn:\S+|ark:/\S+|hdl:\S+|arxiv:\S+)$", re.IGNORECASE)


class _Sized:
    """A stream with its length, so ``requests`` sends a Content-Length and streams the body (not chunked).

    ``requests`` measures a body by ``len()`` less ``tell()``, and sends it by ``read()``.
    """

    def __init__(self, stream: BinaryIO, size: int):
        self.stream, self.size, self.position = stream, size, 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(lambda: self.read(CHUNK), b"")

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.position += len(data)
        return data


class ZenodoPublisher(Publisher):
    name = "zenodo"
    personal_token_label = "Zenodo personal access token (scopes deposit:write and deposit:actions)"

    def __init__(self, settings: ZenodoSettings):
        self.settings = settings
        self.title = settings.title
        self.description = f"Publishes with a DOI on {settings.url}"

    def publish(self, publication: Publication, token: Secret, timeout: float) -> Published:
        uploads = _with_crate(publication)
        with GuardedSession(private_ok=True) as http:  # the site is the admin's choice, as a facility's URL
            call = _Caller(http, self.settings.url, token, timeout)
            draft = self._draft(call, publication.new_version_of)
            try:
                for upload in uploads:
                    with upload.open() as stream:
                        call(
                            "PUT",
                            f"{draft['links']['bucket']}/{quote(upload.name)}",
                            f"uploading {upload.name}",
                            data=_Sized(stream, upload.size) if upload.size else b"",
                            headers={"Content-Type": "application/octet-stream"},
                            timeout=max(timeout, self.settings.upload_timeout),
                        )
                call("PUT", draft["links"]["self"], "setting the metadata", json={"metadata": metadata(publication)})
                done = call("POST", draft["links"]["publish"], "publishing")
            except BaseException:
                call.quietly("DELETE", draft["links"]["self"])  # a draft never published leaves nothing behind
                raise
        record_id = str(done.get("record_id") or done["id"])
        url = done.get("links", {}).get("record_html") or f"{self.settings.url}/records/{record_id}"
        return Published(record_id=record_id, doi=str(done.get("doi", "")), url=url)

    def _draft(self, call: _Caller, earlier: str) -> dict[str, Any]:
        """A new deposition, or the draft of a new version of ``earlier`` emptied of the files it inherited."""
        if not earlier:
            return call("POST", f"{self.settings.url}/api/deposit/depositions", "creating the record", json={})
        if not earlier.isdigit():
            raise PublishError(f"{earlier!r} is not a Zenodo record number.")
        base = f"{self.settings.url}/api/deposit/depositions/{earlier}"
        original = call("POST", f"{base}/actions/newversion", f"making a new version of record {earlier}")
        draft = call("GET", original["links"]["latest_draft"], "reading the new version's draft")
        try:
            for inherited in draft.get("files", []):
                call("DELETE", f"{draft['links']['self']}/files/{inherited['id']}", "replacing the earlier files")
        except BaseException:
            call.quietly("DELETE", draft["links"]["self"])
            raise
        return draft


class _Caller:
    """One request to the site: its JSON answer, or a PublishError with Zenodo's own message."""

    def __init__(self, http: requests.Session, site: str, token: Secret, timeout: float):
        self.http, self.site, self.token, self.timeout = http, site, token, timeout

    def __call__(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        self._check_site(url)
        headers = {"Authorization": f"Bearer {self.token.reveal()}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", self.timeout)
        try:
            answer = self.http.request(method, url, headers=headers, **kwargs)
        except requests.RequestException as error:
            raise PublishError(f"Zenodo could not be reached while {what}: {error}") from None
        if answer.status_code >= 400:
            raise refusal(answer, what)
        return answer.json() if answer.content else {}

    def quietly(self, method: str, url: str) -> None:
        """Clean up after a failure; a failure of the cleaning is not the user's news."""
        with contextlib.suppress(PublishError):
            self(method, url, "cleaning up")

    def _check_site(self, url: str) -> None:
        ours, theirs = urlsplit(self.site), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise PublishError(f"Zenodo answered with a link to another site ({theirs.netloc}); ESAP stopped there.")


def refusal(answer: requests.Response, what: str) -> PublishError:
    """Zenodo's 4xx body (``message``, ``errors[]`` with ``field``) as a sentence a researcher can act on."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or answer.reason or "no reason given").strip().rstrip(".")
    details = [_detail(error) for error in body.get("errors") or [] if isinstance(error, dict)]
    text = f"Zenodo refused {what} (HTTP {answer.status_code}): {message}"
    if details:
        text += ": " + "; ".join(details)
    if answer.status_code == 401:
        text += ". Check the Zenodo token on your profile page."
    elif answer.status_code == 403:
        text += ". The token needs the deposit:write and deposit:actions scopes."
    elif answer.status_code == 429:
        wait = retry_after(answer)
        text += f". Zenodo limits how many requests come in a minute: try again in {wait:.0f} seconds."
        return PublishError(text, retry_after=wait)
    elif answer.status_code >= 500:
        text = f"Zenodo failed while {what} (HTTP {answer.status_code}); try again later."
    return PublishError(text)


def _detail(error: dict[str, Any]) -> str:
    field = str(error.get("field", "")).removeprefix("metadata.")
    message = str(error.get("message", "")).strip()
    if not field:
        return message
    parts = [
        f"{part} {int(index) + 1}" if index else part
        for part, index in re.findall(r"([^.]+?)(?:\.(\d+))?(?:\.|$)", field)
    ]
    return f"{', '.join(part.replace('_', ' ') for part in parts)}: {message}"


def retry_after(answer: requests.Response) -> float:
    """Seconds until the limit lifts: Retry-After (seconds or a date), else X-RateLimit-Reset, else a minute."""
    value = answer.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            pass
    reset = answer.headers.get("X-RateLimit-Reset", "").strip()
    if reset.isdigit():
        return max(float(reset) - time.time(), 0.0)
    return 60.0


def metadata(publication: Publication) -> dict[str, Any]:
    """The deposition metadata Zenodo's document describes, from what the researcher reviewed."""
    related, elsewhere = [], []
    for link in publication.related:
        identifier = link.identifier.strip()
        if (link.scheme in ZENODO_SCHEMES or not link.scheme) and DETECTABLE.match(identifier):
            related.append({"identifier": identifier, "relation": link.relation})
        else:
            elsewhere.append(link)
    body: dict[str, Any] = {
        "upload_type": publication.upload_type,
        "title": publication.title,
        "description": _html(publication.description),
        "creators": [_creator(creator) for creator in publication.creators],
        "access_right": "open",
    }
    if publication.keywords:
        body["keywords"] = list(publication.keywords)
    if publication.licence:
        body["license"] = publication.licence
    if related:
        body["related_identifiers"] = related
    if elsewhere:
        lines = "".join(
            f"<li>{html.escape(link.relation)}: {html.escape(link.identifier)} ({html.escape(link.scheme)})</li>"
            for link in elsewhere
        )
        body["notes"] = f"<p>Also related (identifiers Zenodo does not resolve):</p><ul>{lines}</ul>"
    return body


def _creator(creator) -> dict[str, str]:
    entry = {"name": creator.name}
    if creator.affiliation:
        entry["affiliation"] = creator.affiliation
    if creator.orcid:
        entry["orcid"] = creator.orcid
    return entry


def _html(text: str) -> str:
    """Plain text as the HTML Zenodo's description takes: escaped, one paragraph per blank-line block."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return "".join(f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>" for block in blocks)


def _with_crate(publication: Publication) -> list[Upload]:
    """The files and, as ``ro-crate-metadata.json``, the crate of the launch or job they came from."""
    uploads = list(publication.files)
    names = [upload.name for upload in uploads]
    if len(set(names)) != len(names):
        raise PublishError("Two files have the same name; a Zenodo record holds each name once.")
    if publication.provenance:
        if CRATE_NAME in names:
            raise PublishError(f"A file is named {CRATE_NAME}, the name the launch's provenance is published under.")
        crate = publication.provenance.encode()
        uploads.append(Upload(CRATE_NAME, len(crate), _opener(crate)))
    if not uploads:
        raise PublishError("There is nothing to publish: choose at least one file.")
    return uploads


def _opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)
