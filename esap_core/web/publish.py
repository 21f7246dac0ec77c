"""The publish page: pick files of your workspace, review the metadata ESAP prefilled, publish with a DOI."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, make_response, redirect, request, url_for

from esap_core import publishing, workspace
from esap_core.auth import current_user, login_required
from esap_core.hookspecs import InvalidValues, PublishError, StorageError, detail_of
from esap_core.models import Launch
from esap_core.web.rendering import render

blueprint = Blueprint("publish", __name__)


def _source():
    try:
        return publishing.origin(current_user(), request.values.get("launch", ""), request.values.get("job", ""))
    except publishing.PublishProblem as problem:
        abort(problem.status, str(problem))


def _page(run, values: dict[str, Any], status: int = 200, **extra):
    user, folder = current_user(), request.values.get("folder", "")
    context: dict[str, Any] = {
        "run": run,
        "is_launch": isinstance(run, Launch),
        "publishers": publishing.publishers(),
        "tokens": {name: publishing.token(user, name) is not None for name in publishing.publishers()},
        "earlier": publishing.records_of(user),
        "values": values,
        "chosen": set(request.form.getlist("files")),
        "licences": publishing.LICENCES,
        "upload_types": publishing.UPLOAD_TYPES,
        "files": [],
        "folder": "",
        "workspace_error": "",
        **extra,
    }
    try:
        context["folder"] = workspace.clean_path(folder, folder=True)
        context["files"] = workspace.listing(user, context["folder"])
    except (workspace.WorkspaceError, StorageError) as error:
        context["workspace_error"] = str(error)
    return make_response(render("publish.html", **context), status)


@blueprint.get("/publish")
@login_required
def page():
    """The review form, prefilled from the launch or job (``?launch=`` or ``?job=``)."""
    run = _source()
    return _page(run, publishing.prefill(current_user(), run, publishing.run_url(run)))


@blueprint.post("/publish")
@login_required
def publish():
    run = _source()
    values = {name: request.form.get(name, "") for name in publishing.FORM_FIELDS}
    try:
        metadata = publishing.read_metadata(request.form)
        publishing.publish(
            current_user(),
            request.form.get("publisher", ""),
            metadata,
            request.form.getlist("files"),
            run,
            publishing.run_url(run),
            request.form.get("new_version_of", ""),
        )
    except InvalidValues as invalid:
        return _page(run, values, 400, problems=invalid.problems)
    except publishing.PublishProblem as problem:
        return _page(run, values, problem.status, error=str(problem))
    except PublishError as error:  # the repository refused or failed: its words, and nothing kept on our side
        return _page(run, values, 502, error=str(error), detail=detail_of(error))
    except StorageError as error:
        return _page(run, values, 502, error=str(error), detail=detail_of(error))
    target = url_for("launches.show" if isinstance(run, Launch) else "jobs.show", **_id(run))
    return redirect(target + "#publications", 303)


def _id(run) -> dict[str, str]:
    return {"launch_id": run.id} if isinstance(run, Launch) else {"job_id": run.id}
