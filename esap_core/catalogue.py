"""The software catalogue: harvested records and users' own, cleaned on the way in, searched in full text.

One :func:`search` serves both databases: SQLite through the FTS5 table ``software_fts`` (kept in step by
triggers), PostgreSQL through the generated ``software_fts`` tsvector column; both made by migration 0005.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Float, Integer, Select, delete, exists, func, literal_column, or_, select, text
from sqlalchemy.exc import IntegrityError

from esap_core.accounts import session
from esap_core.hookspecs import SoftwareRecord, UIType
from esap_core.models import Software, User, now

PRIVATE_SOURCE = "private"  # the source name of users' own entries
UI_TYPES = tuple(ui.value for ui in UIType)
MAX_QUERY_CHARS = 500
MAX_TERMS = 12
MAX_DESCRIPTION = 20_000
MAX_LIST_ITEMS = 100
NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"

# The FTS5 columns in migration 0005's order, and their weights in bm25 (higher counts more).
_BM25_WEIGHTS = (10.0, 8.0, 4.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
_TERM = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class CatalogueError(ValueError):
    """A record or an entry that cannot go into the catalogue; the message says why."""


def compared_by_alembic(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name``: False for the full-text index objects that models cannot declare.

    Use it wherever the models are compared with the database (autogenerate, the schema test), so the
    FTS5 tables, the tsvector column and its index are not taken for leftovers to drop.
    """
    return "software_fts" not in (name or "")


# --- what goes in -----------------------------------------------------------------------


class _Text(HTMLParser):
    """HTML reduced to its text: no element, script, style or attribute survives."""

    BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr", "table"}
    HIDDEN = {"script", "style", "template", "iframe", "object", "noscript", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def plain_text(value: str, limit: int = MAX_DESCRIPTION) -> str:
    """A description as bounded plain text; HTML (from a source that sends it) loses its markup."""
    value = str(value or "")
    if re.search(r"<[a-zA-Z/!]", value):
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
        value = "\n\n".join(" ".join(block.split()) for block in re.split(r"\n\s*\n", value) if block.strip())
    value = _CONTROL.sub("", value).strip()
    return value if len(value) <= limit else value[: limit - 2].rstrip() + " …"


def _line(value: Any, limit: int) -> str:
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())[:limit]


def _url(value: Any) -> str:
    url = _line(value, 1000)
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.hostname else ""


def _strings(values: Iterable[Any] | str, limit: int = 200) -> list[str]:
    values = [values] if isinstance(values, str) else list(values or ())
    seen: dict[str, None] = {}
    for value in values[: MAX_LIST_ITEMS * 2]:
        cleaned = _line(value, limit)
        if cleaned and cleaned.lower() not in {s.lower() for s in seen}:
            seen[cleaned] = None
    return list(seen)[:MAX_LIST_ITEMS]


