"""A pinned TAP service as its own archive: search one (ObsCore-like) table by position or target."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from esap_core import (
    MAX_IDENTIFIER,
    Archive,
    ArchiveError,
    DataItem,
    FieldType,
    QueryField,
    QueryKind,
    ResultPage,
    UserContext,
    item_identifier,
)
from esap_vo import adql, position, tap
from esap_vo.resolver import resolve

PAGE_SIZE = 50
DEFAULT_RADIUS = 0.1
# What each role is called in an ObsCore table; a service's settings may rename them.
OBSCORE_COLUMNS = {
    "ra": "s_ra",
    "dec": "s_dec",
    "fov": "s_fov",
    "target": "target_name",
    "collection": "obs_collection",
    "id": "obs_id",
    "access_url": "access_url",
    "access_format": "access_format",
}
ARCHIVE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DATALINK = "content=datalink"


class PinnedService(Archive):
    """One table of one TAP service, configured by an administrator."""

    fields = (
        QueryField("ra", "RA (deg)", FieldType.NUMBER, minimum=0, maximum=360, help="ICRS right ascension"),
        QueryField("dec", "Dec (deg)", FieldType.NUMBER, minimum=-90, maximum=90, help="ICRS declination"),
        QueryField(
            "radius", "Radius (deg)", FieldType.NUMBER, default=DEFAULT_RADIUS, minimum=0, maximum=position.MAX_RADIUS
        ),
        QueryField("target", "Target", help="An object name, resolved to a position"),
        QueryField("collection", "Collection", help="Only this collection"),
    )
    answers = frozenset({QueryKind.POSITION, QueryKind.TARGET})

    def __init__(self, settings: Mapping[str, Any], resolver_url: str = ""):
        try:
            self.name = str(settings["name"])
            self.tap_url = str(settings["tap_url"])
            self.table = adql.table_name(str(settings["table"]))
        except KeyError as missing:
            raise ValueError(f"a pinned VO service needs {missing.args[0]!r}") from None
        if not ARCHIVE_NAME.match(self.name):
            raise ValueError(f"pinned VO service name {self.name!r}: use lower-case letters, digits, - and _")
        self.title = str(settings.get("title") or self.name)
        self.description = str(settings.get("description") or f"Table {self.table} at {self.tap_url}")
        self.columns = {**OBSCORE_COLUMNS, **dict(settings.get("columns") or {})}
        for column in self.columns.values():
            adql.column_name(column)
        self.resolver_url = resolver_url

    def statement(self, query: Mapping[str, Any], limit: int, timeout: float) -> str:
        """The ADQL for ``query``; ValueError for bad input, ArchiveError if the target is unknown."""
        conditions = []
        radius = query.get("radius")
        radius = DEFAULT_RADIUS if radius in (None, "") else radius
        has_ra, has_dec = query.get("ra") not in (None, ""), query.get("dec") not in (None, "")
        target = str(query.get("target") or "").strip()
        if has_ra != has_dec:
            raise ValueError("give both RA and Dec, or neither")
        if has_ra:
            where = position.cone(query["ra"], query["dec"], radius)
        elif target:
            where = position.cone(*resolve(target, self.resolver_url, timeout), radius)
        else:
            where = None
        if where is not None:
            conditions.append(adql.in_cone(self.columns["ra"], self.columns["dec"], where))
        collection = str(query.get("collection") or "").strip()
        if collection:
            conditions.append(f"{self.columns['collection']} = {adql.string(collection)}")
        if not conditions:
            raise ValueError("give a position, a target or a collection")
        return f"SELECT TOP {int(limit)} * FROM {self.table} WHERE " + " AND ".join(conditions)

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        try:
            statement = self.statement(query, page * PAGE_SIZE + 1, timeout)
        except ValueError as error:
            raise ArchiveError(str(error)) from None
        return tap.query_page(self.tap_url, statement, page, PAGE_SIZE, timeout)

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        identifier = row.get(self.columns["id"])
        if identifier in (None, ""):
            raise ArchiveError(f"this row has no {self.columns['id']}: it cannot go into the basket")
        access_url = str(row.get(self.columns["access_url"]) or "")
        access_format = str(row.get(self.columns["access_format"]) or "")
        select = f"SELECT * FROM {self.table} WHERE {self.columns['id']} = {adql.string(str(identifier))}"
        by_tap = {"method": "tap", "service": self.tap_url, "adql": select}
        if access_url.startswith(("http://", "https://")):
            method = "datalink" if DATALINK in access_format else "http"
            fetch: dict[str, Any] = {"method": method, "url": access_url}
        else:
            fetch = by_tap
        target = row.get(self.columns["target"])
        return DataItem(
            identifier=item_identifier(self.tap_url, {"table": self.table, "id": identifier}),
            title=(f"{target} ({identifier})" if target else str(identifier))[:MAX_IDENTIFIER],
            fetch=fetch,
            payload={"row": dict(row), "format": access_format, "tap": by_tap},
        )
