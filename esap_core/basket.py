"""The basket: each user's data items and software, added in bulk without duplicates, read back anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from esap_core import catalogue
from esap_core.db import session
from esap_core.identifiers import MAX_IDENTIFIER
from esap_core.models import BasketItem, Software, User

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_ITEMS_PER_REQUEST = 1000
SOFTWARE = "software"
DATA = "data"

# The generic fetch hints a notebook can follow without plugin code: method → required fields.
FETCH_METHODS: dict[str, tuple[str, ...]] = {
    "http": ("url",),
    "datalink": ("url",),
    "tap": ("service", "adql"),
    "rucio": ("did", "host"),
    "esap": ("url",),  # ESAP's own API (a job's result): the notebook client sends its token there
}


class BasketError(ValueError):
    """An item that cannot go into the basket; the message says why."""

    status = 400


class PayloadTooLarge(BasketError):
    status = 413


@dataclass(frozen=True)
class NewItem:
    kind: str
    archive: str
    identifier: str
    title: str = ""
    fetch: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)
    software_id: int | None = None


def data_item(
    archive: str, identifier: str, title: str = "", fetch: Mapping | None = None, payload: Mapping | None = None
) -> NewItem:
    """A checked data item (raises :class:`BasketError`)."""
    archive, identifier = (archive or "").strip(), (identifier or "").strip()
    if not archive:
        raise BasketError("A data item needs the name of its archive.")
    if not identifier:
        raise BasketError("A data item needs an identifier that is stable in its archive.")
    if len(archive) > 100:
        raise BasketError(f"The archive's name is {len(archive):,} characters long: at most 100.")
    if len(identifier) > MAX_IDENTIFIER or len(title or "") > MAX_IDENTIFIER:
        what, length = ("identifier", len(identifier)) if len(identifier) > MAX_IDENTIFIER else ("title", len(title))
        raise BasketError(
            f"Its {what} is {length:,} characters long: identifiers and titles are at most {MAX_IDENTIFIER:,}."
        )
    fetch = dict(fetch or {})
    check_fetch(fetch)
    payload = dict(payload or {})
    if len(json.dumps(payload, default=str)) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"The payload of {identifier!r} is over {MAX_PAYLOAD_BYTES // 1024} KiB.")
    return NewItem(DATA, archive, identifier, (title or identifier)[:MAX_IDENTIFIER], fetch, payload)


def check_fetch(fetch: Mapping[str, Any]) -> None:
    """A fetch hint needs a method; the generic methods need their fields (plugins may add methods)."""
    if not fetch:
        return
    method = fetch.get("method")
    if not isinstance(method, str) or not method:
        raise BasketError("A fetch hint needs a 'method', such as http, tap, datalink or rucio.")
    missing = [name for name in FETCH_METHODS.get(method, ()) if not isinstance(fetch.get(name), str)]
    if missing:
        raise BasketError(f"A {method!r} fetch hint needs {' and '.join(repr(m) for m in missing)}.")
    url = fetch.get("url") or fetch.get("service")
    if method in ("http", "datalink", "tap", "esap") and not str(url).startswith(("http://", "https://")):
        raise BasketError(f"A {method!r} fetch hint needs an http(s) URL.")


def software_item(user: User, software_id: int) -> NewItem:
    software = catalogue.get(user, software_id)
    if software is None:
        raise BasketError(f"There is no software with id {software_id}.")
    return NewItem(SOFTWARE, software.source, str(software.id), software.name, software_id=software.id)


def add(user: User, items: Iterable[NewItem]) -> int:
    """Add items, keeping one of each; returns how many were new. One statement, safe under concurrency."""
    rows = [
        {
            "user_id": user.id,
            "kind": item.kind,
            "archive": item.archive,
            "identifier": item.identifier,
            "title": item.title,
            "fetch": dict(item.fetch),
            "payload": dict(item.payload),
            "software_id": item.software_id,
        }
        for item in items
    ]
    if not rows:
        return 0
    if len(rows) > MAX_ITEMS_PER_REQUEST:
        raise BasketError(f"At most {MAX_ITEMS_PER_REQUEST} items can be added at once.")
    db = session()
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(BasketItem)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["user_id", "kind", "archive", "identifier"])
        .returning(BasketItem.id)
    )
    added = len(db.execute(statement).all())  # RETURNING names only the rows really inserted
    db.commit()
    return added


def items(
    user: User, page: int = 1, page_size: int = 50, kind: str | None = None, archive: str | None = None
) -> tuple[list[BasketItem], int]:
    """One page of the user's items, oldest first, and how many there are in all."""
    query = select(BasketItem).where(BasketItem.user_id == user.id)
    if kind:
        query = query.where(BasketItem.kind == kind)
    if archive:
        query = query.where(BasketItem.archive == archive)
    total = session().scalar(select(func.count()).select_from(query.subquery()))
    page_query = query.order_by(BasketItem.id).limit(page_size).offset((page - 1) * page_size)
    return list(session().scalars(page_query)), total


