"""What comes out: records a user may see, found in full text.

One :func:`search` serves both databases: SQLite through the FTS5 table ``software_fts`` (kept in step by
triggers), PostgreSQL through the generated ``software_fts`` tsvector column; both made by migration 0005.
PostgreSQL also keeps ``software_head``, the name, keywords and authors alone (migration 0011).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import (
    Float,
    Integer,
    Select,
    bindparam,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
    text,
)

from esap_core.db import session
from esap_core.models import Software, User

MAX_QUERY_CHARS = 500
MAX_TERMS = 12
COUNTED = 1000  # matches counted and ranked; a broader search pages through this many (see search)
HEAD_COLUMNS = ("name", "keywords", "authors")  # a "strong" match has a word in one of these
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
    more: bool = False  # more records match than ``total`` (then COUNTED), the number the pages hold

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
    """One page of the records matching ``query`` that ``user`` may see: by relevance with text, else by name.

    Up to :data:`COUNTED` matches are counted and ranked (bm25 on SQLite, ``ts_rank`` on PostgreSQL).
    A broader search says so (``more``) and pages through :data:`COUNTED` of its matches: those
    with a word in the name, keywords or authors first, ranked on those fields, then the others in
    catalogue order. Ranking every match of a word in a fifth of 100,000 records cost 36 ms on
    SQLite and 174 ms on PostgreSQL (docs/performance.md); what this gives up is the order among
    matches in descriptions only, of searches so broad that relevance says little there.
    """
    notes = []
    if len(query.text) > MAX_QUERY_CHARS:
        notes.append(f"Only the first {MAX_QUERY_CHARS} characters of your search were used.")
    words = terms(query.text)
    if query.text.strip() and not words:
        notes.append("Your search has no letters or digits, so it matches everything.")
    elif len(_TERM.findall(query.text[:MAX_QUERY_CHARS])) > MAX_TERMS:
        notes.append(f"Only the first {MAX_TERMS} words of your search were used.")
    page, page_size = max(1, query.page), min(max(1, query.page_size), 100)
    if not words:
        return _browse(query, user, page, page_size, notes)
    matching = select(Software.id).where(visible(user), *_filters(query))
    match = _postgresql_match(words) if _dialect() == "postgresql" else _sqlite_match(words)
    db = session()
    found = list(db.scalars(match.every(matching).limit(COUNTED + 1)))  # ids only: ranking is dearer
    if len(found) <= COUNTED:
        ids = list(db.scalars(match.ranked(found).limit(page_size).offset((page - 1) * page_size)))
        return Results(_in_order(ids), len(found), page, page_size, words, notes)
    notes.append(
        f"More than {COUNTED:,} records match: these pages hold {COUNTED:,}, those with a word of your search "
        "in their name, keywords or authors first. Add a word or a filter to narrow them down."
    )
    page = min(page, -(-COUNTED // page_size))
    offset = (page - 1) * page_size
    wanted = min(page_size, COUNTED - offset)  # the last page ends at COUNTED
    strong = list(db.scalars(match.strong_ranked(matching).limit(offset + wanted)))
    ids = strong[offset:]
    if len(ids) < wanted:  # past the strong matches: the others, in catalogue order
        weak = match.weak(matching).limit(wanted - len(ids)).offset(max(0, offset - len(strong)))
        ids += db.scalars(weak)
    return Results(_in_order(ids), COUNTED, page, page_size, words, notes, more=True)


def _browse(query: Query, user: User | None, page: int, page_size: int, notes: list[str]) -> Results:
    """No words: the records passing the filters, by name."""
    base = select(Software).where(visible(user), *_filters(query))
    db = session()
    paged = base.order_by(func.lower(Software.name), Software.id).limit(page_size).offset((page - 1) * page_size)
    if _dialect() == "sqlite":
        # SQLite reads every record it sorts for the page: one pass counts them too (PostgreSQL keeps
        # only the page's rows in its sort, which a window would not let it).
        rows = db.execute(paged.add_columns(func.count().over())).all()
        records = [row[0] for row in rows]
        total = rows[0][1] if rows else db.scalar(select(func.count()).select_from(base.subquery()))
    else:
        records, total = list(db.scalars(paged)), db.scalar(select(func.count()).select_from(base.subquery()))
    return Results(records, total, page, page_size, [], notes)


def _dialect() -> str:
    return session().get_bind().dialect.name


def _in_order(ids: Sequence[int]) -> list[Software]:
    found = {record.id: record for record in session().scalars(select(Software).where(Software.id.in_(ids)))}
    return [found[id_] for id_ in ids if id_ in found]


@dataclass(frozen=True)
class _Match:
    """The words as each database matches them, applied to ``matching`` (the ids a user may see that pass
    the filters): every word somewhere; given ids of those, by relevance; the matches with a word in the
    head fields (name, keywords, authors), by relevance there; the others, in catalogue order."""

    every: Callable[[Select], Select]
    ranked: Callable[[Sequence[int]], Select]
    strong_ranked: Callable[[Select], Select]
    weak: Callable[[Select], Select]


def _sqlite_match(words: Sequence[str]) -> _Match:
    """FTS5 (migration 0005): prefix phrases, a column filter for the head fields, bm25 for ranking.

    Each query starts from the full-text index and joins the records to it: SQLite plans an
    ``id IN (matches)`` the other way round at times, one full-text lookup per record.
    """
    every = " ".join(f'"{word}"*' for word in words)
    head = "{" + " ".join(HEAD_COLUMNS) + "}: (" + " OR ".join(f'"{word}"*' for word in words) + ")"
    weights = ", ".join(str(weight) for weight in _BM25_WEIGHTS)

    def joined(matching: Select, name: str, expression: str, rank: bool = False):
        ranking = f", bm25(software_fts, {weights}) AS rank" if rank else ""
        found = text(f"SELECT rowid AS id{ranking} FROM software_fts WHERE software_fts MATCH :{name}")
        columns = {"id": Integer, **({"rank": Float} if rank else {})}
        fts = found.bindparams(**{name: expression}).columns(**columns).subquery(name)
        return matching.join(fts, fts.c.id == Software.id), fts

    def ranked(ids: Sequence[int]) -> Select:
        # "+rowid": the ids filter the full-text matches; as a constraint, SQLite would look each id up
        # in the index with the whole query again (seconds for a thousand ids).
        statement = text(
            "SELECT rowid FROM software_fts WHERE software_fts MATCH :every AND +rowid IN :ids "
            f"ORDER BY bm25(software_fts, {weights}), rowid"
        ).bindparams(bindparam("ids", list(ids), expanding=True), every=every)
        return select(statement.columns(rowid=Integer).subquery().c.rowid)

    def strong_ranked(matching: Select) -> Select:
        strong = head if len(words) == 1 else f"({every}) AND {head}"  # one word in the head is in the record
        query, fts = joined(matching, "strong", strong, rank=True)
        return query.order_by(fts.c.rank, Software.id)

    return _Match(
        every=lambda matching: joined(matching, "every", every)[0],
        ranked=ranked,
        strong_ranked=strong_ranked,
        weak=lambda matching: joined(matching, "weak", f"({every}) NOT {head}")[0].order_by(Software.id),
    )


def _postgresql_match(words: Sequence[str]) -> _Match:
    """The stored tsvectors: ``software_fts`` of every field (migration 0005), ``software_head`` (0011)."""

    def tsquery(operator: str):
        return func.to_tsquery(literal_column("'english'::regconfig"), operator.join(f"{word}:*" for word in words))

    vector, head = literal_column("software.software_fts"), literal_column("software.software_head")
    every, some = tsquery(" & "), tsquery(" | ")

    def strong_ranked(matching: Select) -> Select:
        strong = matching.where(head.op("@@")(some))
        if len(words) > 1:  # one word in the head is in the record: its whole vector need not be read
            strong = strong.where(vector.op("@@")(every))
        return strong.order_by(func.ts_rank(head, some).desc(), Software.id)

    def ranked(ids: Sequence[int]) -> Select:
        query = select(Software.id).where(Software.id.in_(list(ids)))
        return query.order_by(func.ts_rank(vector, every).desc(), Software.id)

    return _Match(
        every=lambda matching: matching.where(vector.op("@@")(every)),
        ranked=ranked,
        strong_ranked=strong_ranked,
        weak=lambda matching: matching.where(vector.op("@@")(every), not_(head.op("@@")(some))).order_by(Software.id),
    )


def analyse() -> None:
    """After a harvest: tell SQLite's query planner how the catalogue looks (PostgreSQL's autovacuum does this).

    Without statistics SQLite reads every public record through the owner index, about three
    times slower than reading the table, whenever a search has filters but no words.
    """
    if _dialect() == "sqlite":
        session().execute(text("ANALYZE software"))
        session().commit()


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
