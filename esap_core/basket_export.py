"""The basket as a table: CSV and VOTable, written without astropy (it stays out of the web process)."""

from __future__ import annotations

import csv
import io
import json
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


def to_json(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole basket as one page of the API's item list.

    What ``ItemSchema`` would dump (the items are already in its shape), without the cost of dumping
    every field of every item through marshmallow on a document notebooks read often.
    """
    listed = [{**item, "added": item["added"].isoformat()} for item in items]
    return {"items": listed, "total": len(listed), "page": 1, "page_size": max(len(listed), 1)}


def rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [[read(item) for _, _, read in COLUMNS] for item in items]


def to_csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _, _ in COLUMNS])
    writer.writerows(rows(items))
    return out.getvalue()


def to_votable(items: list[dict[str, Any]]) -> str:
    """A VOTable 1.4 document with one TABLEDATA table (readable by astropy, TOPCAT, pyvo)."""
    fields = "".join(
        f'\n    <FIELD name="{name}" datatype="{ID_TYPE if name == "id" else "unicodeChar"}"'
        f"{'' if name == 'id' else ' arraysize=' + quoteattr('*')}>"
        f"<DESCRIPTION>{escape(description)}</DESCRIPTION></FIELD>"
        for name, description, _ in COLUMNS
    )
    body = "".join(
        "\n      <TR>" + "".join(f"<TD>{escape(_cell(value))}</TD>" for value in row) + "</TR>" for row in rows(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        f'  <RESOURCE type="results">\n  <INFO name="generator" value={quoteattr("ESAP " + __version__)}/>\n'
        f'  <TABLE name="basket">{fields}\n    <DATA><TABLEDATA>{body}\n    </TABLEDATA></DATA>\n'
        "  </TABLE>\n  </RESOURCE>\n</VOTABLE>\n"
    )


def _cell(value: Any) -> str:
    text = str(value)
    # XML 1.0 cannot carry most control characters, even escaped: drop them.
    return "".join(character for character in text if character in "\t\n\r" or ord(character) >= 32)
