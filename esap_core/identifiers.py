"""Basket identifiers built one way for every plugin: parts encoded, length bounded, never two rows merged."""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping

MAX_IDENTIFIER = 1000  # characters in a basket item's identifier (and its title)
# Left as they are in a part: legal in a URL's query (RFC 3986) and no delimiter of key=value&...,
# so identifiers such as ivo://authority/path?id keep the text they had. & = # % + ; are encoded.
SAFE = "/:@?!$'()*,"
HASH_MARK = "~sha256:"
HASH_LENGTH = 32  # hex characters of the SHA-256 of the whole identifier: 128 bits


def item_identifier(base: str, parts: Mapping[str, object] | None = None, *, separator: str = "?") -> str:
    """A basket identifier: ``base``, then ``separator`` and the ``parts`` as an encoded query string.

    Keys and values are percent-encoded (``&``, ``=``, ``#``, ``%``, ``+`` and ``;`` among others),
    so no value can pass for another part; plain values (letters, digits, ``-._~/:``...) keep their
    text. An identifier longer than :data:`MAX_IDENTIFIER` keeps a prefix and ends in ``~sha256:``
    and 32 hex digits of the SHA-256 of the whole identifier: at most MAX_IDENTIFIER characters,
    the same for the same row (re-adding it is still deduplicated), different for different rows.
    """
    whole = str(base)
    if parts:
        whole += separator + "&".join(f"{_encoded(key)}={_encoded(value)}" for key, value in parts.items())
    if len(whole) <= MAX_IDENTIFIER:
        return whole
    digest = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]
    prefix = whole[: MAX_IDENTIFIER - len(HASH_MARK) - HASH_LENGTH]
    escape = prefix.rfind("%", len(prefix) - 2)
    if escape != -1:  # do not cut a %XX escape in two
        prefix = prefix[:escape]
    return f"{prefix}{HASH_MARK}{digest}"


def _encoded(text: object) -> str:
    return urllib.parse.quote(str(text), safe=SAFE, errors="surrogatepass")
