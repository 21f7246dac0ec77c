"""SAMP's server side: short-lived signed links to ESAP's VOTable of the rows a page sends, and tables received.

Sending (docs/samp.md): the page asks for a link; ESAP writes the VOTable of exactly those rows
(a result page's signed rows, or the user's basket) once, keeps it in Redis for
:data:`LINK_SECONDS`, and hands back a URL whose token is signed with the app's secret key and
a salt of its own. The token names the user, the stored table and the SHA-256 of its bytes, so a
desktop tool that gets the URL reads that one document, read-only, for a few minutes, and
nothing else: no session, no personal token, no other rows.

Receiving: a table sent to the page over SAMP comes with a URL. A public http(s) URL is fetched
by the server through the outbound guard, checked and kept as an ``http`` item (the table stays
where it is). A URL on the researcher's own machine (TOPCAT's own server, a ``file:`` URL) is
never fetched by the server: the page reads it through the hub's URL translator and uploads it,
and the item keeps the checked document inside its payload, within the basket's payload limit
(ESAP keeps no file bytes of its own).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from esap_core import basket, basket_export
from esap_core.hookspecs import Column
from esap_core.models import User

LINK_SECONDS = 300  # how long a sent table can be read: a desktop tool fetches it at once
LINK_SALT = "esap.samp.table"
COLUMNS_SALT = "esap.samp.columns"
REDIS_PREFIX = "esap:samp:table:"
MAX_SENT_ROWS = 1000  # rows of a result page sent at once
MAX_SENT_BYTES = 32 * 1024 * 1024  # a sent table kept in Redis
MAX_FETCHED_BYTES = 16 * 1024 * 1024  # a public table the server reads to check it
MAX_INLINE_BYTES = 60 * 1024  # a table from the researcher's machine, kept in its item (payload limit 64 KiB)
ARCHIVE = "samp"  # the basket's name for tables received over SAMP
VOTABLE_NAMESPACE = "http://www.ivoa.net/xml/VOTable/"
VOTABLE_TYPE = "application/x-votable+xml"
LONG_NULL = str(-(2**63))


class SampError(ValueError):
    """A table that cannot be sent or received; the message says why, ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --- sending: ESAP's VOTable of exactly these rows, behind a signed link -------------------------


def columns_token(columns: Sequence[Column]) -> str:
    """The result's columns, signed, for the page to send back with its rows (units and UCDs stay ESAP's)."""
    listed = [[c.name, c.unit, c.ucd, c.description[:500]] for c in columns]
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=COLUMNS_SALT).dumps(listed)


def read_columns(token: str) -> list[Column]:
    try:
        listed = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=COLUMNS_SALT).loads(token)
    except BadSignature:
        raise SampError("These columns are not from an ESAP page: search again.") from None
    return [Column(name, unit, ucd, description) for name, unit, ucd, description in listed]


