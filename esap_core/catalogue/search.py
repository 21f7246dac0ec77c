"""What comes out: records a user may see, found in full text.

One :func:`search` serves both databases: SQLite through the FTS5 table ``software_fts`` (kept in step by
triggers), PostgreSQL through the generated ``software_fts`` tsvector column; both made by migration 0005.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import Float, Integer, Select, exists, func, literal_column, or_, select, text

from esap_core.db import session
from esap_core.models import Software, User

MAX_QUERY_CHARS = 500
MAX_TERMS = 12
# The FTS5 columns in migration 0005's order, and their weights in bm25 (higher counts more).
_BM25_WEIGHTS = (10.0, 8.0, 4.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
_TERM = re.compile(r"[^\W_]+")


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
