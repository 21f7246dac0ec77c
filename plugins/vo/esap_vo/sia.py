"""Search a Simple Image Access v2 (SIA2) service by position, radius, band and time."""

from __future__ import annotations

from typing import Any

from esap_core import ResultPage
from esap_vo import position
from esap_vo.failures import upstream
from esap_vo.results import overflow_as_note, result_page
from esap_vo.session import TimeoutSession


def interval(low: Any, high: Any, what: str, minimum: float, maximum: float) -> tuple[float, float]:
    """A checked (low, high) pair; ValueError when a bound is bad or low > high."""
    pair = (
        position.number(low, f"{what} lower bound", minimum, maximum),
        position.number(high, f"{what} upper bound", minimum, maximum),
    )
    if pair[0] > pair[1]:
        raise ValueError(f"{what}: the lower bound is above the upper bound")
    return pair


def image_search(
    url: str,
    ra: Any,
    dec: Any,
    radius: Any,
    timeout: float,
    band: tuple[Any, Any] | None = None,
    time: tuple[Any, Any] | None = None,
    max_rows: int = 1000,
) -> ResultPage:
    """Images within ``radius`` degrees of (ra, dec).

    ``band`` is a wavelength interval in metres, ``time`` an interval in MJD; both optional.
    Raises ValueError for bad input.
    """
    from pyvo.dal import SIA2Service

    where = position.cone(ra, dec, radius)
    constraints: dict[str, Any] = {"pos": (where.ra, where.dec, where.radius), "maxrec": max_rows}
    if band is not None:
        constraints["band"] = interval(*band, "band", 0.0, 1e3)
    if time is not None:
        from astropy.time import Time

        start, end = interval(*time, "time", -1e6, 1e6)
        constraints["time"] = (Time(start, format="mjd"), Time(end, format="mjd"))
    with upstream(url, timeout), TimeoutSession(timeout) as session, overflow_as_note():
        service = SIA2Service(url, session=session, check_baseurl=False)
        return result_page(service.search(**constraints), max_rows=max_rows)