def results_votable(name: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """A result page's rows as a VOTable; each column's type is what its values are."""
    fields = [_field(column, [row.get(column.name) for row in rows]) for column in columns]
    pairs = list(zip(fields, columns, strict=True))
    table = [[_value(field, row.get(column.name)) for field, column in pairs] for row in rows]
    return basket_export.votable(name, fields, table)


def _field(column: Column, values: list[Any]) -> basket_export.Field:
    present = [value for value in values if value is not None]
    numbers = [value for value in present if isinstance(value, int | float) and not isinstance(value, bool)]
    if present and all(isinstance(value, bool) for value in present):
        datatype, null = "boolean", ""
    elif present and len(numbers) == len(present) and all(isinstance(value, int) for value in numbers):
        datatype, null = "long", (LONG_NULL if len(present) < len(values) else "")
    elif present and len(numbers) == len(present):
        datatype, null = "double", ""
    else:
        datatype, null = "unicodeChar", ""
    return basket_export.Field(column.name, datatype, column.description, column.unit, column.ucd, null)


def _value(field: basket_export.Field, value: Any) -> Any:
    if value is None:
        return None
    if field.datatype == "boolean":
        return "T" if value else "F"
    if field.datatype == "double":
        number = float(value)
        return repr(number) if math.isfinite(number) else ("NaN" if math.isnan(number) else f"{number:+}".title())
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return value


def basket_votable(user: User) -> tuple[str, int]:
    """The user's whole basket as ESAP's basket VOTable, and how many rows it has."""
    items = basket.item_dicts(user)
    if not items:
        raise SampError("Your basket is empty: there is no table to send.")
    return basket_export.to_votable(items), len(items)


def publish(user: User, name: str, document: str) -> str:
    """Keep ``document`` for :data:`LINK_SECONDS` and return the signed token that reads it."""
    data = document.encode()
    if len(data) > MAX_SENT_BYTES:
        raise SampError(f"This table is over {MAX_SENT_BYTES // 2**20} MiB: send fewer rows.", 413)
    table_id = secrets.token_urlsafe(16)
    record = json.dumps({"u": user.id, "name": name, "votable": document})
    _redis_call(lambda redis: redis.set(REDIS_PREFIX + table_id, record, ex=LINK_SECONDS))
    claims = {"u": user.id, "t": table_id, "d": hashlib.sha256(data).hexdigest()}
    return _links().dumps(claims)


def published(token: str) -> tuple[str, str]:
    """The (name, document) a link reads; :class:`SampError` 403 for a forged link, 410 for an expired one."""
    try:
        claims = _links().loads(token, max_age=LINK_SECONDS)
    except SignatureExpired:
        raise SampError("This table link has expired: send the table again from ESAP.", 410) from None
    except BadSignature:
        raise SampError("This is not a table link ESAP made.", 403) from None
    stored = _redis_call(lambda redis: redis.get(REDIS_PREFIX + str(claims.get("t"))))
    if stored is None:
        raise SampError("This table link has expired: send the table again from ESAP.", 410)
    record = json.loads(stored)
    document = record.get("votable", "")
    digest = hashlib.sha256(document.encode()).hexdigest()
    # Bound to the user and to exactly these bytes: a record can never be read with another's link.
    if record.get("u") != claims.get("u") or not secrets.compare_digest(digest, str(claims.get("d"))):
        raise SampError("This is not a table link ESAP made.", 403)
    return record.get("name", "table"), document


def _links() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def _redis_call(action):
    from redis.exceptions import RedisError

    try:
        return action(current_app.extensions["esap.queue"].connection())
    except (RedisError, OSError):
        message = "ESAP cannot keep the table right now (its Redis is not reachable): try again shortly."
        raise SampError(message, 503) from None


# --- receiving: a table sent to the page becomes a basket item ----------------------------------


@dataclass(frozen=True)
class TableSummary:
    """What a checked VOTable holds: its first table's name, column names and row count (None: not counted)."""

    name: str
    columns: list[str]
    rows: int | None


def check_votable(data: bytes) -> TableSummary:
    """Check that ``data`` is a VOTable with a table of columns; :class:`SampError` says what is wrong."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SampError("The table declares a DTD or entities, which a VOTable does not need: it is refused.")
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    summary: dict[str, Any] = {"root": None, "tables": 0, "name": "", "columns": [], "rows": 0, "nrows": None}
    try:
        for start in range(0, len(data), 1 << 16):
            parser.feed(data[start : start + (1 << 16)])
            _read_events(parser, summary)
        parser.close()
        _read_events(parser, summary)
    except ElementTree.ParseError as error:
        raise SampError(f"The table is not well-formed XML ({error}).") from None
    if not summary["tables"]:
        raise SampError("The VOTable holds no table.")
    if not summary["columns"]:
        raise SampError("The VOTable's table has no columns (FIELD).")
    rows = summary["rows"] if summary["rows"] else summary["nrows"]
    return TableSummary(summary["name"], summary["columns"], rows)


def _read_events(parser: ElementTree.XMLPullParser, summary: dict[str, Any]) -> None:
    """Count the first table's columns and TABLEDATA rows as the parse goes (elements are dropped after)."""
    for event, element in parser.read_events():
        namespace, _, local = element.tag[1:].partition("}") if element.tag.startswith("{") else ("", "", element.tag)
        if summary["root"] is None:
            if local != "VOTABLE" or (namespace and not namespace.startswith(VOTABLE_NAMESPACE)):
                raise SampError(f"This is not a VOTable: its document element is <{local[:40]}>.")
            summary["root"] = local
        first = summary["tables"] == 1
        if event == "start" and local == "TABLE":
            summary["tables"] += 1
            if summary["tables"] == 1:
                summary["name"] = element.get("name", "")[:300]
                nrows = element.get("nrows", "")
                summary["nrows"] = int(nrows) if nrows.isdigit() else None
        elif event == "end" and first and local == "FIELD":
            summary["columns"].append(element.get("name", "")[:200])
        elif event == "end" and first and local == "TR":
            summary["rows"] += 1
        if event == "end" and local in ("TR", "TABLE"):
            element.clear()


def fetch_public(url: str, private_ok: bool = False) -> bytes:
    """Read a table at a URL through the outbound guard (public addresses only), at most MAX_FETCHED_BYTES."""
    import requests

    from esap_core.outbound import AddressRefused, GuardedSession

    host = urlsplit(url).hostname or url[:100]
    try:
        with GuardedSession(private_ok=private_ok) as http, http.get(url, stream=True, timeout=(5, 30)) as answer:
            if answer.status_code != 200:
                raise SampError(f"{host} answered {answer.status_code} for the table.", 502)
            data = bytearray()
            for chunk in answer.iter_content(1 << 16):
                data += chunk
                if len(data) > MAX_FETCHED_BYTES:
                    raise SampError(f"The table at {host} is over {MAX_FETCHED_BYTES // 2**20} MiB.", 413)
    except AddressRefused as error:
        raise SampError(f"ESAP's server does not fetch this table: {error}") from None
    except requests.RequestException as error:
        raise SampError(f"ESAP could not read the table at {host} ({type(error).__name__}).", 502) from None
    return bytes(data)


def receive_url(user: User, url: str, name: str, sender: str, private_ok: bool = False) -> tuple[int, TableSummary]:
    """A table at a public URL: read and checked by the server, kept as an ``http`` item. Returns (added, summary)."""
    if len(url) > 1000:
        raise SampError("The table's URL is over 1000 characters.")
    summary = check_votable(fetch_public(url, private_ok))
    item = basket.data_item(
        ARCHIVE, url, _title(name, summary, sender), {"method": "http", "url": url}, _payload(summary, url, sender)
    )
    return basket.add(user, [item]), summary


def receive_document(user: User, data: bytes, url: str, name: str, sender: str) -> tuple[int, TableSummary]:
    """A table the page read on the researcher's machine: checked, kept inside its item. Returns (added, summary)."""
    if len(data) > MAX_INLINE_BYTES:
        raise SampError(too_big_message(len(data)), 413)
    summary = check_votable(data)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SampError("The table is not UTF-8 text.") from None
    payload = {**_payload(summary, url, sender), "votable": text}
    identifier = "sha256:" + hashlib.sha256(data).hexdigest()
    item = basket.data_item(ARCHIVE, identifier, _title(name, summary, sender), {}, payload)
    return basket.add(user, [item]), summary


def too_big_message(size: int) -> str:
    return (
        f"The table is {math.ceil(size / 1024)} KiB: a table from your own computer is kept inside its basket item, "
        f"at most {MAX_INLINE_BYTES // 1024} KiB. Send fewer rows, or put the table at a public URL and send that."
    )


def _title(name: str, summary: TableSummary, sender: str) -> str:
    title = (name or summary.name or "").strip()[:300]
    return title or f"Table from {sender[:100] or 'a SAMP client'}"


def _payload(summary: TableSummary, url: str, sender: str) -> dict[str, Any]:
    return {
        "format": VOTABLE_TYPE,
        "sender": sender[:200],
        "source_url": url[:1000],
        "rows": summary.rows,
        "columns": summary.columns[:300],
    }
