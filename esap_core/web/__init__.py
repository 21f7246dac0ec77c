"""The pages: layout conventions (a full page or an HTMX fragment at one URL) and the page blueprints."""

from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_htmx import HTMX

from esap_core import __version__

htmx = HTMX()

# The navigation; a section whose endpoint does not exist yet is shown dimmed.
SECTIONS = (
    ("Data", "data.search"),
    ("Software", "software.search"),
    ("Facilities", "facilities.index"),
    ("Basket", "basket.page"),
    ("Launches", "launches.index"),
    ("Plugins", "pages.plugins"),
    ("API docs", "api_docs.docs_page"),
)


def render(template: str, **context) -> str:
    """Render a page, or only its content block when HTMX asks for a fragment."""
    fragment = bool(htmx) and not htmx.boosted
    return render_template(template, fragment=fragment, **context)


def init_app(app: Flask) -> None:
    from esap_core.models import now
    from esap_core.web import admin, basket, data, facilities, launches, pages, profile, software

    htmx.init_app(app)
    app.jinja_env.globals["now"] = now
    for module in (pages, profile, basket, facilities, launches, data, software, admin):
        app.register_blueprint(module.blueprint)

    @app.context_processor
    def navigation():
        from esap_core import basket
        from esap_core.auth import current_user

        user = current_user()
        sections = [(label, endpoint if endpoint in app.view_functions else None) for label, endpoint in SECTIONS]
        return {
            "sections": sections,
            "esap_version": __version__,
            "current_user": user,
            "basket_count": (g.basket_count if "basket_count" in g else basket.count(user)) if user else 0,
            "local_mode": app.extensions["esap.config"].local_mode,
        }

    @app.after_request
    def vary_on_htmx(response):
        # The same URL answers a page or a fragment: caches must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response

    @app.template_filter("active")
    def active(endpoint: str | None) -> bool:
        return endpoint is not None and request.endpoint == endpoint
