"""A sky plot of result rows, drawn here as an inline SVG: no script, no network, archive text escaped.

A small field (up to 15 degrees from its centre) is drawn on the tangent plane (gnomonic
projection) with north up and east to the left, as on the sky; a wider spread on a
Hammer-Aitoff map of the whole sky.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from esap_core.hookspecs import Column

WIDTH, HEIGHT, MARGIN = 480, 300, 24
MAX_POINTS = 2000
SMALL_FIELD = 15.0  # degrees from the centre: beyond it, the whole-sky map
RA_UCDS = ("pos.eq.ra", "pos_eq_ra")
DEC_UCDS = ("pos.eq.dec", "pos_eq_dec")
RA_NAMES = ("ra", "s_ra", "raj2000", "ra_icrs", "_raj2000", "ra_deg")
DEC_NAMES = ("dec", "s_dec", "dej2000", "de_icrs", "_dej2000", "dec_deg")
LABEL_NAMES = ("name", "obs_id", "target_name", "did", "main_id", "source_id", "id", "title")


def position_columns(columns: Sequence[Column]) -> tuple[str, str] | None:
    """The (RA, Dec) column names: by UCD (the main ones first), else by the usual names."""

    def by_ucd(prefixes: tuple[str, ...]) -> str | None:
        found = [c for c in columns if c.ucd.lower().startswith(prefixes)]
        main = [c for c in found if "meta.main" in c.ucd.lower() or c.ucd.lower().endswith("_main")]
        chosen = main or found
        return chosen[0].name if chosen else None

    def by_name(names: tuple[str, ...]) -> str | None:
        lowered = {c.name.lower(): c.name for c in columns}
        return next((lowered[name] for name in names if name in lowered), None)

    ra, dec = by_ucd(RA_UCDS) or by_name(RA_NAMES), by_ucd(DEC_UCDS) or by_name(DEC_NAMES)
    return (ra, dec) if ra and dec else None


def points(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """(ra, dec, label) of the rows with a usable position, at most MAX_POINTS."""
    found = position_columns(columns)
    if found is None:
        return []
    ra_name, dec_name = found
    names = {c.name for c in columns}
    label_name = next((name for name in LABEL_NAMES if name in names), None)
    result = []
    for row in rows:
        ra, dec = _degrees(row.get(ra_name)), _degrees(row.get(dec_name))
        if ra is None or dec is None or not -90 <= dec <= 90:
            continue
        label = str(row.get(label_name) or "") if label_name else ""
        result.append((ra % 360.0, dec, label[:200]))
        if len(result) >= MAX_POINTS:
            break
    return result


def _degrees(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _vector(ra: float, dec: float) -> tuple[float, float, float]:
    a, d = math.radians(ra), math.radians(dec)
    return math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)


def centre(plotted: Sequence[tuple[float, float, str]]) -> tuple[float, float]:
    """The mean direction of the points (RA, Dec in degrees)."""
    x, y, z = (sum(component) for component in zip(*(_vector(ra, dec) for ra, dec, _ in plotted), strict=True))
    norm = math.sqrt(x * x + y * y + z * z) or 1.0
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, z / norm))))


def separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    v, w = _vector(ra1, dec1), _vector(ra2, dec2)
    dot = max(-1.0, min(1.0, sum(a * b for a, b in zip(v, w, strict=True))))
    return math.degrees(math.acos(dot))


def gnomonic(ra: float, dec: float, ra0: float, dec0: float) -> tuple[float, float]:
    """Tangent-plane offsets (degrees) of (ra, dec) from the centre (ra0, dec0); east is +x."""
    a, d, a0, d0 = map(math.radians, (ra, dec, ra0, dec0))
    cos_c = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * math.cos(a - a0)
    x = math.cos(d) * math.sin(a - a0) / cos_c
    y = (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(a - a0)) / cos_c
    return math.degrees(x), math.degrees(y)


def hammer(ra: float, dec: float) -> tuple[float, float]:
    """Hammer-Aitoff coordinates in [-2√2, 2√2] × [-√2, √2], RA 180° in the middle, increasing to the left."""
    longitude = math.radians(180.0 - ra)
    latitude = math.radians(dec)
    scale = math.sqrt(1 + math.cos(latitude) * math.cos(longitude / 2))
    x = 2 * math.sqrt(2) * math.cos(latitude) * math.sin(longitude / 2) / scale
    y = math.sqrt(2) * math.sin(latitude) / scale
    return x, y


def svg(plotted: Sequence[tuple[float, float, str]], title: str = "") -> Markup:
    """The plot as inline SVG markup; empty when there is nothing to plot."""
    if not plotted:
        return Markup("")
    ra0, dec0 = centre(plotted)
    spread = max(separation(ra, dec, ra0, dec0) for ra, dec, _ in plotted)
    small = spread <= SMALL_FIELD
    body = _field(plotted, ra0, dec0, spread) if small else _whole_sky(plotted)
    what = f"{len(plotted)} position{'s' if len(plotted) != 1 else ''}"
    where = f"around RA {ra0:.4f}°, Dec {dec0:+.4f}°" if small else "on a map of the whole sky"
    description = f"Sky plot of {what} {where}" + (f" from {title}" if title else "")
    return Markup(
        f'<svg class="sky-plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(description)}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(description)}</title>{body}</svg>'
    )


def _circle(x: float, y: float, ra: float, dec: float, label: str) -> str:
    text = f"{label} (RA {ra:.5f}°, Dec {dec:+.5f}°)" if label else f"RA {ra:.5f}°, Dec {dec:+.5f}°"
    return f'<circle class="sky-point" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(text)}</title></circle>'


def _field(plotted: Sequence[tuple[float, float, str]], ra0: float, dec0: float, spread: float) -> str:
    offsets = [(gnomonic(ra, dec, ra0, dec0), ra, dec, label) for ra, dec, label in plotted]
    half = max(max(max(abs(x), abs(y)) for (x, y), *_ in offsets) * 1.1, 1 / 3600)
    scale = min(WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN) / (2 * half)
    cx, cy = WIDTH / 2, HEIGHT / 2
    parts = [
        f'<rect class="sky-frame" x="{cx - half * scale:.1f}" y="{cy - half * scale:.1f}"'
        f' width="{2 * half * scale:.1f}" height="{2 * half * scale:.1f}"/>',
        f'<line class="sky-grid" x1="{cx:.1f}" y1="{MARGIN}" x2="{cx:.1f}" y2="{HEIGHT - MARGIN}"/>',
        f'<line class="sky-grid" x1="{MARGIN}" y1="{cy:.1f}" x2="{WIDTH - MARGIN}" y2="{cy:.1f}"/>',
        f'<text class="sky-label" x="{cx:.1f}" y="{MARGIN - 6}" text-anchor="middle">N</text>',
        f'<text class="sky-label" x="{cx - half * scale - 4:.1f}" y="{cy + 4:.1f}" text-anchor="end">E</text>',
        f'<text class="sky-label" x="{MARGIN}" y="{HEIGHT - 6}">{2 * half:.3g}° across</text>',
    ]
    # East is to the left on the sky: x grows westwards on the page.
    parts += [_circle(cx - x * scale, cy - y * scale, ra, dec, label) for (x, y), ra, dec, label in offsets]
    return "".join(parts)


def _whole_sky(plotted: Sequence[tuple[float, float, str]]) -> str:
    scale = min((WIDTH - 2 * MARGIN) / (4 * math.sqrt(2)), (HEIGHT - 2 * MARGIN) / (2 * math.sqrt(2)))
    cx, cy = WIDTH / 2, HEIGHT / 2
    rx, ry = 2 * math.sqrt(2) * scale, math.sqrt(2) * scale
    parts = [f'<ellipse class="sky-frame" cx="{cx:.1f}" cy="{cy:.1f}" rx="{rx:.1f}" ry="{ry:.1f}"/>']
    for dec in (-60, -30, 0, 30, 60):
        line = [hammer(ra, dec) for ra in range(0, 361, 10)]
        parts.append(_polyline([(cx + x * scale, cy - y * scale) for x, y in line]))
    for ra in (60, 120, 180, 240, 300):
        line = [hammer(ra, dec) for dec in range(-90, 91, 10)]
        parts.append(_polyline([(cx + x * scale, cy - y * scale) for x, y in line]))
    parts.append(f'<text class="sky-label" x="{cx - rx:.1f}" y="{cy - 4:.1f}">360°</text>')
    parts.append(f'<text class="sky-label" x="{cx + rx:.1f}" y="{cy - 4:.1f}" text-anchor="end">0°</text>')
    for ra, dec, label in plotted:
        x, y = hammer(ra, dec)
        parts.append(_circle(cx + x * scale, cy - y * scale, ra, dec, label))
    return "".join(parts)


def _polyline(coordinates: Sequence[tuple[float, float]]) -> str:
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    return f'<polyline class="sky-grid" points="{text}"/>'
