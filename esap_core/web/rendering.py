"""How every page answers: the whole page, or only its content block when HTMX asks for a fragment at the same URL."""

from __future__ import annotations

from flask import render_template
from flask_htmx import HTMX

htmx = HTMX()


def render(template: str, **context) -> str:
    """Render a page, or only its content block when HTMX asks for a fragment."""
    fragment = bool(htmx) and not htmx.boosted
    return render_template(template, fragment=fragment, **context)