def _updated(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def external_id(value: Any) -> str:
    """A source's id for a record as the catalogue keeps it."""
    return _line(value, 255)


def record_values(record: SoftwareRecord) -> dict[str, Any]:
    """A source's record as checked, bounded column values; raises :class:`CatalogueError`."""
    if not isinstance(record, SoftwareRecord):
        raise CatalogueError(f"a source yielded {type(record).__name__}, not a SoftwareRecord")
    identifier = external_id(record.external_id)
    name = _line(record.name, 500)
    if not identifier or not name:
        raise CatalogueError("a software record needs an external id and a name")
    try:
        ui_type = UIType(str(record.ui_type).lower()).value
    except ValueError:
        raise CatalogueError(f"unknown UI type {str(record.ui_type)[:40]!r} (known: {', '.join(UI_TYPES)})") from None
    return {
        "external_id": identifier,
        "name": name,
        "description": plain_text(record.description),
        "repository_url": _url(record.repository_url),
        "ref": _line(record.ref, 255),
        "path": _line(record.path, 1000).lstrip("/"),
        "version": _line(record.version, 100),
        "doi": _line(record.doi, 255),
        "authors": _strings(record.authors),
        "keywords": _strings(record.keywords, 100),
        "runtime_platform": _line(record.runtime_platform, 255),
        "ui_type": ui_type,
        "licence": _line(record.licence, 255),
        "updated": _updated(record.updated),
    }


def fingerprint(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def upsert(source: str, record: SoftwareRecord) -> str:
    """Store a harvested (public) record: :data:`NEW`, :data:`UPDATED` or :data:`UNCHANGED` (by fingerprint)."""
    values = record_values(record)
    digest = fingerprint(values)
    try:
        return _store(source, values, digest)
    except IntegrityError:  # another harvest of this source stored it meanwhile (uq_software_public)
        session().rollback()
        return _store(source, values, digest)


def _store(source: str, values: dict[str, Any], digest: str) -> str:
    db = session()
    existing = db.scalar(
        select(Software).where(
            Software.source == source, Software.external_id == values["external_id"], Software.owner_id.is_(None)
        )
    )
    if existing is not None and existing.fingerprint == digest:
        return UNCHANGED
    if existing is None:
        db.add(Software(source=source, owner_id=None, fingerprint=digest, harvested=now(), **values))
    else:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.fingerprint, existing.harvested = digest, now()
    db.commit()
    return NEW if existing is None else UPDATED


def remove_missing(source: str, kept_ids: set[str]) -> int:
    """After a full harvest: remove the source's public records it no longer lists."""
    db = session()
    query = delete(Software).where(Software.source == source, Software.owner_id.is_(None))
    if kept_ids:
        query = query.where(Software.external_id.not_in(kept_ids))
    result = db.execute(query)
    db.commit()
    return result.rowcount


def count(source: str | None = None) -> int:
    query = select(func.count()).select_from(Software).where(Software.owner_id.is_(None))
    if source is not None:
        query = query.where(Software.source == source)
    return session().scalar(query)


# --- users' own entries -----------------------------------------------------------------------


def add_private(
    user: User,
    repository_url: str,
    name: str = "",
    ref: str = "",
    path: str = "",
    ui_type: str = "notebook",
    description: str = "",
) -> Software:
    """A user's own entry (a git repository), visible only to them; raises :class:`CatalogueError`."""
    url = _url(repository_url)
    if not url:
        raise CatalogueError("Give the repository as an http(s) URL, such as https://github.com/owner/name.")
    if ui_type not in UI_TYPES:
        raise CatalogueError(f"The UI type must be one of {', '.join(UI_TYPES)}.")
    ref, path = _line(ref, 255), _line(path, 1000).lstrip("/")
    values = record_values(
        SoftwareRecord(
            external_id=hashlib.sha256(f"{url}\n{ref}\n{path}".encode()).hexdigest()[:32],
            name=name.strip() or url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or url,
            description=description,
            repository_url=url,
            ref=ref,
            path=path,
            ui_type=UIType(ui_type),
        )
    )
    db = session()
    software = Software(source=PRIVATE_SOURCE, owner_id=user.id, fingerprint=fingerprint(values), **values)
    db.add(software)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise CatalogueError("You added this repository (with this ref and path) already.") from None
    return software


def remove_private(user: User, software_id: int) -> bool:
    result = session().execute(delete(Software).where(Software.id == software_id, Software.owner_id == user.id))
    session().commit()
    return result.rowcount > 0


# --- what comes out --------------------------------------------------------------------------


def visible(user: User | None):
    if user is None:
        return Software.owner_id.is_(None)
    return or_(Software.owner_id.is_(None), Software.owner_id == user.id)


def get(user: User | None, software_id: int) -> Software | None:
    """A record the user may see: public, or their own."""
    return session().scalar(select(Software).where(Software.id == software_id, visible(user)))


@dataclass(frozen=True)
class Query:
    """A catalogue search: free text and filters, all optional."""

    text: str = ""
    author: str = ""
    ui_type: str = ""
    runtime: str = ""
    keyword: str = ""
    source: str = ""
    page: int = 1
    page_size: int = 20

    def filters(self) -> dict[str, str]:
        """The filters in use, without the text (for links that keep them)."""
        values = asdict(self)
        return {k: v for k, v in values.items() if k not in ("text", "page", "page_size") and v}


@dataclass
class Results:
    records: list[Software]
    total: int
    page: int
    page_size: int
    terms: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def terms(text_: str) -> list[str]:
    """The words of a query: letters and digits only, lower case, at most :data:`MAX_TERMS`.

    Punctuation never reaches FTS5's or PostgreSQL's query syntax, so no query can be a syntax error.
    """
    found: dict[str, None] = {}
    for word in _TERM.findall(text_[:MAX_QUERY_CHARS].lower()):
        found.setdefault(word[:40], None)
    return list(found)[:MAX_TERMS]


def search(query: Query, user: User | None) -> Results:
    """One page of the records matching ``query`` that ``user`` may see: by relevance with text, else by name."""
    notes = []
    if len(query.text) > MAX_QUERY_CHARS:
        notes.append(f"Only the first {MAX_QUERY_CHARS} characters of your search were used.")
    words = terms(query.text)
    if query.text.strip() and not words:
        notes.append("Your search has no letters or digits, so it matches everything.")
    elif len(_TERM.findall(query.text[:MAX_QUERY_CHARS])) > MAX_TERMS:
        notes.append(f"Only the first {MAX_TERMS} words of your search were used.")
    page, page_size = max(1, query.page), min(max(1, query.page_size), 100)
    if words and not query.filters() and _dialect() == "sqlite":
        total, records = _text_only(words, user, page_size, (page - 1) * page_size)
        return Results(records, total, page, page_size, words, notes)
    base = select(Software).where(visible(user), *_filters(query))
    if words:
        base, order = _match(base, words)
    else:
        order = (func.lower(Software.name), Software.id)
    db = session()
    counted = select(func.count()).select_from(base.subquery())
    paged = base.order_by(*order).limit(page_size).offset((page - 1) * page_size)
    if not words and _dialect() == "sqlite":
        # Browsing by name reads every record SQLite sorts for the page: one pass counts them too. (Not
        # with words: the window keeps whole records of every match in the sort; nor on PostgreSQL,
        # which keeps only the page's rows in its sort, as a window would not let it.)
        rows = db.execute(paged.add_columns(func.count().over())).all()
        records, total = [row[0] for row in rows], (rows[0][1] if rows else db.scalar(counted))
    else:
        records, total = list(db.scalars(paged)), db.scalar(counted)
    return Results(records, total, page, page_size, words, notes)


def _dialect() -> str:
    return session().get_bind().dialect.name


def _text_only(words: Sequence[str], user: User | None, limit: int, offset: int) -> tuple[int, list[Software]]:
    """Words without filters on SQLite: the full-text index answers alone, without reading the records.

    The records a user may not see (others' private entries, few) are left out by id; only
    ids go through the ranking sort, and only a page of records is read. For a word in a fifth
    of 100,000 records this is half the time of joining every match to its record.
    """
    hidden = "SELECT id FROM software WHERE owner_id IS NOT NULL" + (" AND owner_id != :user" if user else "")
    where = f"software_fts MATCH :m AND rowid NOT IN ({hidden})"
    values = {"m": " ".join(f'"{word}"*' for word in words), **({"user": user.id} if user else {})}
    db = session()
    total = db.scalar(text(f"SELECT count(*) FROM software_fts WHERE {where}"), values)
    weights = ", ".join(str(weight) for weight in _BM25_WEIGHTS)
    ranked = f"SELECT rowid FROM software_fts WHERE {where} ORDER BY bm25(software_fts, {weights}), rowid"
    ids = list(db.scalars(text(f"{ranked} LIMIT :limit OFFSET :offset"), {**values, "limit": limit, "offset": offset}))
    found = {record.id: record for record in db.scalars(select(Software).where(Software.id.in_(ids)))}
    return total, [found[id_] for id_ in ids if id_ in found]


def analyse() -> None:
    """After a harvest: tell SQLite's query planner how the catalogue looks (PostgreSQL's autovacuum does this).

    Without statistics SQLite reads every public record through the owner index, about three
    times slower than reading the table, whenever a search has filters but no words.
    """
    if _dialect() == "sqlite":
        session().execute(text("ANALYZE software"))
        session().commit()


def _match(base: Select, words: Sequence[str]) -> tuple[Select, tuple]:
    if _dialect() == "postgresql":
        tsquery = func.to_tsquery(literal_column("'english'::regconfig"), " & ".join(f"{word}:*" for word in words))
        vector = literal_column("software.software_fts")
        return base.where(vector.op("@@")(tsquery)), (func.ts_rank(vector, tsquery).desc(), Software.id)
    weights = ", ".join(str(weight) for weight in _BM25_WEIGHTS)
    fts = (
        text(f"SELECT rowid AS id, bm25(software_fts, {weights}) AS rank FROM software_fts WHERE software_fts MATCH :m")
        .bindparams(m=" ".join(f'"{word}"*' for word in words))
        .columns(id=Integer, rank=Float)
        .subquery("fts")
    )
    return base.join(fts, fts.c.id == Software.id), (fts.c.rank, Software.id)


def json_items(column):
    """The elements of a JSON list column as a table with a ``value`` column, on either database."""
    function = func.json_array_elements_text if _dialect() == "postgresql" else func.json_each
    return function(column).table_valued("value")


def _filters(query: Query) -> list:
    clauses = []
    if query.ui_type:
        clauses.append(Software.ui_type == query.ui_type.lower())
    if query.source:
        clauses.append(Software.source == query.source)
    if query.runtime.strip():
        clauses.append(func.lower(Software.runtime_platform).contains(query.runtime.strip().lower(), autoescape=True))
    if query.author.strip():
        authors = json_items(Software.authors)
        wanted = query.author.strip().lower()[:200]
        clauses.append(
            exists().select_from(authors).where(func.lower(authors.c.value).contains(wanted, autoescape=True))
        )
    if query.keyword.strip():
        keywords = json_items(Software.keywords)
        clauses.append(
            exists().select_from(keywords).where(func.lower(keywords.c.value) == query.keyword.strip().lower()[:200])
        )
    return clauses


def sources(user: User | None) -> list[str]:
    """The sources with records the user may see, for the source filter."""
    return list(session().scalars(select(Software.source).where(visible(user)).distinct().order_by(Software.source)))


def as_dict(software: Software) -> dict[str, Any]:
    """A record as the API shows it."""
    return {
        "id": software.id,
        "source": software.source,
        "external_id": software.external_id,
        "private": software.owner_id is not None,
        "name": software.name,
        "description": software.description,
        "repository_url": software.repository_url,
        "ref": software.ref,
        "path": software.path,
        "version": software.version,
        "doi": software.doi,
        "authors": list(software.authors or []),
        "keywords": list(software.keywords or []),
        "runtime_platform": software.runtime_platform,
        "ui_type": software.ui_type,
        "licence": software.licence,
        "updated": software.updated,
        "harvested": software.harvested,
    }


def as_record(software: Software) -> SoftwareRecord:
    """A stored record back as the contract's type (for launches)."""
    try:
        ui_type = UIType(software.ui_type)
    except ValueError:
        ui_type = UIType.NOTEBOOK
    return SoftwareRecord(
        external_id=software.external_id,
        name=software.name,
        description=software.description,
        repository_url=software.repository_url,
        ref=software.ref,
        path=software.path,
        version=software.version,
        doi=software.doi,
        authors=tuple(software.authors or ()),
        keywords=tuple(software.keywords or ()),
        runtime_platform=software.runtime_platform,
        ui_type=ui_type,
        licence=software.licence,
        updated=software.updated,
    )
