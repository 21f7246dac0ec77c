"""Check positions and radii a researcher typed before they reach a query."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_RADIUS = 10.0  # degrees: a wider cone asks a service for a large part of the sky


@dataclass(frozen=True)
class Position:
    """A cone on the sky: centre (ICRS, degrees) and radius (degrees)."""

    ra: float
    dec: float
    radius: float


def number(value: Any, what: str, minimum: float, maximum: float) -> float:
    """``value`` as a finite float within [minimum, maximum]; ValueError saying what is wrong otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(result):
        raise ValueError(f"{what} must be a finite number")
    if not minimum <= result <= maximum:
        raise ValueError(f"{what} must be between {minimum:g} and {maximum:g}, not {result:g}")
    return result


def cone(ra: Any, dec: Any, radius: Any, max_radius: float = MAX_RADIUS) -> Position:
    """A checked cone; raises ValueError for non-numeric or out-of-range values."""
    return Position(
        ra=number(ra, "RA", 0.0, 360.0),
        dec=number(dec, "Dec", -90.0, 90.0),
        radius=number(radius, "radius", 0.0, max_radius),
    )
