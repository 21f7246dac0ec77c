"""The admin pages: harvests of the software sources (run, follow live, schedule) and the git repositories."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from esap_core import catalogue, harvest
from esap_core.accounts import is_admin
from esap_core.auth import current_user, login_required
from esap_core.builtins import git_repositories
from esap_core.web.rendering import htmx, render

blueprint = Blueprint("admin", __name__)


def admin_required(view):
    @login_required
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not is_admin(current_user()):
            abort(403, "Only administrators may see this page.")
        return view(*args, **kwargs)

    return wrapper


def _row(name: str) -> dict:
    source = harvest.sources().get(name)
    if source is None:
        abort(404, f"There is no software source {name!r}.")
    state = harvest.last(name)
    live = harvest.progress(name)
    running = bool(live and live.get("status") in harvest.RUNNING)
    return {
        "name": name,
        "title": source.label,
        "plugin": current_app.extensions["esap.plugins"].owner("software source", name) or "",
        "records": catalogue.count(name),
        "last": state.get("last"),
        "every_hours": harvest.every_hours(name, state),
        "live": live if running else None,
    }


def _harvests_page(error: str = "", status: int = 200):
    context = {
        "rows": [_row(name) for name in harvest.sources()],
        "repositories": [(git_repositories.identifier(e), e) for e in git_repositories.stored()],
        "configured": getattr(harvest.sources().get(git_repositories.NAME), "configured", []),
        "error": error,
    }
    return render("admin_harvests.html", **context), status


@blueprint.get("/admin/harvests")
@admin_required
def harvests():
    return _harvests_page()


@blueprint.get("/admin/harvests/<name>/progress")
@admin_required
def progress(name: str):
    return render_template("_admin_harvest.html", row=_row(name))


@blueprint.post("/admin/harvests/<name>/run")
@admin_required
def run(name: str):
    _row(name)  # 404 for an unknown source
    error = ""
    try:
        harvest.start(name, full=request.form.get("full") == "1")
    except harvest.HarvestUnavailable as refused:
        error = str(refused)
    if htmx:
        return render_template("_admin_harvest.html", row=_row(name), error=error)
    return _harvests_page(error, 409) if error else redirect(url_for("admin.harvests"), 303)


@blueprint.post("/admin/harvests/<name>/schedule")
@admin_required
def schedule(name: str):
    _row(name)
    try:
        harvest.set_schedule(name, float(request.form.get("every_hours", "")))
    except ValueError:
        return _harvests_page("Give the interval in hours, from 0 (never by itself) to 8760.", 400)
    return redirect(url_for("admin.harvests"), 303)


@blueprint.post("/admin/git-repositories")
@admin_required
def add_repository():
    fields = ("url", "name", "ref", "path", "ui_type", "description", "keywords", "runtime_platform")
    entry = {key: request.form.get(key, "").strip() for key in fields}
    try:
        git_repositories.add(entry)
    except ValueError as error:
        return _harvests_page(f"The repository was not added: {error}", 400)
    harvest.run(git_repositories.NAME, full=True)  # nothing to fetch: the catalogue follows at once
    return redirect(url_for("admin.harvests"), 303)


@blueprint.post("/admin/git-repositories/<repository_id>/remove")
@admin_required
def remove_repository(repository_id: str):
    if not git_repositories.remove(repository_id):
        abort(404, "There is no such repository (it may have been removed already).")
    harvest.run(git_repositories.NAME, full=True)
    return redirect(url_for("admin.harvests"), 303)
