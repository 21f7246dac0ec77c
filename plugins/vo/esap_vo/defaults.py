"""The VO plugin's public defaults: what a fresh ESAP asks when ``[plugins.vo]`` names nothing of its own.

Two real ObsCore services that answer a position or target search, the IVOA registry and CDS's
Sesame name resolver. None is registered when ESAP is offline (``ESAP_OFFLINE``); each is
replaced or switched off by its setting (``services = []``, ``registry_tap_url = ""``).
"""

from __future__ import annotations

REGISTRY = "https://reg.g-vo.org/tap"
NAME_RESOLVER = "https://cds.unistra.fr/cgi-bin/nph-sesame/-ox/SNV"
SERVICES = (
    {
        "name": "astron-vo",
        "title": "ASTRON VO",
        "description": "LOFAR, Apertif and WSRT observations at ASTRON, through its ObsCore table.",
        "tap_url": "https://vo.astron.nl/tap",
        "table": "ivoa.obscore",
    },
    {
        "name": "gavo-dc",
        "title": "GAVO Data Center",
        "description": "The German Astrophysical Virtual Observatory's data collections, through their ObsCore table.",
        "tap_url": "https://dc.g-vo.org/tap",
        "table": "ivoa.obscore",
    },
)
