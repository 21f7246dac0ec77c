"""The documents a UWS 1.1 service answers (job, job list, results, errors), read into plain values.

Every reader raises :class:`DocumentError` with a reason a person can read when the bytes
are not the document expected: HTML, garbage, another XML vocabulary. Documents with a
DOCTYPE are refused outright (UWS documents have none, and entities are a way to attack
an XML parser).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime

UWS = "http://www.ivoa.net/xml/UWS/v1.0"  # UWS 1.1 keeps the 1.0 namespace
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


class DocumentError(ValueError):
    """The bytes are not the document that was expected; the message says what they are instead."""


@dataclass(frozen=True)
class UwsResult:
    id: str
    href: str
    size: int | None = None
    media_type: str = ""


@dataclass(frozen=True)
class UwsJob:
    job_id: str
    phase: str
    started: datetime | None = None
    finished: datetime | None = None
    destruction: datetime | None = None
    error: str = ""  # errorSummary's message
    error_type: str = ""  # fatal or transient
    error_detail: bool = False  # the service has a longer error document at <job>/error
    results: tuple[UwsResult, ...] = ()


def xml_root(raw: bytes) -> ElementTree.Element:
    """The root element of ``raw``; DocumentError for HTML, a DOCTYPE, or bytes that are not XML."""
    start = raw[:2048].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")):
        raise DocumentError("an HTML page")
    if b"<!doctype" in raw[:4096].lower():
        raise DocumentError("an XML document with a DOCTYPE, which UWS documents never have")
    try:
        return ElementTree.fromstring(raw)
    except ElementTree.ParseError as error:
        raise DocumentError(f"not XML ({error}){_quote(raw)}") from None


def parse_job(raw: bytes) -> UwsJob:
    root = xml_root(raw)
    if root.tag != f"{{{UWS}}}job":
        raise DocumentError(f"a <{_local(root.tag)}> document, not a UWS job")
    job_id, phase = _text(root, "jobId"), _text(root, "phase").upper()
    if not job_id or not phase:
        raise DocumentError("a UWS job without a jobId or a phase")
    summary = root.find(f"{{{UWS}}}errorSummary")
    return UwsJob(
        job_id=job_id,
        phase=phase,
        started=_time(_text(root, "startTime")),
        finished=_time(_text(root, "endTime")),
        destruction=_time(_text(root, "destruction")),
        error=_text(summary, "message") if summary is not None else "",
        error_type=summary.get("type", "") if summary is not None else "",
        error_detail=summary is not None and summary.get("hasDetail", "").lower() == "true",
        results=_results(root.find(f"{{{UWS}}}results")),
    )


def parse_job_list(raw: bytes) -> int:
    """How many jobs a job list shows."""
    root = xml_root(raw)
    if root.tag != f"{{{UWS}}}jobs":
        raise DocumentError(f"a <{_local(root.tag)}> document, not a UWS job list")
    return len(root.findall(f"{{{UWS}}}jobref"))


def error_text(raw: bytes, content_type: str) -> str:
    """The service's own words in an error answer: a DALI VOTable's QUERY_STATUS, a UWS error, or plain text."""
    kind = content_type.split(";")[0].strip().lower()
    if "xml" in kind or raw.lstrip().startswith(b"<"):
        try:
            root = xml_root(raw)
        except DocumentError as error:
            return f"({error})"
        for element in root.iter():
            if _local(element.tag) == "INFO" and element.get("name") == "QUERY_STATUS":
                return _one_line(element.text or element.get("value") or "")
            if _local(element.tag) == "message":
                return _one_line(element.text or "")
        return _one_line(" ".join(root.itertext()))[:500]
    return _one_line(raw.decode("utf-8", errors="replace"))[:500]


def _results(element: ElementTree.Element | None) -> tuple[UwsResult, ...]:
    if element is None:
        return ()
    found = []
    for result in element.findall(f"{{{UWS}}}result"):
        size = result.get("size", "")
        found.append(
            UwsResult(
                id=result.get("id", ""),
                href=result.get(f"{{{XLINK}}}href", ""),
                size=int(size) if size.isdigit() else None,
                media_type=result.get("mime-type", ""),
            )
        )
    return tuple(result for result in found if result.id and result.href)


def _text(element: ElementTree.Element, name: str) -> str:
    child = element.find(f"{{{UWS}}}{name}")
    if child is None or child.get(f"{{{XSI}}}nil") == "true":
        return ""
    return (child.text or "").strip()


def _time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # UWS times are UTC


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in text)).strip()


def _quote(raw: bytes) -> str:
    text = _one_line(raw[:200].decode("utf-8", errors="replace"))
    return f": {text[:80]!r}" if text else ": an empty answer"
