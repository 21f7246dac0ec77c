"""Search a Simple Cone Search (SCS) service by position and radius."""

from __future__ import annotations

from typing import Any

from esap_core import ResultPage
from esap_vo import position
from esap_vo.failures import upstream
from esap_vo.results import overflow_as_note, result_page
from esap_vo.session import TimeoutSession


def cone_search(url: str, ra: Any, dec: Any, radius: Any, timeout: float, max_rows: int = 1000) -> ResultPage:
    """Sources within ``radius`` degrees of (ra, dec); ValueError for bad coordinates."""
    from pyvo.dal import SCSService

    where = position.cone(ra, dec, radius)
    with upstream(url, timeout), TimeoutSession(timeout) as session, overflow_as_note():
        results = SCSService(url, session=session).search((where.ra, where.dec), where.radius, maxrec=max_rows)
        return result_page(results, max_rows=max_rows)
