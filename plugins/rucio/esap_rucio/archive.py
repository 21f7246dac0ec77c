"""A Rucio instance as an ESAP archive: search DIDs, page them, and make basket items of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from esap_core import (
    ArchiveError,
    Column,
    DataItem,
    DidCatalogue,
    FieldType,
    QueryField,
    QueryKind,
    ResultPage,
    StagingArchive,
    StagingResult,
    UserContext,
)
from esap_rucio import dids
from esap_rucio.connection import Deadline, connect, tighten
from esap_rucio.settings import Instance

COLUMNS = [
    Column("did", description="Data identifier, scope:name", datatype="char"),
    Column("scope", description="The DID's scope", datatype="char"),
    Column("name", description="The DID's name within its scope", datatype="char"),
    Column("type", description="container, dataset or file", datatype="char"),
    Column("bytes", unit="byte", description="Size", datatype="long"),
    Column("length", description="Number of files in a collection", datatype="long"),
    Column("rses", description="Storage elements holding a complete copy", datatype="char"),
    Column("adler32", description="Adler-32 checksum of a file", datatype="char"),
    Column("md5", description="MD5 checksum of a file", datatype="char"),
]


class RucioArchive(DidCatalogue, StagingArchive):
    """One Rucio instance: a catalogue of DIDs (scopes, metadata, contents, replicas) that stages data at RSEs."""

    answers = frozenset({QueryKind.KEYWORDS})

    def __init__(self, instance: Instance):
        self.instance = instance
        self.name = instance.name
        self.title = instance.title
        self.description = instance.description or f"DIDs in the Rucio data lake at {instance.host}"
        self.fields = (
            QueryField("scope", "Scope", help="Leave empty to search every scope (bounded)"),
            QueryField("name", "Name", default="*", help="A name or a pattern with * wildcards"),
            QueryField("did_type", "Type", FieldType.CHOICE, default="all", choices=dids.DID_TYPES),
            QueryField(
                "metadata",
                "Metadata",
                help="Conditions such as project=demo, run_number>=2 (keys the server indexes)",
            ),
        )

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        """Find DIDs by scope and name pattern, type and metadata, or by keywords across scopes."""
        if not isinstance(page, int) or page < 1:
            raise ArchiveError(f"page must be a whole number from 1, not {page!r}")
        keywords = str(query.get("keywords") or "").strip()
        scope = str(query.get("scope") or "").strip()
        pattern = name_pattern(keywords) if keywords else str(query.get("name") or "*").strip() or "*"
        did_type = str(query.get("did_type") or "all").lower()
        if did_type not in dids.DID_TYPES:
            raise ArchiveError(f"type must be one of {', '.join(dids.DID_TYPES)}, not {did_type!r}")
        conditions = dids.parse_metadata_filter(str(query.get("metadata") or ""))
        limit, size = self.instance.max_results, self.instance.page_size
        deadline = Deadline(timeout)
        notes: list[str] = []
        with connect(self.instance, user, deadline) as client:
            scopes = [scope] if scope else self.search_scopes(client, deadline, notes)
            rows, more, skipped = dids.search_scopes(client, scopes, pattern, did_type, conditions, limit, deadline)
            if scope and not rows:
                # Rucio answers an unknown scope with no DIDs rather than an error.
                tighten(client, deadline)
                if scope not in client.list_scopes():
                    raise ArchiveError(f"Rucio ({self.title}) has no scope named {scope!r}")
            shown = rows[(page - 1) * size : page * size]
            dids.describe(client, shown, deadline)
        if more:
            notes.append(
                f"More than {limit} DIDs match {pattern!r}: only {limit} of them are listed. "
                "Narrow the name pattern, the type or the scope."
            )
        if skipped:
            notes.append(f"Time ran out before these scopes were searched: {', '.join(skipped)}.")
        total = None if more or skipped else len(rows)
        return ResultPage(COLUMNS, shown, page=page, page_size=size, total=total, notes=notes)

    def search_scopes(self, client: Any, deadline: Deadline, notes: list[str]) -> list[str]:
        """The scopes a search without a scope goes through: the configured ones, or the first few."""
        if self.instance.keyword_scopes:
            return list(self.instance.keyword_scopes)
        tighten(client, deadline)
        scopes = sorted(str(scope) for scope in client.list_scopes())
        if len(scopes) > self.instance.max_scopes:
            notes.append(
                f"Only the first {self.instance.max_scopes} of {len(scopes)} scopes were searched: "
                "choose a scope to search another one."
            )
        return scopes[: self.instance.max_scopes]

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        """A DID as a basket item; the row may come back from a browser, so it is checked again."""
        scope, name = dids.parse_did(str(row.get("did") or f"{row.get('scope', '')}:{row.get('name', '')}"))
        kind = str(row.get("type") or "")
        if kind not in dids.TYPE_ORDER:
            raise ArchiveError(f"{scope}:{name}: unknown DID type {kind!r}")
        rses = row.get("rses") or ""
        rse_list = [rse.strip() for rse in rses.split(",") if rse.strip()] if isinstance(rses, str) else []
        checksums = {
            algorithm: value for algorithm in ("adler32", "md5") if (value := dids.checksum(row.get(algorithm)))
        }
        return DataItem(
            identifier=f"{scope}:{name}",
            title=f"{name} ({kind}, {scope})",
            fetch={"method": "rucio", "did": f"{scope}:{name}", "host": self.instance.host},
            payload={
                "archive": self.name,
                "scope": scope,
                "name": name,
                "did_type": kind,
                "bytes": dids.count(row.get("bytes")),
                "length": dids.count(row.get("length")),
                "rses": rse_list,
                "checksums": checksums,
            },
        )

    def stage(self, items: Sequence[DataItem], storage: str, user: UserContext, timeout: float) -> StagingResult:
        """Replicate the items' DIDs to the facility's storage element before a launch."""
        from esap_rucio.staging import stage

        return stage(self.instance, items, storage, user, timeout)

    def scopes(self, user: UserContext, timeout: float) -> list[str]:
        """Every scope of the instance, sorted."""
        deadline = Deadline(timeout)
        with connect(self.instance, user, deadline) as client:
            tighten(client, deadline)
            return sorted(str(scope) for scope in client.list_scopes())

    def metadata(self, did: str, user: UserContext, timeout: float) -> dict[str, Any]:
        """A DID's metadata (the server's DID columns: project, datatype, run_number, ...)."""
        scope, name = dids.parse_did(did)
        deadline = Deadline(timeout)
        with connect(self.instance, user, deadline) as client:
            return dids.metadata(client, scope, name, deadline)

    def contents(self, did: str, page: int, user: UserContext, timeout: float) -> ResultPage:
        """What a container or dataset holds, one level down, paged like a search."""
        scope, name = dids.parse_did(did)
        if not isinstance(page, int) or page < 1:
            raise ArchiveError(f"page must be a whole number from 1, not {page!r}")
        limit, size = self.instance.max_results, self.instance.page_size
        deadline = Deadline(timeout)
        with connect(self.instance, user, deadline) as client:
            rows, more = dids.contents(client, scope, name, limit, deadline)
            shown = rows[(page - 1) * size : page * size]
            dids.describe(client, shown, deadline)
        notes = [f"{did} holds more than {limit} DIDs: only {limit} are listed."] if more else []
        total = None if more else len(rows)
        return ResultPage(COLUMNS, shown, page=page, page_size=size, total=total, notes=notes)

    def replicas(self, did: str, user: UserContext, timeout: float) -> list[dict[str, Any]]:
        """The file replicas of a DID (a collection's files), up to the instance's result limit.

        Each is a dict with did, scope, name, bytes, adler32, md5, rses (where it is
        available), pfns (per RSE) and states (per RSE).
        """
        scope, name = dids.parse_did(did)
        deadline = Deadline(timeout)
        with connect(self.instance, user, deadline) as client:
            tighten(client, deadline)
            return dids.file_replicas(client, [{"scope": scope, "name": name}], self.instance.max_results)


def name_pattern(keywords: str) -> str:
    """Keywords as one Rucio name pattern: every word, in order, anywhere in the name."""
    words = [word.strip("*") for word in keywords.split()]
    return "*" + "*".join(word for word in words if word) + "*"
