"""The basket as a table: CSV and VOTable, written without astropy (it stays out of the web process)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from esap_core import __version__

# column name, description, how to read it from an item dict
COLUMNS: list[tuple[str, str, Any]] = [
    ("id", "ESAP's id of the item", lambda item: item["id"]),
    ("kind", "data or software", lambda item: item["kind"]),
    ("archive", "the archive (or software source) the item came from", lambda item: item["archive"]),
    ("identifier", "the item's identifier in its archive", lambda item: item["identifier"]),
    ("title", "a human-readable title", lambda item: item["title"]),
    ("fetch_method", "how to fetch it: http, tap, datalink, rucio, ...", lambda item: item["fetch"].get("method", "")),
    (
        "access_url",
        "the URL to fetch it from, when there is one",
        lambda item: item["fetch"].get("url") or item["fetch"].get("service", ""),
    ),
    ("fetch", "the whole fetch hint, as JSON", lambda item: _json(item["fetch"])),
    ("payload", "everything else the archive said about it, as JSON", lambda item: _json(item["payload"])),
    ("added", "when it was added (UTC, ISO 8601)", lambda item: item["added"].isoformat()),
]
ID_TYPE = "long"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str) if value else ""


def to_json(items: list[dict[str, Any]]) -> str:
    """The whole basket as one page of the API's item list, as JSON text.

    What ``ItemSchema`` would dump (the items are already in its shape), written without dumping
    every field of every item through marshmallow, and with each item's ``fetch`` and ``payload``
    copied as stored (``basket.item_dicts(user, stored_json=True)``): a notebook reads this often,
    and decoding and encoding them again was a third of the request.
    """
    written = []
    for item in items:
        own = {key: value for key, value in item.items() if key not in ("fetch", "payload")}
        own["added"] = item["added"].isoformat()
        head = json.dumps(own, separators=(",", ":"))
        written.append(f'{head[:-1]},"fetch":{item["fetch"] or "{}"},"payload":{item["payload"] or "{}"}}}')
    page = f'"total":{len(items)},"page":1,"page_size":{max(len(items), 1)}'
    return '{"items":[' + ",".join(written) + "]," + page + "}"


def rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [[read(item) for _, _, read in COLUMNS] for item in items]


def to_csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _, _ in COLUMNS])
    writer.writerows(rows(items))
    return out.getvalue()


@dataclass(frozen=True)
class Field:
    """A VOTable column: its datatype, and what a reader needs to recognise it (unit, UCD)."""

    name: str
    datatype: str = "unicodeChar"
    description: str = ""
    unit: str = ""
    ucd: str = ""
    null: str = ""  # the value that stands for "no value" in an integer column


def to_votable(items: list[dict[str, Any]]) -> str:
    """The basket as a VOTable 1.4 document with one TABLEDATA table (readable by astropy, TOPCAT, pyvo)."""
    fields = [Field(name, ID_TYPE if name == "id" else "unicodeChar", description) for name, description, _ in COLUMNS]
    return votable("basket", fields, rows(items))


def votable(name: str, fields: list[Field], table: list[list[Any]]) -> str:
    """A VOTable 1.4 document with one TABLEDATA table; ``None`` cells are written empty (or as the null value)."""
    header = "".join(_field(field) for field in fields)
    nulls = [field.null for field in fields]
    body = "".join(
        "\n      <TR>"
        + "".join(f"<TD>{escape(_cell(nulls[i] if value is None else value))}</TD>" for i, value in enumerate(row))
        + "</TR>"
        for row in table
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        f'  <RESOURCE type="results">\n  <INFO name="generator" value={quoteattr("ESAP " + __version__)}/>\n'
        f"  <TABLE name={quoteattr(_cell(name))}>{header}\n    <DATA><TABLEDATA>{body}\n    </TABLEDATA></DATA>\n"
        "  </TABLE>\n  </RESOURCE>\n</VOTABLE>\n"
    )


def _field(field: Field) -> str:
    attributes = f"name={quoteattr(_cell(field.name))} datatype={quoteattr(field.datatype)}"
    if field.datatype in ("char", "unicodeChar"):
        attributes += ' arraysize="*"'
    for key, value in (("unit", field.unit), ("ucd", field.ucd)):
        if value:
            attributes += f" {key}={quoteattr(_cell(value))}"
    inner = f"<DESCRIPTION>{escape(_cell(field.description))}</DESCRIPTION>" if field.description else ""
    if field.null:
        inner += f"<VALUES null={quoteattr(field.null)}/>"
    return f"\n    <FIELD {attributes}>{inner}</FIELD>"


def _cell(value: Any) -> str:
    text = str(value)
    # XML 1.0 cannot carry most control characters, even escaped: drop them.
    return "".join(character for character in text if character in "\t\n\r" or ord(character) >= 32)
