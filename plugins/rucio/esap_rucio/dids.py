"""Ask a connected Rucio client about DIDs: find them, and describe their size, content and replicas.

Rucio's answers are untrusted: every row is rebuilt from checked fields.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from esap_core import ArchiveError
from esap_rucio.connection import Deadline, tighten

DID_TYPES = ("all", "container", "dataset", "file")
TYPE_ORDER = {"container": 0, "dataset": 1, "file": 2}
META_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$")
OPERATORS = {"=": "", "!=": ".ne", "<": ".lt", ">": ".gt", "<=": ".lte", ">=": ".gte"}


def parse_did(did: str) -> tuple[str, str]:
    """Split ``scope:name``; raise ArchiveError when it is not one."""
    scope, _, name = did.partition(":") if isinstance(did, str) else ("", "", "")
    if not scope.strip() or not name.strip():
        raise ArchiveError(f"{did!r} is not a Rucio DID: write it as scope:name")
    return scope.strip(), name.strip()


def parse_metadata_filter(text: str) -> dict[str, Any]:
    """``"project=demo, run_number>=2"`` as Rucio's filter ``{"project": "demo", "run_number.gte": 2}``."""
    conditions: dict[str, Any] = {}
    for part in filter(str.strip, text.split(",")):
        match = META_CONDITION.match(part)
        if not match:
            raise ArchiveError(
                f"cannot read the metadata condition {part.strip()!r}: write key=value, "
                "key>=value and so on, separated by commas"
            )
        key, operator, value = match.groups()
        if key == "name":
            raise ArchiveError("give the name pattern in the name field, not as a metadata condition")
        conditions[key + OPERATORS[operator]] = typed(value)
    return conditions


def typed(value: str) -> Any:
    """A number when the text is one, so that Rucio compares numbers as numbers."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def did_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One DID as a result row, from a ``list_dids(long=True)`` or ``list_content`` record."""
    scope, name = record.get("scope"), record.get("name")
    kind = str(record.get("did_type") or record.get("type") or "").lower()
    if not isinstance(scope, str) or not isinstance(name, str) or kind not in TYPE_ORDER:
        raise ValueError(f"a DID record without scope, name or type: {dict(record)!r:.200}")
    return {
        "did": f"{scope}:{name}",
        "scope": scope,
        "name": name,
        "type": kind,
        "bytes": count(record.get("bytes")),
        "length": count(record.get("length")) if kind != "file" else None,
        "rses": "",
        "adler32": checksum(record.get("adler32")),
        "md5": checksum(record.get("md5")),
    }


def count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def checksum(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{1,64}", value) else None


def sort_key(row: Mapping[str, Any]) -> tuple:
    return (TYPE_ORDER[row["type"]], row["scope"], row["name"])


def search_scopes(
    client: Any,
    scopes: Iterable[str],
    pattern: str,
    did_type: str,
    conditions: Mapping[str, Any],
    limit: int,
    deadline: Deadline,
) -> tuple[list[dict[str, Any]], bool, list[str]]:
    """Up to ``limit`` DIDs matching ``pattern`` in ``scopes``, sorted.

    Returns the rows, whether more matched than ``limit``, and the scopes left
    unsearched because time ran out.
    """
    rows: list[dict[str, Any]] = []
    scopes = list(scopes)
    for index, scope in enumerate(scopes):
        if rows and deadline.passed():
            return sorted(rows, key=sort_key)[:limit], len(rows) > limit, scopes[index:]
        tighten(client, deadline)
        filters = [{"name": pattern, **conditions}]
        found = client.list_dids(scope, filters, did_type=did_type, long=True)
        rows.extend(did_row(record) for record in itertools.islice(found, limit + 1 - len(rows)))
        if len(rows) > limit:
            return sorted(rows, key=sort_key)[:limit], True, []
    return sorted(rows, key=sort_key), False, []


def contents(client: Any, scope: str, name: str, limit: int, deadline: Deadline) -> tuple[list[dict], bool]:
    """Up to ``limit`` DIDs attached to a collection, sorted, and whether there were more."""
    tighten(client, deadline)
    records = itertools.islice(client.list_content(scope, name), limit + 1)
    rows = sorted((did_row(record) for record in records), key=sort_key)
    return rows[:limit], len(rows) > limit


def describe(client: Any, rows: list[dict[str, Any]], deadline: Deadline) -> None:
    """Fill in sizes, checksums and storage elements (RSEs) of a page of rows, in place.

    Files: one ``list_replicas`` call for the page. Datasets: their size and
    their dataset replicas. Containers: their size (files, bytes) only, as their
    replicas are those of every dataset inside.
    """
    files = [row for row in rows if row["type"] == "file"]
    if files:
        tighten(client, deadline)
        found = {(r["scope"], r["name"]): r for r in file_replicas(client, files, len(files))}
        for row in files:
            replica = found.get((row["scope"], row["name"]))
            if replica:
                row.update(bytes=replica["bytes"], adler32=replica["adler32"], md5=replica["md5"])
                row["rses"] = ",".join(replica["rses"])
    for row in rows:
        if row["type"] == "file":
            continue
        tighten(client, deadline)
        did = client.get_did(row["scope"], row["name"], dynamic_depth="FILE")
        row.update(bytes=count(did.get("bytes")), length=count(did.get("length")))
        if row["type"] == "dataset":
            tighten(client, deadline)
            replicas = client.list_dataset_replicas(row["scope"], row["name"], deep=True)
            row["rses"] = ",".join(sorted({str(r["rse"]) for r in replicas if r.get("state") == "AVAILABLE"}))


def file_replicas(client: Any, dids: Iterable[Mapping[str, str]], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` file replicas of ``dids`` (files, or collections expanded to their files)."""
    wanted = [{"scope": did["scope"], "name": did["name"]} for did in dids]
    replicas = []
    # The order of PFNs does not matter here: "random" spares the server its GeoIP sorting.
    found = client.list_replicas(wanted, all_states=True, ignore_availability=True, sort="random")
    for record in itertools.islice(found, limit):
        states = record.get("states") or {}
        rses = record.get("rses") or {}
        replicas.append(
            {
                "did": f"{record['scope']}:{record['name']}",
                "scope": str(record["scope"]),
                "name": str(record["name"]),
                "bytes": count(record.get("bytes")),
                "adler32": checksum(record.get("adler32")),
                "md5": checksum(record.get("md5")),
                "rses": sorted(str(rse) for rse in rses if states.get(rse, "AVAILABLE") == "AVAILABLE"),
                "pfns": {str(rse): [str(pfn) for pfn in pfns] for rse, pfns in rses.items()},
                "states": {str(rse): str(state) for rse, state in states.items()},
            }
        )
    return sorted(replicas, key=lambda replica: replica["did"])


def metadata(client: Any, scope: str, name: str, deadline: Deadline) -> dict[str, Any]:
    """A DID's metadata, without empty values, as JSON-ready values."""
    tighten(client, deadline)
    found = client.get_metadata(scope, name)
    return {str(key): plain(value) for key, value in sorted(found.items()) if value is not None}


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
