"""Software for the data: catalogue records whose keywords, runtime and UI type fit what is in a basket.

Simple and explainable: each data item gives facts (its archive, its format, its kind of product, how it
is fetched); each fact names words a fitting record has among its keywords. A suggestion shows why.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select

from esap_core import catalogue
from esap_core.accounts import session
from esap_core.models import BasketItem, Software, User

MAX_SUGGESTIONS = 5
MAX_CANDIDATES = 200

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
    found = []
    for key, value in FORMATS.items():
        by_extension = any(url.endswith(ext) or url.endswith(ext + ".gz") for ext, k in EXTENSIONS.items() if k == key)
        if by_extension or re.search(rf"\b{key}\b", text):
            found.append((key, value))
    return found


def for_basket(user: User, items: Iterable[BasketItem]) -> list[Suggestion]:
    """At most :data:`MAX_SUGGESTIONS` records that fit the data in ``items``, best first, each with its reasons."""
    items = list(items)
    counted = facts(items)
    if not counted:
        return []
    in_basket = {item.software_id for item in items if item.software_id}
    words = set().union(*(fact.words for fact in counted))
    keywords = catalogue.json_items(Software.keywords)
    candidates = session().scalars(
        select(Software)
        .where(
            catalogue.visible(user),
            exists().select_from(keywords).where(func.lower(keywords.c.value).in_(sorted(words))),
        )
        .order_by(Software.id)
        .limit(MAX_CANDIDATES)
    )
    suggestions = [_score(software, counted) for software in candidates if software.id not in in_basket]
    suggestions = [s for s in suggestions if s.score > 0]
    suggestions.sort(key=lambda s: (-s.score, s.software.name.lower()))
    return suggestions[:MAX_SUGGESTIONS]


def _score(software: Software, counted: Counter[Fact]) -> Suggestion:
    suggestion = Suggestion(software)
    keywords = {str(k).lower(): str(k) for k in software.keywords or []}
    for fact, items in counted.most_common():
        matched = sorted(keywords[word] for word in fact.words if word in keywords)
        if matched:
            suggestion.score += 10 + items
            quoted = ", ".join(f"“{word}”" for word in matched[:3])
            suggestion.reasons.append(f"{quoted} fits the {fact.label} in your basket ({_items(items)})")
    if suggestion.score and software.ui_type == "notebook":
        suggestion.score += 2
        suggestion.reasons.append("a notebook: the data can be staged into its session")
    if suggestion.score and "python" in software.runtime_platform.lower():
        suggestion.score += 1
        suggestion.reasons.append("runs Python, which reads the basket with esap-client")
    return suggestion


def _items(count: int) -> str:
    return f"{count} item" + ("" if count == 1 else "s")
