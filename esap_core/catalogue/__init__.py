"""The software catalogue: harvested records and users' own, cleaned on the way in, searched in full text.

``cleaning`` checks what goes in, ``store`` keeps harvested records, ``entries`` holds each
researcher's own, ``search`` finds what a user may see, ``records`` gives the API's shape.
The rest of ESAP uses the names below.
"""

from esap_core.catalogue.cleaning import (
    MAX_DESCRIPTION,
    MAX_LIST_ITEMS,
    UI_TYPES,
    CatalogueError,
    external_id,
    plain_text,
    record_values,
)
from esap_core.catalogue.entries import PRIVATE_SOURCE, add_private, remove_private
from esap_core.catalogue.records import as_dict
from esap_core.catalogue.search import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    Query,
    Results,
    analyse,
    get,
    json_items,
    search,
    sources,
    terms,
    visible,
)
from esap_core.catalogue.store import NEW, UNCHANGED, UPDATED, count, fingerprint, remove_missing, upsert

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_LIST_ITEMS",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "NEW",
    "PRIVATE_SOURCE",
    "UI_TYPES",
    "UNCHANGED",
    "UPDATED",
    "CatalogueError",
    "Query",
    "Results",
    "add_private",
    "analyse",
    "as_dict",
    "count",
    "external_id",
    "fingerprint",
    "get",
    "json_items",
    "plain_text",
    "record_values",
    "remove_missing",
    "remove_private",
    "search",
    "sources",
    "terms",
    "upsert",
    "visible",
]
