"""The data pages: one form across all archives, each archive's own form, results, services and DIDs.

A module per family of pages (search, services, tap_jobs, dids), on one blueprint
(common). Pages reach an archive's extra functions through its capabilities
(esap_core.hookspecs): a :class:`ServiceRegistry` has services to query, a
:class:`DidCatalogue` DIDs to browse.
"""

from esap_core.web.data import dids, search, services, tap_jobs  # noqa: F401  (their routes)
from esap_core.web.data.common import blueprint

__all__ = ["blueprint"]
