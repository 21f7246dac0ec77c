"""The pages: layout conventions (a full page or an HTMX fragment at one URL) and the page blueprints."""

from __future__ import annotations

from flask import Flask, request

from esap_core import __version__
from esap_core.web.rendering import htmx

# The navigation: (label, endpoint), in the order of a researcher's work.
SECTIONS = (
    ("Data", "data.search"),
    ("Software", "software.search"),
    ("Facilities", "facilities.index"),
    ("Basket", "basket.page"),
    ("Workspace", "workspace.page"),
    ("Launches", "launches.index"),
    ("Jobs", "jobs.index"),
    ("Plugins", "pages.plugins"),
    ("API docs", "api_docs.docs_page"),
)


def init_app(app: Flask) -> None:
    from esap_core import facilities as facility_status
    from esap_core.models import now
    from esap_core.web import (
        admin,
        basket,
        data,
        facilities,
        jobs,
        launches,
        login,
        pages,
        profile,
        publish,
        samp,
        software,
        workspace,
    )
    from esap_core.workspace import human_size

    htmx.init_app(app)
    app.jinja_env.globals["now"] = now
    app.jinja_env.globals["busy_notice"] = facility_status.busy_notice
    app.jinja_env.globals["human_size"] = human_size
    app.jinja_env.globals["publications_of"] = _publications_of
    for module in (pages, login, profile, basket, workspace, facilities, launches, jobs, publish, data, software):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(admin.blueprint)
    samp.init_app(app)

    @app.context_processor
    def navigation():
        from esap_core.auth import current_user

        user = current_user()
        return {
            "sections": SECTIONS,
            "esap_version": __version__,
            "current_user": user,
            "basket_count": basket.navigation_count(user),
            "local_mode": app.extensions["esap.config"].local_mode,
        }

    @app.after_request
    def vary_on_htmx(response):
        # The same URL answers a page or a fragment: caches must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response

    @app.template_test("web_link")
    def web_link(value) -> bool:
        """Only http(s) URLs ever become links: archive and plugin data may hold javascript: and the like."""
        return isinstance(value, str) and value.lower().startswith(("http://", "https://"))

    @app.template_filter("active")
    def active(endpoint: str | None) -> bool:
        return endpoint is not None and request.endpoint == endpoint


def _publications_of(source) -> list:
    """The current user's records published from a launch or job (the launch and job pages list them)."""
    from esap_core import publishing
    from esap_core.auth import current_user

    return publishing.records_of(current_user(), source)