def get(user: User, item_id: int) -> BasketItem | None:
    return session().scalar(select(BasketItem).where(BasketItem.user_id == user.id, BasketItem.id == item_id))


def all_items(user: User) -> list[BasketItem]:
    return list(session().scalars(select(BasketItem).where(BasketItem.user_id == user.id).order_by(BasketItem.id)))


# What as_dict reads, as columns: the whole-basket readers (exports, compat, SAMP) build no ORM objects.
_ITEM_COLUMNS = (
    BasketItem.id,
    BasketItem.kind,
    BasketItem.archive,
    BasketItem.identifier,
    BasketItem.title,
    BasketItem.added,
    BasketItem.fetch,
    BasketItem.payload,
)
_SOFTWARE_COLUMNS = (Software.id, Software.name, Software.repository_url, Software.ref, Software.ui_type, Software.doi)
_SOFTWARE_FIELDS = ("id", "name", "repository_url", "ref", "ui_type", "doi")


def _items_query(stored_json: bool):
    fetch, payload = BasketItem.fetch, BasketItem.payload
    if stored_json:  # the text itself: PostgreSQL's driver would decode a json column
        fetch, payload = cast(fetch, Text), cast(payload, Text)
    return (
        select(*_ITEM_COLUMNS[:-2], fetch, payload, *_SOFTWARE_COLUMNS)
        .outerjoin(Software, Software.id == BasketItem.software_id)
        .where(BasketItem.user_id == bindparam("user_id"))
        .order_by(BasketItem.id)
    )


# Built once: building it per request cost 0.06 ms, about 4 % of the request.
_ITEMS_QUERIES = {stored_json: _items_query(stored_json) for stored_json in (False, True)}


def item_dicts(user: User, *, stored_json: bool = False) -> list[dict[str, Any]]:
    """All the user's items, oldest first, each as :func:`as_dict` gives it, read as rows in one query.

    With ``stored_json`` the data items' ``fetch`` and ``payload`` are their JSON text as stored,
    for a writer that copies them into its own JSON instead of decoding and encoding them again.
    """
    rows = session().execute(_ITEMS_QUERIES[stored_json], {"user_id": user.id})
    found = []
    for item_id, kind, archive, identifier, title, added, fetch, payload, *software in rows:
        item = {"id": item_id, "kind": kind, "archive": archive, "identifier": identifier, "title": title}
        item["added"] = added
        if kind == SOFTWARE:
            item["software"] = dict(zip(_SOFTWARE_FIELDS, software, strict=True)) if software[0] is not None else None
            item["fetch"], item["payload"] = ("{}", "{}") if stored_json else ({}, {})
        else:
            item["fetch"], item["payload"] = fetch, payload
        found.append(item)
    return found


def count(user: User) -> int:
    return session().scalar(select(func.count()).where(BasketItem.user_id == user.id))


def remove(user: User, ids: Iterable[int]) -> int:
    """Remove the user's items with these ids; returns how many there were (others' ids match nothing)."""
    ids = list(ids)
    if not ids:
        return 0
    result = session().execute(delete(BasketItem).where(BasketItem.user_id == user.id, BasketItem.id.in_(ids)))
    session().commit()
    return result.rowcount


def clear(user: User) -> int:
    result = session().execute(delete(BasketItem).where(BasketItem.user_id == user.id))
    session().commit()
    return result.rowcount


def as_dict(item: BasketItem) -> dict[str, Any]:
    """An item as the API, the exports and the notebook client see it."""
    common = {
        "id": item.id,
        "kind": item.kind,
        "archive": item.archive,
        "identifier": item.identifier,
        "title": item.title,
        "added": item.added,
    }
    if item.kind == SOFTWARE:
        software = item.software
        return {
            **common,
            "software": {
                "id": software.id,
                "name": software.name,
                "repository_url": software.repository_url,
                "ref": software.ref,
                "ui_type": software.ui_type,
                "doi": software.doi,
            }
            if software
            else None,
            "fetch": {},
            "payload": {},
        }
    return {**common, "fetch": item.fetch, "payload": item.payload}
