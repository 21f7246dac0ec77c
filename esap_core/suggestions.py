"""Software for the data: catalogue records whose keywords, runtime and UI type fit what is in a basket.

Simple and explainable: each data item gives facts (its archive, its format, its kind of product, how it
is fetched); each fact names words a fitting record has among its keywords. A suggestion shows why.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import exists, func, select

from esap_core import catalogue
from esap_core.db import session
from esap_core.models import BasketItem, Software, User

MAX_SUGGESTIONS = 5
MAX_CANDIDATES = 200
REMEMBER_SECONDS = 60.0
REMEMBER_BASKETS = 1000  # per process

# A fact about the data → (how the reason names it, the keywords that fit it).
FORMATS = {
    "fits": ("FITS files", {"fits", "astropy", "ds9", "aladin", "image", "images", "imaging"}),
    "votable": ("VOTables", {"votable", "topcat", "table", "tables", "astropy", "pyvo"}),
    "csv": ("CSV tables", {"csv", "pandas", "table", "tables", "topcat"}),
    "hdf5": ("HDF5 files", {"hdf5", "h5py"}),
    "root": ("ROOT files", {"root", "uproot", "pyroot"}),
    "ms": ("measurement sets", {"casa", "measurement set", "radio", "interferometry"}),
}
METHODS = {
    "tap": ("table query results", {"tap", "adql", "votable", "topcat", "pyvo", "table", "tables"}),
    "datalink": ("DataLink services", {"datalink", "pyvo"}),
    "rucio": ("Rucio data", {"rucio", "data lake"}),
}
PRODUCTS = {
    "image": ("images", {"image", "images", "imaging", "fits", "ds9", "aladin"}),
    "cube": ("data cubes", {"cube", "data cube", "spectral cube", "cubes"}),
    "spectrum": ("spectra", {"spectrum", "spectra", "spectroscopy"}),
    "timeseries": ("time series", {"time series", "timeseries", "light curve", "lightcurve", "light curves"}),
    "event": ("event lists", {"event list", "events", "dl3", "gammapy"}),
}
EXTENSIONS = {
    ".fits": "fits",
    ".fit": "fits",
    ".fz": "fits",
    ".vot": "votable",
    ".xml": "votable",
    ".csv": "csv",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".root": "root",
    ".ms": "ms",
}
# Per format: the URL endings that say it, and the word that says it in a media type or format field.
_ENDINGS = {key: tuple(e + gz for e, k in EXTENSIONS.items() if k == key for gz in ("", ".gz")) for key in FORMATS}
_FORMAT_WORDS = {key: re.compile(rf"\b{key}\b") for key in FORMATS}


@dataclass(frozen=True)
class Fact:
    label: str  # "FITS files"
    words: frozenset[str]


@dataclass
class Suggestion:
    software: Software
    reasons: list[str] = field(default_factory=list)
    score: int = 0


def facts(items: Iterable[BasketItem]) -> Counter[Fact]:
    """What the data items are, with how many items each fact is true of."""
    found: Counter[Fact] = Counter()
    for item in items:
        if item.kind != "data":
            continue
        seen = set()
        payload = item.payload if isinstance(item.payload, dict) else {}
        fetch = item.fetch if isinstance(item.fetch, dict) else {}
        seen.add(Fact(f"data from {item.archive}", frozenset({item.archive.lower()})))
        for key, (label, words) in _formats(payload, fetch):
            seen.add(Fact(label, frozenset(words | {key})))
        method = str(fetch.get("method", "")).lower()
        if method in METHODS:
            label, words = METHODS[method]
            seen.add(Fact(label, frozenset(words)))
        product = str(payload.get("dataproduct_type") or payload.get("data_type") or "").lower().strip()
        for name, (label, words) in PRODUCTS.items():
            if product.startswith(name):
                seen.add(Fact(label, frozenset(words)))
        found.update(seen)
    return found


def _formats(payload: dict, fetch: dict) -> list[tuple[str, tuple[str, set[str]]]]:
    text = " ".join(
        str(payload.get(key, "")) for key in ("format", "content_type", "access_format", "mimetype")
    ).lower()
    url = str(fetch.get("url", "")).lower().split("?")[0]
    return [
        (key, value)
        for key, value in FORMATS.items()
        if url.endswith(_ENDINGS[key]) or (text and _FORMAT_WORDS[key].search(text))
    ]


def for_basket(user: User, items: Iterable[BasketItem]) -> list[Suggestion]:
    """At most :data:`MAX_SUGGESTIONS` records that fit the data in ``items``, best first, each with its reasons."""
    best = _remembered_ranking(user, list(items))
    if not best:
        return []
    # Whole records, read now: one deleted or made private since the ranking is not suggested.
    wanted = [id_ for id_, _, _ in best]
    records = {
        r.id: r for r in session().scalars(select(Software).where(Software.id.in_(wanted), catalogue.visible(user)))
    }
    return [Suggestion(records[id_], reasons, score) for id_, reasons, score in best if id_ in records]


def _remembered_ranking(user: User, items: list[BasketItem]) -> list[tuple[int, list[str], int]]:
    """:func:`rank`, remembered for :data:`REMEMBER_SECONDS` per basket (items never change, only come and go).

    The basket page is viewed far more often than the catalogue changes: a harvest shows in
    suggestions within a minute, and each view is spared a third of its time.
    """
    remembered = current_app.extensions.setdefault("esap.suggestions", {})
    key = (user.id, tuple(sorted(item.id for item in items)))
    hit = remembered.get(key)
    if hit is not None and time.monotonic() - hit[0] < REMEMBER_SECONDS:
        return hit[1]
    ranking = rank(user, items)
    if len(remembered) >= REMEMBER_BASKETS:
        remembered.clear()  # a crude bound, and a cheap one: the busy baskets come back at once
    remembered[key] = (time.monotonic(), ranking)
    return ranking


def rank(user: User, items: list[BasketItem]) -> list[tuple[int, list[str], int]]:
    """(record id, reasons, score) of the records that fit the data in ``items`` best, best first."""
    counted = facts(items)
    if not counted:
        return []
    in_basket = {item.software_id for item in items if item.software_id}
    words = set().union(*(fact.words for fact in counted))
    keywords = catalogue.json_items(Software.keywords)
    # Scored on the few columns that matter; whole records are read for the best only.
    candidates = session().execute(
        select(Software.id, Software.name, Software.keywords, Software.ui_type, Software.runtime_platform)
        .where(
            catalogue.visible(user),
            exists().select_from(keywords).where(func.lower(keywords.c.value).in_(sorted(words))),
        )
        .order_by(Software.id)
        .limit(MAX_CANDIDATES)
    )
    ranked = []
    for candidate in candidates:
        score, reasons = _score(candidate, counted)
        if score and candidate.id not in in_basket:
            ranked.append((-score, candidate.name.lower(), candidate.id, reasons))
    return [(id_, reasons, -negative) for negative, _, id_, reasons in sorted(ranked)[:MAX_SUGGESTIONS]]


def _score(software, counted: Counter[Fact]) -> tuple[int, list[str]]:
    """How well ``software`` (a row with its keywords, UI type and runtime platform) fits the facts, and why."""
    score, reasons = 0, []
    keywords = {str(k).lower(): str(k) for k in software.keywords or []}
    for fact, items in counted.most_common():
        matched = sorted(keywords[word] for word in fact.words if word in keywords)
        if matched:
            score += 10 + items
            quoted = ", ".join(f"“{word}”" for word in matched[:3])
            reasons.append(f"{quoted} fits the {fact.label} in your basket ({_items(items)})")
    if score and software.ui_type == "notebook":
        score += 2
        reasons.append("a notebook: the data can be staged into its session")
    if score and "python" in software.runtime_platform.lower():
        score += 1
        reasons.append("runs Python, which reads the basket with esap-client")
    return score, reasons


def _items(count: int) -> str:
    return f"{count} item" + ("" if count == 1 else "s")
