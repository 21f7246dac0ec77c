"""HTTP to one UWS service through the facility's guarded session: answers read, failures as FacilityError."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from esap_core import Facility, FacilityError
from esap_uws.documents import DocumentError, error_text

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
XML_TYPES = ("text/xml", "application/xml", "application/x-votable+xml")
Parsed = TypeVar("Parsed")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, its body read (bounded)."""

    status: int
    url: str
    content_type: str  # the media type alone, lower case
    location: str
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400


class UwsService:
    """The service whose job list is ``facility.url``; each method ends within ``timeout`` seconds."""

    def __init__(self, facility: Facility):
        self.facility = facility
        self.jobs_url = facility.url.rstrip("/")

    def job_url(self, job: str) -> str:
        """``job`` if it is the URL of a job of this service (same scheme, host and port as its job list)."""
        parts, own = urlsplit(str(job)), urlsplit(self.jobs_url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc) or parts.query or parts.fragment:
            raise FacilityError(f"{str(job)[:100]!r} is not the URL of a job of the UWS service at {self.jobs_url}")
        return str(job).rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        timeout: float,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request, not following redirects; the body is read (at most MAX_DOCUMENT_BYTES)."""
        try:
            with self.facility.http() as session:
                answer = session.request(
                    method, url, data=data, params=params, timeout=timeout, allow_redirects=False, stream=True
                )
                with answer:
                    body = answer.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
        except requests.Timeout:
            raise FacilityError(f"the UWS service at {self.jobs_url} did not answer within {timeout:g} s") from None
        except requests.RequestException as error:
            raise FacilityError(f"the UWS service at {self.jobs_url} cannot be reached: {_reason(error)}") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise FacilityError(f"the UWS service sent more than {MAX_DOCUMENT_BYTES} bytes for {url}")
        kind = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return Answer(answer.status_code, answer.url, kind, answer.headers.get("Location", ""), body)

    def read(self, answer: Answer, parse: Callable[[bytes], Parsed], what: str) -> Parsed:
        """``answer`` as ``what``, read with ``parse``; FacilityError saying what came instead."""
        if not answer.ok:
            raise self.refusal(answer, f"answered HTTP {answer.status} where {what} belongs")
        kind = answer.content_type
        if kind == "text/html":
            raise FacilityError(
                f"the UWS service answered an HTML page (HTTP {answer.status}) at {answer.url}"
                f" where {what} belongs: is {self.jobs_url} the job list of a UWS service?"
            )
        if kind not in XML_TYPES and not kind.endswith("+xml"):
            raise FacilityError(
                f"the UWS service answered {kind or 'no content type'} at {answer.url} where {what} (XML) belongs"
            )
        try:
            return parse(answer.body)
        except DocumentError as error:
            raise FacilityError(f"the UWS service answered {error} at {answer.url} where {what} belongs") from None

    def refusal(self, answer: Answer, doing: str) -> FacilityError:
        """The service's own words for an error answer."""
        said = error_text(answer.body, answer.content_type)
        return FacilityError(f"the UWS service {doing}{f': {said}' if said else ''}")

    def redirect(self, answer: Answer, doing: str) -> str:
        """Where a 303 (or another redirect) sends us; FacilityError when the answer is not one."""
        if answer.status not in (201, 302, 303) or not answer.location:
            if not answer.ok:
                raise self.refusal(answer, f"refused to {doing} (HTTP {answer.status})")
            raise FacilityError(f"the UWS service answered HTTP {answer.status} to {doing}, not a 303 redirect")
        return urljoin(answer.url, answer.location)


def form(values: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as a UWS service takes them: text, with booleans as DALI writes them."""
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in values.items()
    }


def _reason(error: requests.RequestException) -> str:
    text = str(error)
    for known in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if known in text:
            return known.lower()
    return text[:200]
