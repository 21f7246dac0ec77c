"""The software pages: search the catalogue with filters, one page per record, and your own entries."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from esap_core import catalogue
from esap_core.accounts import is_admin
from esap_core.auth import current_user, login_required
from esap_core.web.rendering import htmx, render

blueprint = Blueprint("software", __name__)
PAGE_SIZE = 20
MAX_PAGE = 10_000  # as the API allows
RESULTS_ID = "software-results"


def _query(args) -> catalogue.Query:
    page = min(max(args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    return catalogue.Query(
        text=args.get("q", ""),
        author=args.get("author", "")[:200],
        ui_type=args.get("ui_type", "") if args.get("ui_type", "") in catalogue.UI_TYPES else "",
        runtime=args.get("runtime", "")[:200],
        keyword=args.get("keyword", "")[:200],
        source=args.get("source", "")[:100],
        page=min(max(page, 1), 10_000),
        page_size=PAGE_SIZE,
    )


def _source_titles() -> dict[str, str]:
    titles = {name: source.label for name, source in current_app.extensions["esap.plugins"].software_sources.items()}
    return {**titles, catalogue.PRIVATE_SOURCE: "Your own"}


@blueprint.get("/software")
def search():
    user = current_user()
    query = _query(request.args)
    results = catalogue.search(query, user)
    titles = _source_titles()
    context = {
        "query": query,
        "results": results,
        "ui_types": catalogue.UI_TYPES,
        "sources": [(name, titles.get(name, name)) for name in catalogue.sources(user)],
        "source_titles": titles,
        "is_admin": bool(user and is_admin(user)),
        "page_url": lambda number: url_for(
            "software.search", q=query.text[:500] or None, page=number, **query.filters()
        ),
    }
    if htmx and htmx.target == RESULTS_ID:
        return render_template("_software_results.html", **context)
    return render("software.html", **context)


@blueprint.get("/software/<int:software_id>")
def detail(software_id: int):
    software = catalogue.get(current_user(), software_id)
    if software is None:
        abort(404, "There is no such software in the catalogue (or it is somebody else's own entry).")
    return render("software_detail.html", software=software, source_titles=_source_titles())


@blueprint.get("/software/new")
@login_required
def new():
    return render("software_new.html", values={}, error="")


@blueprint.post("/software/new")
@login_required
def create():
    form = request.form
    values = {
        key: form.get(key, "").strip() for key in ("repository_url", "name", "ref", "path", "ui_type", "description")
    }
    try:
        software = catalogue.add_private(current_user(), **values)
    except catalogue.CatalogueError as error:
        return render("software_new.html", values=values, error=str(error)), 400
    return redirect(url_for("software.detail", software_id=software.id), 303)


@blueprint.post("/software/<int:software_id>/remove")
@login_required
def remove(software_id: int):
    if not catalogue.remove_private(current_user(), software_id):
        abort(404, "You have no such entry of your own.")
    return redirect(url_for("software.search", source=catalogue.PRIVATE_SOURCE), 303)
